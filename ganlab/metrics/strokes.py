"""How well samples follow drawn strokes (data "drawn"): closeness and coverage, in data units.

Strokes are polylines p_0 ... p_m in the unit square (a one-point stroke is a dot). For a point x,

    dist(x) = min over all segments [a, b] of || x - (a + t (b - a)) ||,  t = clip(<x - a, b - a> / |b - a|^2, 0, 1)

- ``near_share(x, strokes, r)``  = mean_i [dist(x_i) <= r]: the share of samples within r of a stroke;
- ``stroke_coverage(x, strokes, r)`` = for each stroke, the share of its LENGTH that has a sample
  within r, i.e. (1/L) integral over the stroke of [min_i ||s - x_i|| <= r] ds, evaluated at
  points spaced ``step`` along it (a dot: 1 if a sample lies within r, else 0).

A perfect generator of drawn data with spread sigma reads the real samples' own ``near_share``
(about 87% at sigma = 0.02, r = 0.03, away from stroke ends and crossings) and coverage ~ 1.
"""

from __future__ import annotations

import numpy as np

from .precision_recall import sqdist


def _segments(stroke) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(stroke, dtype=float).reshape(-1, 2)
    if len(p) == 1:
        return p, np.zeros((1, 2))
    return p[:-1], np.diff(p, axis=0)


def distance_to_strokes(points: np.ndarray, strokes: list) -> np.ndarray:
    """dist(x) (n,) as in the module doc: distance from each point to the nearest segment of any
    stroke (non-finite points get +inf)."""
    x = np.asarray(points, dtype=float).reshape(-1, 2)
    a, v = map(np.concatenate, zip(*(_segments(s) for s in strokes), strict=True))
    vv = (v * v).sum(axis=1)
    d = np.full(len(x), np.inf)
    ok = np.isfinite(x).all(axis=1)
    xo = x[ok]
    for i in range(0, len(a), 256):  # (n, 256) blocks keep the memory small for long drawings
        aa, vb, vvb = a[i:i + 256], v[i:i + 256], vv[i:i + 256]
        rel_x = xo[:, None, 0] - aa[None, :, 0]
        rel_y = xo[:, None, 1] - aa[None, :, 1]
        t = np.where(vvb > 0, (rel_x * vb[:, 0] + rel_y * vb[:, 1]) / np.where(vvb > 0, vvb, 1), 0.0)
        np.clip(t, 0.0, 1.0, out=t)
        dx, dy = rel_x - t * vb[:, 0], rel_y - t * vb[:, 1]
        d[ok] = np.minimum(d[ok], np.sqrt((dx * dx + dy * dy).min(axis=1)))
    return d


def near_share(points: np.ndarray, strokes: list, radius: float = 0.03) -> float:
    """Share of the points within ``radius`` of a stroke (module doc)."""
    return float((distance_to_strokes(points, strokes) <= radius).mean())


def resample(stroke, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(positions (k, 2), arc-length weights (k,)) of points every ``step`` along a stroke: the
    midpoints of equal pieces of each segment, weighted by the piece's length."""
    a, v = _segments(stroke)
    length = np.hypot(v[:, 0], v[:, 1])
    if length.sum() == 0:
        return a[:1], np.ones(1)
    pos, w = [], []
    for ai, vi, li in zip(a, v, length, strict=True):
        if li == 0:
            continue
        k = max(1, int(np.ceil(li / step)))
        t = (np.arange(k) + 0.5) / k
        pos.append(ai + t[:, None] * vi)
        w.append(np.full(k, li / k))
    return np.concatenate(pos), np.concatenate(w)


def stroke_coverage(points: np.ndarray, strokes: list, radius: float = 0.03,
                    step: float = 0.002) -> list[float]:
    """For each stroke, the share of its length with a point within ``radius`` (module doc)."""
    x = np.asarray(points, dtype=float).reshape(-1, 2)
    x = x[np.isfinite(x).all(axis=1)]
    out = []
    for s in strokes:
        pos, w = resample(s, step)
        if len(x) == 0:
            out.append(0.0)
            continue
        near = (sqdist(pos, x) <= radius * radius).any(axis=1)
        out.append(float(w[near].sum() / w.sum()))
    return out
