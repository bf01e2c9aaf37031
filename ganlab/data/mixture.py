"""Gaussian mixtures: the sampler shared by the benchmark presets and the editable ``mixture``.

A mixture is sum_k w_k N(mu_k, Sigma_k) with weights w_k >= 0 summing to 1 (normalised here), means
mu_k in [0, 1]^2 and covariances Sigma_k, given per axis (sds (s_x, s_y):
Sigma = diag(s_x^2, s_y^2))
or in full (2 x 2, symmetric positive definite). A sample picks k with probability w_k, then
x = mu_k + L_k e with e ~ N(0, I) and L_k the Cholesky factor of Sigma_k.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .gaussian import diag_chol, sample_mixture
from .registry import DataError, Distribution, register

MAX_COMPONENTS = 100
# The narrowest spread: 1e-4 of the unit square is far below a pixel of any view; narrower ones
# (1e-200 passes "> 0") square to 0 and turn mode coverage's 1 / s^2 into infinities.
MIN_SD = 1e-4
# What ``mixture`` with no params gives: three blobs of unequal weight and shape.
DEFAULT_MIXTURE: dict[str, Any] = {
    "weights": [0.5, 0.25, 0.25],
    "means": [[0.3, 0.3], [0.7, 0.3], [0.5, 0.72]],
    "covs": [
        [[0.004, 0.0], [0.0, 0.004]],
        [[0.002, 0.0015], [0.0015, 0.002]],
        [[0.006, 0.0], [0.0, 0.001]],
    ],
}


def _array(params: dict, key: str, shape_tail: tuple[int, ...], k: int | None) -> np.ndarray:
    try:
        a = np.asarray(params[key], dtype=float)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond the float range
        raise DataError(f"mixture {key} must be numbers") from None
    want = (k if k is not None else -1, *shape_tail)
    if a.ndim != len(want) or a.shape[1:] != shape_tail or (k is not None and a.shape[0] != k):
        shown = " x ".join("k" if d == -1 else str(d) for d in want)
        raise DataError(f"mixture {key} must have shape {shown} (k = {k or 'components'}), got "
                        f"{' x '.join(map(str, a.shape)) or 'a scalar'}")
    if not np.isfinite(a).all():
        raise DataError(f"mixture {key} must be finite numbers")
    return a


def check_mixture(params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{"means": [[x, y], ...], "weights"?: [...], "sds"?: [[sx, sy], ...] | "covs"?:
    [[[a, b], [b, c]], ...]}``; returns normalised params (weights summing to 1, ``sds`` or
    ``covs`` filled in). Default weights equal, default sds 0.05."""
    unknown = set(params) - {"means", "weights", "sds", "covs"}
    if unknown:
        raise DataError(f"mixture takes means, weights, sds or covs; unknown {sorted(unknown)}")
    if not params:
        params = DEFAULT_MIXTURE
    if "means" not in params:
        raise DataError("mixture needs means: a list of [x, y] component centres")
    means = _array(params, "means", (2,), None)
    k = len(means)
    if not 1 <= k <= MAX_COMPONENTS:
        raise DataError(f"mixture needs 1..{MAX_COMPONENTS} components, got {k}")
    if ((means < 0) | (means > 1)).any():
        raise DataError("mixture means must lie in the unit square [0, 1]^2")
    w = _array(params, "weights", (), k) if "weights" in params else np.full(k, 1.0 / k)
    if (w < 0).any() or w.sum() <= 0:
        raise DataError("mixture weights must be >= 0 with a positive sum")
    out: dict[str, Any] = {"means": means.tolist(), "weights": (w / w.sum()).tolist()}
    if "sds" in params and "covs" in params:
        raise DataError("mixture takes sds (per axis) or covs (full 2 x 2), not both")
    if "covs" in params:
        c = _array(params, "covs", (2, 2), k)
        if not np.allclose(c, c.transpose(0, 2, 1)):
            raise DataError("mixture covs must be symmetric 2 x 2 matrices")
        det = c[:, 0, 0] * c[:, 1, 1] - c[:, 0, 1] ** 2
        if (c[:, 0, 0] <= 0).any() or (det <= 0).any():
            raise DataError("mixture covs must be positive definite (variances > 0, det > 0)")
        var = c[:, [0, 1], [0, 1]]
        if (var > 1).any() or (var < MIN_SD ** 2).any():
            raise DataError(f"mixture variances must be in [{MIN_SD ** 2:g}, 1]")
        out["covs"] = c.tolist()
    else:
        sds = _array(params, "sds", (2,), k) if "sds" in params else np.full((k, 2), 0.05)
        if (sds < MIN_SD).any() or (sds > 1).any():
            raise DataError(f"mixture sds must be in [{MIN_SD:g}, 1]")
        out["sds"] = sds.tolist()
    return out


def mixture_chol(params: dict[str, Any]) -> np.ndarray:
    """Cholesky factors (k, 2, 2) of checked params."""
    if "covs" in params:
        return np.linalg.cholesky(np.asarray(params["covs"], dtype=float))
    return diag_chol(np.asarray(params["sds"], dtype=float))


def mixture(rng, n, params):
    """sum_k w_k N(mu_k, Sigma_k) from checked params (see :func:`check_mixture`)."""
    return sample_mixture(rng, n, np.asarray(params["weights"]), np.asarray(params["means"]),
                          mixture_chol(params))


def mixture_modes(params):
    """(means, per-axis sds): with full covariances, sd_i = sqrt(Sigma_ii)."""
    means = np.asarray(params["means"], dtype=float)
    if "covs" in params:
        c = np.asarray(params["covs"], dtype=float)
        return means, np.sqrt(c[:, [0, 1], [0, 1]])
    return means, np.asarray(params["sds"], dtype=float)


register(Distribution(
    "mixture", "Gaussian mixture",
    "Your own mixture of Gaussians: edit weights, centres and spreads (per axis or full).",
    mixture,
    {
        "loss": "nonsaturating", "noise": "normal", "init": "he", "k_d": 1, "k_g": 1,
        "generator": {"layers": 3, "units": 32}, "discriminator": {"layers": 3, "units": 32},
        "d_optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.5},
        "g_optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.5},
    },
    check=check_mixture, modes=mixture_modes,
))
