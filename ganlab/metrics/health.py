"""Failure hints: name the ways a GAN run goes wrong, in one plain sentence each, with the figure.

A hint never stops training; it explains a state a student could otherwise stare at in silence
(losses 0.000, every fake in a corner). On real points R and fake points F of the shown G, with
D's displayed output D(x) in [0, 1] and its logit l(x):

- ``d_dead``: l is the same on every point of R and F (max - min <= 1e-9 (1 + |l|)): D is flat on
  the data, its gradient dD/dx is zero, so neither network learns (for ReLU nets: every hidden unit
  is off on every sample, or a whole layer is);
- ``d_saturated``: D separates the sets almost perfectly, accuracy
  (mean[D(r) > 1/2] + mean[D(f) < 1/2]) / 2 >= 0.99 with mean D(r) - mean D(f) >= 0.9: D wins
  outright and its gradient to G vanishes or points nowhere useful;
- ``g_collapsed``: the fakes' spread s(F) = sqrt(var x + var y) is below 10 % of the real spread
  s(R): G maps all its noise to (nearly) one point;
- ``fakes_outside``: more than half the fakes lie outside the unit square (the data's domain; the
  page's view widens to show them) or outside the
  data's box (the 0.5-99.5 percentile range of R on each axis, grown by 0.1 each side).

Hints are only given from epoch 500 on: a fresh G starts as a small blob anywhere and takes a few
hundred epochs to spread over the data (up to 200 on GAN Lab's presets, measured).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MIN_EPOCH = 500
SATURATED_ACCURACY = 0.99
SATURATED_GAP = 0.9
COLLAPSE_RATIO = 0.1
OUTSIDE_SHARE = 0.5
BOX_MARGIN = 0.1
N = 500  # points per set the checks use


def spread(points: np.ndarray) -> float:
    """sqrt(var x + var y) of the finite points (0 for fewer than 2)."""
    p = points[np.isfinite(points).all(axis=1)]
    return float(np.sqrt(p.var(axis=0).sum())) if len(p) > 1 else 0.0


def _dead_layer(D, x: np.ndarray) -> str | None:
    """For ReLU nets, which hidden layer is off for every point of x (its units all <= 0), in
    words; None if none is (or D is not a ReLU net)."""
    if D.act.name != "relu":
        return None
    from ..mlp import augment

    ws = D.workspace(len(x))
    D.forward(ws, augment(x, D.dtype))
    for l in range(1, len(D.sizes) - 1):
        if not (ws.h[l] > 0).any():
            return f"all {D.sizes[l]} units of its hidden layer {l} are off on every sample"
    return None


class RealSide:
    """What the checks need of the real points alone: the first ``N`` of them, their spread and
    the data's box. Live frames check against one fixed real set, so the metrics keep this per
    data set (``ganlab.metrics.training``) instead of taking two percentiles every frame."""

    __slots__ = ("points", "spread", "lo", "hi")

    def __init__(self, real: np.ndarray):
        r = self.points = np.asarray(real, dtype=float).reshape(-1, 2)[:N]
        self.spread = spread(r)
        self.lo = self.hi = None
        if len(r):
            self.lo = np.percentile(r, 0.5, axis=0) - BOX_MARGIN
            self.hi = np.percentile(r, 99.5, axis=0) + BOX_MARGIN


def health_hints(trainer, real: np.ndarray | RealSide, fake: np.ndarray) -> list[dict[str, str]]:
    """[{"code", "message"}, ...] for the failures of the module doc seen on (the first 500 of)
    ``real`` (points, or their :class:`RealSide`) and ``fake`` (the shown G's samples); [] when
    healthy or before epoch 500."""
    if trainer.epoch < MIN_EPOCH or not trainer.status.ok:
        return []
    side = real if isinstance(real, RealSide) else RealSide(real)
    r = side.points
    f = np.asarray(fake, dtype=float).reshape(-1, 2)[:N]
    f = f[np.isfinite(f).all(axis=1)]
    if len(r) < 2 or len(f) < 2:
        return []
    hints: list[dict[str, str]] = []
    x = np.concatenate([r, f])
    logit = trainer.discriminate(x, output="logit")
    prob = trainer.loss.prob(logit)
    d_loss = trainer.losses.get("d")
    loss_txt = "" if d_loss is None else f", D loss {d_loss:.3f}"
    if np.ptp(logit) <= 1e-9 * (1 + np.abs(logit).max()):
        why = _dead_layer(trainer.D, x) or "its gradient is zero there"
        hints.append({"code": "d_dead", "message":
                      f"The discriminator is dead: it gives every real and fake sample the same "
                      f"score ({float(prob[0]):.2f}), {why}, so neither network can learn; lower "
                      f"the learning rates and reset."})
    else:
        dr, df = prob[: len(r)], prob[len(r):]
        acc = 0.5 * (float(np.mean(dr > 0.5)) + float(np.mean(df < 0.5)))
        gap = float(dr.mean() - df.mean())
        if acc >= SATURATED_ACCURACY and gap >= SATURATED_GAP:
            hints.append({"code": "d_saturated", "message":
                          f"The discriminator wins outright: it classifies {100 * acc:.0f}% of "
                          f"samples correctly (D = {dr.mean():.2f} on real, {df.mean():.2f} on "
                          f"fake{loss_txt}), so the generator gets little useful gradient; lower "
                          f"D's learning rate or its updates per epoch."})
    sr, sf = side.spread, spread(f)
    if sr > 0 and sf < COLLAPSE_RATIO * sr:
        hints.append({"code": "g_collapsed", "message":
                      f"The generator has collapsed: its samples spread {sf:.3f} against the "
                      f"data's {sr:.3f} ({100 * sf / sr:.0f}%), nearly all on one spot; try "
                      f"another seed, a lower G learning rate or a gradient penalty."})
    lo, hi = side.lo, side.hi
    off_view = ((f < 0) | (f > 1)).any(axis=1)
    off_box = ((f < lo) | (f > hi)).any(axis=1)
    share = float((off_view | off_box).mean())
    if share > OUTSIDE_SHARE:
        where = ("outside the unit square" if off_view.mean() > OUTSIDE_SHARE else "outside the data's area")
        hints.append({"code": "fakes_outside", "message":
                      f"{100 * share:.0f}% of the fake samples are {where} "
                      f"({100 * float(off_view.mean()):.0f}% off the unit square), where D has "
                      f"no real samples to compare with; lower G's learning rate or reset."})
    return hints


def hint_codes(hints: list[dict[str, Any]]) -> list[str]:
    return [h["code"] for h in hints]
