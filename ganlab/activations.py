"""Hidden-layer activations, each with its derivative expressed through its *output*.

Every activation here has phi'(z) (and phi''(z)) computable from a = phi(z) alone, so a network
keeps only its layer outputs: no pre-activation buffers, fewer numpy calls per step.

All methods work in place on preallocated arrays; ``s`` is a :class:`Scratch` of the same shape
holding constant arrays, because numpy ufuncs on same-shape operands are several times cheaper
than on broadcast Python scalars at these sizes.
"""

from __future__ import annotations

import numpy as np

from .rawnp import putmask

LEAKY_SLOPE = 0.2  # the default leaky-ReLU slope c; a network may set its own
ELU_ALPHA = 1.0  # fixed: the in-place kernels below rely on alpha = 1


class Scratch:
    """Per-shape constants and temporaries used by the in-place activation kernels."""

    __slots__ = ("zeros", "ones", "slope", "tmp", "mask")

    def __init__(self, shape: tuple[int, ...], dtype=np.float64, slope: float = LEAKY_SLOPE):
        self.zeros = np.zeros(shape, dtype)
        self.ones = np.ones(shape, dtype)
        self.slope = np.full(shape, slope, dtype)
        self.tmp = np.empty(shape, dtype)
        self.mask = np.empty(shape, dtype=bool)


class Activation:
    """phi applied in place; ``grad`` multiplies a delta by phi'(z); ``second`` returns phi''(z)."""

    name = ""
    piecewise_linear = False  # phi'' = 0 wherever defined (lets the gradient penalty skip a pass)

    def forward(self, v: np.ndarray, s: Scratch) -> None:
        """v <- phi(v)."""
        raise NotImplementedError

    def grad(self, d: np.ndarray, a: np.ndarray, s: Scratch) -> None:
        """d <- d * phi'(z), where a = phi(z)."""
        raise NotImplementedError

    def second(self, a: np.ndarray) -> np.ndarray:
        """phi''(z) as a new array, where a = phi(z) (used by the gradient-penalty backward)."""
        raise NotImplementedError

    def __call__(self, z: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
        """Out-of-place phi(z), for tests and one-off evaluation."""
        v = np.array(z, dtype=float)
        self.forward(v, Scratch(v.shape, slope=slope))
        return v

    def derivative(self, z: np.ndarray, slope: float = LEAKY_SLOPE) -> np.ndarray:
        """Out-of-place phi'(z)."""
        a = self(z, slope)
        return self.derivative_from_output(a, Scratch(a.shape, a.dtype, slope))

    def derivative_from_output(self, a: np.ndarray, s: Scratch | None = None) -> np.ndarray:
        """Out-of-place phi'(z) given a = phi(z); ``s``, a Scratch of a's shape, saves allocating one."""
        d = np.ones_like(a)
        self.grad(d, a, s if s is not None else Scratch(a.shape, a.dtype))
        return d


class ReLU(Activation):
    """phi(z) = max(z, 0);  phi'(z) = [z > 0];  phi'' = 0."""

    name = "relu"
    piecewise_linear = True

    def forward(self, v, s):
        np.maximum(v, s.zeros, out=v)

    def grad(self, d, a, s):
        np.less_equal(a, s.zeros, out=s.mask)
        putmask(d, s.mask, 0.0)

    def second(self, a):
        return np.zeros_like(a)


class LeakyReLU(Activation):
    """phi(z) = z if z > 0 else c z, with 0 <= c < 1 (default 0.2, set per network through its
    Scratch);  phi'(z) = 1 if z > 0 else c;  phi'' = 0."""

    name = "leaky_relu"
    piecewise_linear = True

    def forward(self, v, s):
        np.multiply(v, s.slope, out=s.tmp)
        np.maximum(v, s.tmp, out=v)

    def grad(self, d, a, s):
        np.less_equal(a, s.zeros, out=s.mask)
        np.multiply(d, s.slope, out=s.tmp)
        putmask(d, s.mask, s.tmp)

    def second(self, a):
        return np.zeros_like(a)


class Tanh(Activation):
    """phi(z) = tanh z;  phi'(z) = 1 - a^2;  phi''(z) = -2 a (1 - a^2)."""

    name = "tanh"

    def forward(self, v, s):
        np.tanh(v, out=v)

    def grad(self, d, a, s):
        np.multiply(a, a, out=s.tmp)
        np.subtract(s.ones, s.tmp, out=s.tmp)
        np.multiply(d, s.tmp, out=d)

    def second(self, a):
        return -2.0 * a * (1.0 - a * a)


class ELU(Activation):
    """phi(z) = z if z > 0 else alpha (e^z - 1), alpha = 1;  phi'(z) = 1 if z > 0 else a + alpha;
    phi''(z) = 0 if z > 0 else a + alpha."""

    name = "elu"

    def forward(self, v, s):
        np.minimum(v, s.zeros, out=s.tmp)
        np.expm1(s.tmp, out=s.tmp)
        np.maximum(v, s.zeros, out=v)
        np.add(v, s.tmp, out=v)

    def grad(self, d, a, s):
        # a + alpha > alpha exactly when z > 0, so min(a + alpha, 1) is phi'(z) for alpha = 1.
        np.add(a, ELU_ALPHA, out=s.tmp)
        np.minimum(s.tmp, s.ones, out=s.tmp)
        np.multiply(d, s.tmp, out=d)

    def second(self, a):
        return np.where(a > 0, 0.0, a + ELU_ALPHA)


ACTIVATIONS: dict[str, Activation] = {a.name: a for a in (ReLU(), LeakyReLU(), Tanh(), ELU())}
