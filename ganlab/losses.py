"""GAN objectives as a registry: switching loss is a dictionary lookup.

The discriminator outputs a logit l (no sigmoid inside the network). Each loss gives the value and
the gradient with respect to the logits, for D (on a batch of real then fake logits) and for G (on
fake logits). Sigmoids are computed as sigma(l) = (1 + tanh(l / 2)) / 2 and log-sigmoids as
-softplus(-l) with softplus(t) = max(t, 0) + log1p(exp(-|t|)): no log(0), no overflow at |l| = 1000.

One-sided label smoothing (Salimans et al. 2016) replaces D's real target 1 by 1 - s for the losses
that have a target (the log losses and LSGAN; ``smoothing`` says which): fakes keep target 0.
The Wasserstein and hinge losses have no target label, and the config refuses s > 0 with them.

Gradient kernels write into ``out`` and use constant arrays cached per batch shape, because numpy
calls with same-shape operands are several times cheaper than with broadcast scalars.
"""

from __future__ import annotations

import numpy as np


def softplus(t: np.ndarray) -> np.ndarray:
    """log(1 + e^t), stable for any finite t: max(t, 0) + log1p(exp(-|t|)), in two buffers."""
    a = np.abs(t)
    np.negative(a, out=a)
    np.exp(a, out=a)
    np.log1p(a, out=a)
    return np.add(np.maximum(t, 0.0), a, out=a)


def sigmoid(t: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-t) = 0.5 + 0.5 tanh(t / 2), stable for any t; float64, in one buffer."""
    x = np.asarray(t, dtype=float)
    y = np.multiply(x, 0.5, out=np.empty(x.shape))
    np.tanh(y, out=y)
    np.multiply(y, 0.5, out=y)
    np.add(y, 0.5, out=y)
    return y if y.ndim else y[()]


def mean(x: np.ndarray):
    """``np.mean(x)`` of a 1D array, bit for bit (the same sum, divided as np.mean divides), without
    its Python wrapper: ~3 us less a call, and a frame's loss values take three to five."""
    total = np.add.reduce(x)
    return total.dtype.type(total / np.intp(x.size))


class Loss:
    """One GAN objective. ``d_*`` see logits l = [l_real (nr) | l_fake]; ``g_*`` see l_fake."""

    name = ""
    label = ""
    description = ""
    gradient_penalty = False  # D's loss adds weight * mean(|grad_x D(x_hat)| - 1)^2 (WGAN-GP)
    smoothing = False  # has a real target that one-sided label smoothing can move to 1 - s
    clips_weights = False  # D's parameters are clipped to [-c, c] after each update (WGAN)

    def __init__(self) -> None:
        self._cache: dict[tuple, tuple[np.ndarray, ...]] = {}

    def d_value(self, lr: np.ndarray, lf: np.ndarray, smooth: float = 0.0) -> float:
        raise NotImplementedError

    def g_value(self, lf: np.ndarray) -> float:
        raise NotImplementedError

    def d_grad(self, l: np.ndarray, nr: int, out: np.ndarray, smooth: float = 0.0) -> None:
        raise NotImplementedError

    def g_grad(self, l: np.ndarray, out: np.ndarray) -> None:
        raise NotImplementedError

    def prob(self, l: np.ndarray) -> np.ndarray:
        """What the page shows as "D(x)" in [0, 1]: a monotone squash of the logit."""
        return sigmoid(l)

    def _consts(self, key: tuple, make) -> tuple[np.ndarray, ...]:
        c = self._cache.get(key)
        if c is None:
            if len(self._cache) > 32:
                self._cache.clear()
            c = self._cache[key] = make()
        return c


def _split_const(n: int, nr: int, real: float, fake: float) -> np.ndarray:
    c = np.full((1, n), fake)
    c[0, :nr] = real
    return c


class _SigmoidAffine(Loss):
    """Gradients of the form a * sigma(l) + b = (a/2) tanh(l/2) + (a/2 + b), per column."""

    def _affine(self, l, out, A, C, half):
        np.multiply(l, half, out=out)
        np.tanh(out, out=out)
        np.multiply(out, A, out=out)
        np.add(out, C, out=out)


class LogLoss(_SigmoidAffine):
    """L_D = -w mean [(1 - s) log sigma(l_r) + s log(1 - sigma(l_r))] - mean log(1 - sigma(l_f)),
    s the label smoothing (0: the plain cross-entropy).

    Non-saturating G: L_G = -mean log sigma(l_f).   Saturating (minimax) G: L_G = mean log(1 - sigma(l_f)).
    dL_D/dl_r = w (sigma(l_r) - (1 - s)) / n_r,  dL_D/dl_f = sigma(l_f) / n_f,
    dL_G/dl_f = (sigma(l_f) - 1) / n  (non-saturating)  or  -sigma(l_f) / n  (minimax).
    """

    def __init__(self, name, label, description, real_weight=1.0, saturating=False):
        super().__init__()
        self.name, self.label, self.description = name, label, description
        self.w = real_weight
        self.saturating = saturating
        self.smoothing = True

    def d_value(self, lr, lf, smooth=0.0):
        real = softplus(-lr)
        if smooth:
            real = (1.0 - smooth) * real + smooth * softplus(lr)
        return float(self.w * mean(real) + mean(softplus(lf)))

    def g_value(self, lf):
        if self.saturating:
            return float(-mean(softplus(lf)))
        return float(mean(softplus(-lf)))

    def d_grad(self, l, nr, out, smooth=0.0):
        key = (l.shape[1], nr, l.dtype.char, smooth)
        c = self._cache.get(key) or self._consts(key, lambda: self._d_consts(*key))
        self._affine(l, out, *c)

    def g_grad(self, l, out):
        key = (l.shape[1], l.dtype.char)
        c = self._cache.get(key) or self._consts(key, lambda: self._g_consts(*key))
        self._affine(l, out, *c)

    def _d_consts(self, n, nr, dt, smooth):
        a = _split_const(n, nr, self.w / nr, 1.0 / max(n - nr, 1))
        b = _split_const(n, nr, -self.w * (1.0 - smooth) / nr, 0.0)
        return tuple(c.astype(dt) for c in (a * 0.5, a * 0.5 + b, np.full((1, n), 0.5)))

    def _g_consts(self, n, dt):
        a = -1.0 / n if self.saturating else 1.0 / n
        b = 0.0 if self.saturating else -1.0 / n
        return tuple(np.full((1, n), v, dt) for v in (a / 2, a / 2 + b, 0.5))


class LeastSquares(Loss):
    """LSGAN (Mao et al. 2017) on the raw output:  L_D = mean (l_r - (1 - s))^2 + mean l_f^2,
    L_G = mean (l_f - 1)^2, s the label smoothing.  (GAN Lab applies the same formula to
    sigmoid(l) instead.)"""

    name = "lsgan"
    label = "Least squares (LSGAN)"
    description = "Squared distance of D's output to 1 for real and 0 for fake; G pulls fakes to 1."
    smoothing = True

    def d_value(self, lr, lf, smooth=0.0):
        return float(mean((lr - (1.0 - smooth)) ** 2) + mean(lf**2))

    def g_value(self, lf):
        return float(mean((lf - 1.0) ** 2))

    def d_grad(self, l, nr, out, smooth=0.0):
        n = l.shape[1]

        def make():
            a = _split_const(n, nr, 2.0 / nr, 2.0 / max(n - nr, 1))
            return a, _split_const(n, nr, 2.0 * (1.0 - smooth) / nr, 0.0)

        a, b = self._consts(("d", n, nr, smooth), make)
        np.multiply(l, a, out=out)
        np.subtract(out, b, out=out)

    def g_grad(self, l, out):
        n = l.shape[1]
        (a,) = self._consts(("g", n), lambda: (np.full((1, n), 2.0 / n),))
        np.multiply(l, a, out=out)
        np.subtract(out, a, out=out)

    def prob(self, l):
        return np.clip(l, 0.0, 1.0)


class Wasserstein(Loss):
    """WGAN critic: L_D = mean l_f - mean l_r,  L_G = -mean l_f.
    Lipschitz constraint by weight clipping (``wgan``) or by a gradient penalty (``wgan-gp``)."""

    def __init__(self, name, label, description, penalty: bool):
        super().__init__()
        self.name, self.label, self.description = name, label, description
        self.gradient_penalty = penalty
        self.clips_weights = not penalty

    def d_value(self, lr, lf, smooth=0.0):
        return float(mean(lf) - mean(lr))

    def g_value(self, lf):
        return float(-mean(lf))

    def d_grad(self, l, nr, out, smooth=0.0):
        n = l.shape[1]
        (c,) = self._consts(("d", n, nr), lambda: (_split_const(n, nr, -1.0 / nr, 1.0 / (n - nr)),))
        np.copyto(out, c)

    def g_grad(self, l, out):
        n = l.shape[1]
        (c,) = self._consts(("g", n), lambda: (np.full((1, n), -1.0 / n),))
        np.copyto(out, c)


class Hinge(Loss):
    """L_D = mean relu(1 - l_r) + mean relu(1 + l_f),  L_G = -mean l_f  (Lim & Ye 2017)."""

    name = "hinge"
    label = "Hinge"
    description = "Margin loss of SAGAN/BigGAN: D stops pushing once a point is 1 past the margin."

    def d_value(self, lr, lf, smooth=0.0):
        return float(mean(np.maximum(1.0 - lr, 0.0)) + mean(np.maximum(1.0 + lf, 0.0)))

    def g_value(self, lf):
        return float(-mean(lf))

    def d_grad(self, l, nr, out, smooth=0.0):
        n = l.shape[1]
        nf = max(n - nr, 1)
        # dL/dl_r = -[l_r < 1]/n_r,  dL/dl_f = [l_f > -1]/n_f
        out[0, :nr] = (l[0, :nr] < 1.0) * (-1.0 / nr)
        out[0, nr:] = (l[0, nr:] > -1.0) * (1.0 / nf)

    def g_grad(self, l, out):
        n = l.shape[1]
        (c,) = self._consts(("g", n), lambda: (np.full((1, n), -1.0 / n),))
        np.copyto(out, c)


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        LogLoss(
            "nonsaturating", "Log loss, non-saturating G",
            "Cross-entropy for D; G maximises log D(G(z)) (Goodfellow et al. 2014, the usual choice).",
        ),
        LogLoss(
            "minimax", "Log loss, minimax G",
            "The original two-player game: G minimises log(1 - D(G(z))), which saturates early.",
            saturating=True,
        ),
        LogLoss(
            "ganlab_log", "GAN Lab log loss (0.95 on real)",
            "GAN Lab's 'Log' loss: non-saturating, with the real term of D's loss scaled by 0.95.",
            real_weight=0.95,
        ),
        LeastSquares(),
        Wasserstein(
            "wgan", "Wasserstein, weight clipping",
            "WGAN (Arjovsky et al. 2017): critic weights clipped to [-c, c] after each update.",
            penalty=False,
        ),
        Wasserstein(
            "wgan-gp", "Wasserstein, gradient penalty",
            "WGAN-GP (Gulrajani et al. 2017): penalises |grad D| != 1 on real-fake interpolates.",
            penalty=True,
        ),
        Hinge(),
    )
}
