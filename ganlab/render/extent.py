"""Which part of data space a rendered view shows: the page's rule (static/extent.js), so a
rendered frame frames the samples as the page would. The unit square holds the real data; the
view widens to a square (edges snapped to QUANTUM, MARGIN around the outermost fake) holding it
and every finite fake within +-LIMIT. :class:`AutoExtent` adds the page's hysteresis for
animations, counted in frames instead of milliseconds, so the frame does not jump about."""

from __future__ import annotations

import math

import numpy as np

UNIT = (0.0, 0.0, 1.0, 1.0)
MARGIN = 0.04
HEADROOM = 0.1
SHRINK_BELOW = 0.7
SHRINK_FRAMES = 3
QUANTUM = 0.05
LIMIT = 100.0


def _same(a, b) -> bool:
    return all(abs(x - y) < 1e-9 for x, y in zip(a, b, strict=True))


def _contains(a, b) -> bool:
    return a[0] <= b[0] + 1e-9 and a[1] <= b[1] + 1e-9 and a[2] >= b[2] - 1e-9 and a[3] >= b[3] - 1e-9


def needed_extent(points: np.ndarray, grow: float = 0.0) -> tuple[float, float, float, float]:
    """The smallest square (x0, y0, x1, y1) holding the unit square and every finite point within
    +-LIMIT, widened by MARGIN (and ``grow``) of its side each way and snapped outward to
    QUANTUM; the unit square itself when every point lies in it (static/extent.js neededExtent)."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    p = np.clip(p[np.isfinite(p).all(axis=1)], -LIMIT, LIMIT)
    if len(p) == 0:
        return UNIT
    x0, y0 = min(0.0, p[:, 0].min()), min(0.0, p[:, 1].min())
    x1, y1 = max(1.0, p[:, 0].max()), max(1.0, p[:, 1].max())
    if (x0, y0, x1, y1) == UNIT:
        return UNIT
    s = max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN + grow)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2

    def snap(v: float, up: bool) -> float:
        q = math.ceil(v / QUANTUM - 1e-9) if up else math.floor(v / QUANTUM + 1e-9)
        return max(-LIMIT, min(LIMIT, q * QUANTUM))

    e = [snap(cx - s / 2, False), snap(cy - s / 2, False), snap(cx + s / 2, True), snap(cy + s / 2, True)]
    w, h = e[2] - e[0], e[3] - e[1]
    if w > h:
        e[1] -= (w - h) / 2
        e[3] += (w - h) / 2
    else:
        e[0] -= (h - w) / 2
        e[2] += (h - w) / 2
    x0, y0, x1, y1 = (max(-LIMIT, min(LIMIT, round(v, 6))) for v in e)
    return (x0, y0, x1, y1)


class AutoExtent:
    """The page's hysteresis: grow at once (with HEADROOM), shrink only after the fakes have
    needed less than SHRINK_BELOW of the side for SHRINK_FRAMES frames in a row."""

    def __init__(self) -> None:
        self.target = UNIT
        self._small = 0

    def update(self, points: np.ndarray) -> tuple[float, float, float, float]:
        need = needed_extent(points)
        side = self.target[2] - self.target[0]
        if not _contains(self.target, need):
            self.target = need if _same(need, UNIT) else needed_extent(points, HEADROOM)
            self._small = 0
        elif (need[2] - need[0]) < SHRINK_BELOW * side or (_same(need, UNIT) and not _same(self.target, UNIT)):
            self._small += 1
            if self._small >= SHRINK_FRAMES:
                self.target, self._small = need, 0
        else:
            self._small = 0
        return self.target
