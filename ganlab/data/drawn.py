"""Distributions a user makes: strokes drawn on the page (``drawn``) and an uploaded point set
(``points``).

Drawn strokes are polylines p_0, p_1, ..., p_m in [0, 1]^2. A sample picks a segment [p_i, p_{i+1}]
with probability proportional to its length, a uniform point on it, and adds N(0, spread^2) per
axis: the density is uniform in arc length, however fast the mouse moved (GAN Lab instead picks a
recorded mouse event, so slow strokes weigh more). A single-point stroke (or one of zero length)
is a dot, weighted like a stroke of length ``DOT_LENGTH``.

An uploaded point set is sampled as rows with replacement plus N(0, spread^2) per axis.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import DataError, Distribution, register

MAX_DRAWN_POINTS = 10_000
MAX_POINTS = 100_000
MAX_SPREAD = 0.2
DOT_LENGTH = 0.02  # a dot weighs like a stroke of 8 px on GAN Lab's 400 px canvas


def as_points(value: Any, what: str, limit: int, inside: bool = True) -> np.ndarray:
    """``value`` as a finite (n, 2) float array with 1 <= n <= limit (inside [0, 1]^2 if
    ``inside``), or a DataError saying what is wrong and where."""
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond the float range
        raise DataError(f"{what} must be a list of [x, y] pairs of numbers") from None
    if a.size == 0:
        raise DataError(f"{what} is empty")
    if a.ndim != 2 or a.shape[1] != 2:
        raise DataError(f"{what} must be a list of [x, y] pairs, got shape {a.shape}")
    if len(a) > limit:
        raise DataError(f"{what} has {len(a)} points; at most {limit} are allowed")
    bad = ~np.isfinite(a).all(axis=1)
    if bad.any():
        raise DataError(f"{what}: point {int(bad.argmax())} is not finite ({a[bad.argmax()].tolist()})")
    if inside:
        out = ((a < 0) | (a > 1)).any(axis=1)
        if out.any():
            i = int(out.argmax())
            raise DataError(f"{what}: point {i} {a[i].tolist()} is outside the unit square [0, 1]^2")
    return a


def _spread(params: dict) -> float:
    s = params.get("spread", 0.02)
    # The comparison also refuses NaN, inf and integers beyond the float range.
    if isinstance(s, bool) or not isinstance(s, int | float) or not 0 <= s <= MAX_SPREAD:
        raise DataError(f"spread must be a number in [0, {MAX_SPREAD}], got {s!r}")
    return float(s)


def check_drawn(params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{"strokes": [[[x, y], ...], ...], "spread": 0.02}`` (at most 10,000 points in
    all, inside [0, 1]^2). ``{"points": [[x, y], ...]}`` is also accepted: each point a dot."""
    unknown = set(params) - {"strokes", "points", "spread"}
    if unknown:
        raise DataError(f"drawn data takes strokes and spread; unknown {sorted(unknown)}")
    spread = _spread(params)
    if "points" in params and "strokes" not in params:
        pts = as_points(params["points"], "drawn points", MAX_DRAWN_POINTS)
        return check_drawn({"strokes": [[p] for p in pts.tolist()], "spread": spread})
    strokes = params.get("strokes")
    if not isinstance(strokes, list | tuple) or not strokes:
        raise DataError("drawn data needs strokes: a non-empty list of strokes, each a list of [x, y]")
    total, out = 0, []
    for i, s in enumerate(strokes):
        if isinstance(s, list | tuple) and len(s) == 0:
            continue  # an empty stroke (a click that recorded nothing) is harmless
        try:
            n = len(s)
        except TypeError:
            raise DataError(f"drawn stroke {i} must be a list of [x, y] points") from None
        total += n
        if total > MAX_DRAWN_POINTS:
            raise DataError(f"drawn strokes have more than {MAX_DRAWN_POINTS} points in all; "
                            "draw less or clear the canvas")
        out.append(as_points(s, f"drawn stroke {i}", MAX_DRAWN_POINTS).tolist())
    if not out:
        raise DataError("drawn strokes are all empty")
    # The segments are computed once here: the sampler runs for every batch and every frame.
    return {"strokes": out, "spread": spread, "segments": segments(out)}


def segments(strokes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts (s, 2), vectors (s, 2), weights (s,) summing to 1) of all stroke segments; a dot
    is a zero vector of weight DOT_LENGTH, a segment's weight is its length."""
    a, v, w = [], [], []
    for s in strokes:
        p = np.asarray(s, dtype=float)
        d = np.diff(p, axis=0)
        length = np.hypot(d[:, 0], d[:, 1])
        if length.sum() == 0:
            a.append(p[:1])
            v.append(np.zeros((1, 2)))
            w.append(np.array([DOT_LENGTH]))
        else:
            a.append(p[:-1])
            v.append(d)
            w.append(length)
    wt = np.concatenate(w)
    return np.concatenate(a), np.concatenate(v), wt / wt.sum()


def drawn(rng, n, params):
    """Segment k ~ weights (length), t ~ U[0, 1): x = a_k + t v_k + spread N (see module doc)."""
    a, v, w = params["segments"]
    k = rng.choice(len(w), size=n, p=w)
    return a[k] + rng.random((n, 1)) * v[k] + params["spread"] * rng.standard_normal((n, 2))


def check_points(params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``{"points": [[x, y], ...], "spread": 0.0}`` (1..100,000 points in [0, 1]^2)."""
    unknown = set(params) - {"points", "spread"}
    if unknown:
        raise DataError(f"points data takes points and spread; unknown {sorted(unknown)}")
    if "points" not in params:
        raise DataError("points data needs points: a list of [x, y] in [0, 1]^2")
    pts = as_points(params["points"], "points", MAX_POINTS)
    # Kept as an array: the sampler indexes it on every call, and converting a 100,000-point
    # list each time made every batch and frame cost ~20 ms.
    return {"points": pts, "spread": _spread({"spread": params.get("spread", 0.0)})}


def points(rng, n, params):
    """x = p_i + spread N with i uniform over the rows (with replacement)."""
    p = np.asarray(params["points"], dtype=float)
    x = p[rng.integers(0, len(p), n)]
    if params["spread"] > 0:
        x = x + params["spread"] * rng.standard_normal((n, 2))
    return x


# The recommended preset for drawings and point sets, chosen with scripts/drawn_shapes.py (table
# in the README): strokes are thin 1D sets, hard for a GAN. With ReLU nets an S stayed stuck for
# 25k+ epochs with many fakes spread over the shape's inside (our guess: dead ReLU units, no
# gradient there); with leaky ReLU, whose units always pass a gradient, it was learned. Bounded
# noise (uniform on [-1, 1]^2) leaves no tail of fakes off the strokes, 3 x 64 units bend the
# noise square along an S or tear it in two, an average of G's weights (decay 0.999) steadies
# what is shown, and float32 makes the wider nets fast enough to watch.
# Both learning rates decay as lr / (1 + 1e-4 t) (lr/4.8 at 38k steps, the 30 s of a quiet
# core): Adam moves every weight by about lr per step even at equilibrium, so the live G kept
# jittering (its share near the strokes swung 0.3-1.1 of the real share from one 2k-epoch
# checkpoint to the next) and the average of those jittering weights was a contracted G that
# stopped short of the strokes' ends: two separate strokes lost 14-34 % of one stroke's length.
# Annealing the steps calms the jitter at no cost per epoch and leaves the first seconds as
# lively (lr x 0.87 at 1,500 steps).
_PRESET = {
    "loss": "nonsaturating",
    "noise": "uniform_signed",
    "init": "he",
    "k_d": 1,
    "k_g": 1,
    "g_ema": 0.999,
    "precision": "float32",
    "generator": {"layers": 3, "units": 64, "activation": "leaky_relu"},
    "discriminator": {"layers": 3, "units": 64, "activation": "leaky_relu"},
    "d_optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.5, "decay": 0.0001},
    "g_optimizer": {"kind": "adam", "lr": 0.001, "beta1": 0.5, "decay": 0.0001},
}

register(Distribution(
    "drawn", "Your drawing",
    "Draw strokes: samples spread evenly along them, with a settable spread.",
    drawn, _PRESET, check=check_drawn,
))
register(Distribution(
    "points", "Uploaded points",
    "A point set from a CSV or JSON file, sampled with replacement (plus optional spread).",
    points, _PRESET, check=check_points,
))
