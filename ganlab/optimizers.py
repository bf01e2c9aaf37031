"""First-order optimizers on one flat parameter vector (PyTorch's update conventions).

Hyperparameters are read from the live config on every step, so a learning rate or beta can change
between any two updates while the state (momentum buffer, Adam moments, step count) is kept.
Only a change of optimizer *kind* builds a new optimizer with fresh state.

Learning-rate decay (the numpy MNIST tutorial's): the step made after t earlier steps of this
optimizer uses lr_t = lr / (1 + decay * t); decay 0 is the constant rate.
"""

from __future__ import annotations

import math

import numpy as np


class Optimizer:
    kind = ""
    state_names: tuple[str, ...] = ()

    def __init__(self, size: int, hp, dtype: str | np.dtype = "float64"):
        self.hp = hp  # a live OptimizerConfig; replaced by configure()
        self.t = 0
        self.tmp = np.empty(size, dtype)
        for name in self.state_names:
            setattr(self, name, np.zeros(size, dtype))

    def configure(self, hp) -> None:
        """Take new hyperparameters; the optimizer state is kept."""
        self.hp = hp

    def step(self, p: np.ndarray, g: np.ndarray) -> None:
        """p <- p - update(g); advances the step count."""
        raise NotImplementedError

    def lr(self) -> float:
        """lr_t = lr / (1 + decay * t), called after the step count is advanced (t = self.t - 1
        earlier steps)."""
        hp = self.hp
        return hp.lr / (1.0 + hp.decay * (self.t - 1)) if hp.decay else hp.lr

    def state(self, arrays: bool = False) -> dict:
        """The state as JSON-ready lists, or with ``arrays`` as copies of the numpy vectors."""
        get = (lambda a: a.copy()) if arrays else (lambda a: a.tolist())
        return {"kind": self.kind, "t": self.t, **{n: get(getattr(self, n)) for n in self.state_names}}

    def load_state(self, st: dict) -> None:
        self.t = int(st["t"])
        for n in self.state_names:
            getattr(self, n)[:] = st[n]


class SGD(Optimizer):
    """p <- p - lr g."""

    kind = "sgd"

    def step(self, p, g):
        self.t += 1
        np.multiply(g, self.lr(), out=self.tmp)
        np.subtract(p, self.tmp, out=p)


class Momentum(Optimizer):
    """v <- mu v + g;  p <- p - lr v, or with Nesterov p <- p - lr (g + mu v)."""

    kind = "momentum"
    state_names = ("v",)

    def step(self, p, g):
        self.t += 1
        hp, v, tmp = self.hp, self.v, self.tmp
        np.multiply(v, hp.momentum, out=v)
        np.add(v, g, out=v)
        if hp.nesterov:
            np.multiply(v, hp.momentum, out=tmp)
            np.add(tmp, g, out=tmp)
            np.multiply(tmp, self.lr(), out=tmp)
        else:
            np.multiply(v, self.lr(), out=tmp)
        np.subtract(p, tmp, out=p)


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr / (1 - b1^t) * m / (sqrt(v / (1 - b2^t)) + eps)."""

    kind = "adam"
    state_names = ("m", "v")

    def __init__(self, size, hp, dtype="float64"):
        super().__init__(size, hp, dtype)
        self.tmp2 = np.empty(size, dtype)

    def step(self, p, g):
        self.t += 1
        hp, m, v, tmp, tmp2 = self.hp, self.m, self.v, self.tmp, self.tmp2
        b1, b2 = hp.beta1, hp.beta2
        np.multiply(m, b1, out=m)
        np.multiply(g, 1.0 - b1, out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, b2, out=v)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, 1.0 - b2, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)
        np.multiply(tmp, 1.0 / math.sqrt(1.0 - b2**self.t), out=tmp)
        np.add(tmp, hp.eps, out=tmp)
        np.divide(m, tmp, out=tmp2)
        np.multiply(tmp2, self.lr() / (1.0 - b1**self.t), out=tmp2)
        np.subtract(p, tmp2, out=p)


class RMSprop(Optimizer):
    """v <- rho v + (1 - rho) g^2;  p <- p - lr g / (sqrt(v) + eps)."""

    kind = "rmsprop"
    state_names = ("v",)

    def __init__(self, size, hp, dtype="float64"):
        super().__init__(size, hp, dtype)
        self.tmp2 = np.empty(size, dtype)

    def step(self, p, g):
        self.t += 1
        hp, v, tmp = self.hp, self.v, self.tmp
        np.multiply(v, hp.rho, out=v)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, 1.0 - hp.rho, out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=tmp)
        np.add(tmp, hp.eps, out=tmp)
        np.divide(g, tmp, out=self.tmp2)
        np.multiply(self.tmp2, self.lr(), out=self.tmp2)
        np.subtract(p, self.tmp2, out=p)


OPTIMIZERS: dict[str, type[Optimizer]] = {o.kind: o for o in (SGD, Momentum, Adam, RMSprop)}


def make_optimizer(size: int, hp, dtype: str | np.dtype = "float64") -> Optimizer:
    return OPTIMIZERS[hp.kind](size, hp, dtype)
