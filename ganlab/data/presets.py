"""GAN Lab's four presets, with its exact formulas (N standard normal, u uniform on [0, 1)).

Their ``preset`` carries GAN Lab's per-dataset hyperparameters. GAN Lab's "L layers" builds L + 1
hidden layers, hence ``layers = L + 1`` below.
"""

from __future__ import annotations

import numpy as np

from .registry import Distribution, register


def _ganlab_preset(noise, g, d, lr_d, lr_g, k_d, k_g) -> dict:
    return {
        "noise": noise,
        "noise_dim": 2,
        "generator": {"layers": g[0] + 1, "units": g[1]},
        "discriminator": {"layers": d[0] + 1, "units": d[1]},
        "d_optimizer": {"kind": "sgd", "lr": lr_d},
        "g_optimizer": {"kind": "sgd", "lr": lr_g},
        "k_d": k_d,
        "k_g": k_g,
    }


def line(rng, n, params):
    """x = 0.8 - 0.75 u + 0.01 N,  y = 0.6 + 0.3 u + 0.01 N."""
    u = rng.random(n)
    e = rng.standard_normal((2, n))
    return np.column_stack([0.8 - 0.75 * u + 0.01 * e[0], 0.6 + 0.3 * u + 0.01 * e[1]])


GAUSSIANS_MEANS = np.array([[0.3, 0.7], [0.7, 0.4]])
GAUSSIANS_SDS = np.array([[0.1, 0.1], [0.05, 0.2]])


def gaussians(rng, n, params):
    """p = 0.5: N((0.3, 0.7), sd (0.1, 0.1)); else N((0.7, 0.4), sd (0.05, 0.2))."""
    k = (rng.random(n) >= 0.5).astype(np.intp)
    out = rng.standard_normal((n, 2))
    out *= GAUSSIANS_SDS.take(k, axis=0)  # take(): fancy indexing costs 10x more here
    out += GAUSSIANS_MEANS.take(k, axis=0)
    return out


def ring(rng, n, params):
    """x = 0.5 + 0.3 cos(2 pi u) + 0.025 N,  y = 0.45 + 0.25 sin(2 pi u) + 0.025 N (an ellipse)."""
    u = rng.random(n)
    e = rng.standard_normal((2, n))
    t = 2 * np.pi * u
    return np.column_stack([0.5 + 0.3 * np.cos(t) + 0.025 * e[0], 0.45 + 0.25 * np.sin(t) + 0.025 * e[1]])


DISJOINT_CENTRES = np.array([[0.35, 0.75], [0.75, 0.6], [0.45, 0.35]])


def disjoint(rng, n, params):
    """Three equally likely clusters, sd 0.025, at (0.35, 0.75), (0.75, 0.6), (0.45, 0.35)."""
    k = rng.integers(0, 3, n)
    return DISJOINT_CENTRES[k] + 0.025 * rng.standard_normal((n, 2))


register(Distribution(
    "line", "Line", "A thin line segment: the simplest shape, learned in a few hundred epochs.",
    line, _ganlab_preset("uniform", (1, 5), (1, 6), 0.03, 0.01, 2, 1),
))
register(Distribution(
    "gaussians", "Two Gaussians",
    "GAN Lab's default: a round and an elongated Gaussian blob of equal weight.",
    gaussians, _ganlab_preset("gaussian", (1, 8), (1, 8), 0.1, 0.03, 2, 1),
    modes=lambda p: (GAUSSIANS_MEANS.copy(), GAUSSIANS_SDS.copy()),
))
register(Distribution(
    "ring", "Ring", "A noisy ellipse: G must bend a sheet of noise into a closed loop.",
    ring, _ganlab_preset("uniform", (1, 10), (2, 9), 0.1, 0.03, 3, 1),
))
register(Distribution(
    "disjoint", "Three clusters",
    "Three small separate clusters: a continuous G must tear its noise apart (mode collapse risk).",
    disjoint, _ganlab_preset("gaussian", (2, 10), (2, 11), 0.1, 0.03, 1, 1),
    modes=lambda p: (DISJOINT_CENTRES.copy(), np.full((3, 2), 0.025)),
))
