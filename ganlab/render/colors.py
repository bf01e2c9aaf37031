"""The page's colours (static/dataview.js ``COLORS`` and ``heatColor``), as RGB tuples and arrays."""

from __future__ import annotations

import numpy as np

REAL = (0, 136, 55)
FAKE = (123, 50, 148)
FAKE_FILL = (163, 62, 189)
GRAD = (196, 20, 219)  # dD/dx arrows
G_GRAD = (230, 120, 20)  # -d l_G/dx arrows
NEUTRAL = (247, 247, 247)
INK = (40, 40, 40)
HEAT_STRENGTH = 0.62


def heat_colors(d: np.ndarray, strength: float = HEAT_STRENGTH) -> np.ndarray:
    """D in [0, 1] (any shape) -> uint8 RGB (..., 3): c = n + (e - n) s with n the neutral grey,
    e purple below 1/2 and green above, s = 2 |d - 1/2| strength (non-finite d reads 1/2)."""
    t = np.clip(np.nan_to_num(np.asarray(d, dtype=float), nan=0.5), 0.0, 1.0)
    n = np.array(NEUTRAL, float)
    end = np.where((t < 0.5)[..., None], np.array(FAKE, float), np.array(REAL, float))
    s = (np.abs(t - 0.5) * 2 * strength)[..., None]
    return np.rint(n + (end - n) * s).astype(np.uint8)


def rgba(c: tuple[int, int, int], a: float) -> tuple[int, int, int, int]:
    return (*c, int(round(255 * a)))
