"""Shapes that are hard for a GAN for other reasons than mode count: a spiral (a long thin curve),
two moons (two interlocking arcs) and a checkerboard (sharp edges, disconnected cells).

u ~ U[0, 1), N ~ N(0, 1); all shapes sit inside [0.1, 0.9]^2 (up to noise).
"""

from __future__ import annotations

import numpy as np

from .registry import Distribution, register

SPIRAL_TURNS = 2.0


def spiral(rng, n, params):
    """t = 2 pi T sqrt(u) (T = 2 turns; sqrt makes density ~ uniform in arc length),
    r = 0.05 + 0.33 t / (2 pi T);  x = 0.5 + r cos t + 0.008 N,  y = 0.5 + r sin t + 0.008 N."""
    tmax = 2 * np.pi * SPIRAL_TURNS
    t = tmax * np.sqrt(rng.random(n))
    r = 0.05 + 0.33 * t / tmax
    e = rng.standard_normal((2, n))
    return np.column_stack([0.5 + r * np.cos(t) + 0.008 * e[0], 0.5 + r * np.sin(t) + 0.008 * e[1]])


MOONS_SCALE = 0.8 / 3.0


def moons(rng, n, params):
    """Two moons (as scikit-learn's make_moons), each with probability 1/2, a = pi u:
    upper (cos a, sin a), lower (1 - cos a, 0.5 - sin a); then mapped by
    p -> (0.1, 0.5) + (p - (-1, 0.25)) * 0.8/3 into [0.1, 0.9] x [0.3, 0.7], plus 0.015 N."""
    a = np.pi * rng.random(n)
    upper = rng.random(n) < 0.5
    x = np.where(upper, np.cos(a), 1.0 - np.cos(a))
    y = np.where(upper, np.sin(a), 0.5 - np.sin(a))
    e = rng.standard_normal((2, n))
    return np.column_stack([0.1 + (x + 1.0) * MOONS_SCALE + 0.015 * e[0],
                            0.5 + (y - 0.25) * MOONS_SCALE + 0.015 * e[1]])


CHECKER_CELLS = 4
_cells = np.array([(i, j) for j in range(CHECKER_CELLS) for i in range(CHECKER_CELLS) if (i + j) % 2 == 0])


def checkerboard(rng, n, params):
    """Uniform on the 8 dark cells (i + j even) of a 4 x 4 board over [0.1, 0.9]^2:
    cell (i, j) = [0.1 + 0.2 i, 0.3 + 0.2 i) x [0.1 + 0.2 j, 0.3 + 0.2 j)."""
    c = _cells[rng.integers(0, len(_cells), n)]
    return 0.1 + 0.2 * (c + rng.random((n, 2)))


_ADAM = {
    "loss": "nonsaturating",
    "noise": "normal",
    "init": "he",
    "k_d": 1,
    "k_g": 1,
    "d_optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.5},
    "g_optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.5},
}


def _preset(layers: int, units: int, **extra) -> dict:
    return {**_ADAM, "generator": {"layers": layers, "units": units},
            "discriminator": {"layers": layers, "units": units}, **extra}


register(Distribution(
    "spiral", "Spiral",
    "A thin two-turn spiral: G must stretch its noise into one long curve.",
    spiral, _preset(3, 32),
))
register(Distribution(
    "moons", "Two moons",
    "Two interlocking half circles: close together, yet not connected.",
    moons, _preset(3, 32),
))
register(Distribution(
    "checkerboard", "Checkerboard",
    "Eight squares touching only at corners: sharp edges and a disconnected support.",
    checkerboard, _preset(3, 64),
))
