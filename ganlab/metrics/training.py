"""Measurements of the two networks: D's accuracy, gradient norms, and one live frame's metrics."""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from ..data import modes_of
from ..jsonsafe import finite
from .divergence import DEFAULT_BINS, count_divergences, divergence_floor, histogram
from .health import RealSide, health_hints
from .modes import DEFAULT_SAMPLES, mode_coverage
from .precision_recall import knn_radii, pr_from_radii

PR_K = 3
FRAME_SAMPLES = DEFAULT_SAMPLES  # samples per set for divergences and mode metrics
PR_SAMPLES = 200  # points per set for precision / recall


def d_accuracy(trainer, real: np.ndarray, fake: np.ndarray) -> float | None:
    """Balanced accuracy of D as a classifier:  (mean[D(x_r) > 1/2] + mean[D(x_f) < 1/2]) / 2,
    D the displayed output (``trainer.discriminate``; for Wasserstein critics that is the sign of
    the critic, whose offset is arbitrary)."""
    r = np.asarray(real, dtype=float).reshape(-1, 2)
    f = np.asarray(fake, dtype=float).reshape(-1, 2)
    if len(r) == 0 or len(f) == 0:
        return None
    dr, df = trainer.discriminate(r), trainer.discriminate(f)
    acc = 0.5 * (float(np.mean(dr > 0.5)) + float(np.mean(df < 0.5)))
    return acc if math.isfinite(acc) else None


def grad_norms(trainer) -> dict[str, float | None]:
    """{"grad_norm_d": ||dL_D/dtheta_D||_2, "grad_norm_g": ||dL_G/dtheta_G||_2} of the last D and
    G updates (``trainer.D.grad`` / ``trainer.G.grad``; D's includes any gradient penalty);
    None before the first update of that network."""
    out: dict[str, float | None] = {}
    for key, net, steps in (("grad_norm_d", trainer.D, trainer.d_steps),
                            ("grad_norm_g", trainer.G, trainer.g_steps)):
        v = float(np.linalg.norm(net.grad)) if steps else None
        out[key] = v if v is None or math.isfinite(v) else None
    return out


REF_SAMPLES = 50_000  # the fixed real reference for KL / JS (binned once per data)
DIV_SAMPLES = (2_500, 20_000)  # fakes for KL / JS: as many as G affords within DIV_BUDGET, in this range
DIV_BUDGET = 40e6  # multiply-adds of G per frame for those fakes (3 x 64: 4,500 fakes, ~2 ms)


def divergence_samples(trainer) -> int:
    """How many fakes a frame's KL / JS use: DIV_BUDGET / (G's multiply-adds per sample), in
    multiples of 500 within DIV_SAMPLES (GAN Lab's 2 x 8 net: 20,000; 3 x 64: 4,500)."""
    sizes = trainer.G_out.sizes
    macs = sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))
    lo, hi = DIV_SAMPLES
    return min(hi, max(lo, int(DIV_BUDGET / macs) // 500 * 500))


class _Reference:
    """One trainer's fixed real points for one sampler: REF_SAMPLES points, their histogram, the
    k-NN radii of the first PR_SAMPLES, and the estimator's floor per fake count."""

    def __init__(self, trainer, bins: int):
        self.sampler, self.bins, self.seed = trainer.sampler, bins, trainer.config.seed
        rng = np.random.default_rng([trainer.config.seed, 0x6A7A])
        self.points = trainer.sampler(rng, REF_SAMPLES)
        self.counts = histogram(self.points, bins)
        self.radii = knn_radii(self.points[:PR_SAMPLES], PR_K)
        self.health = RealSide(self.points)  # the health checks' real side (box, spread)
        self.floors: dict[int, dict[str, float]] = {}

    def floor(self, n: int) -> dict[str, float]:
        if n not in self.floors:
            self.floors[n] = divergence_floor(self.sampler, self.counts, n, self.bins, seed=self.seed)
        return self.floors[n]


# Per trainer, held weakly; redrawn when the trainer's sampler changes (it builds a new one whenever
# data, params or seed change: compared by identity, never by params, which may hold 100,000 points).
_REAL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _reference(trainer, bins: int = DEFAULT_BINS) -> _Reference:
    hit = _REAL_CACHE.get(trainer)
    if hit is None or hit.sampler is not trainer.sampler or hit.bins != bins:
        hit = _REAL_CACHE[trainer] = _Reference(trainer, bins)
    return hit


def reference_real(trainer, n: int = FRAME_SAMPLES) -> np.ndarray:
    """The first n (<= 50,000) of a fixed set of real points per trainer and data (redrawn when
    the data changes), from a private seeded stream so training is not disturbed: live curves
    then move only with G."""
    return _reference(trainer).points[:n]


def reference_counts(trainer, bins: int = DEFAULT_BINS) -> np.ndarray:
    """The :func:`histogram` of the fixed 50,000 real points (cached per data)."""
    return _reference(trainer, bins).counts


def divergence_floor_of(trainer, n: int | None = None, bins: int = DEFAULT_BINS) -> dict[str, float]:
    """The floor of the live KL / JS (bits, see :func:`divergence_floor`): the fixed reference
    against independent real sets of ``n`` points (default: the frame's fake count,
    :func:`divergence_samples`). Cached per data and n."""
    return _reference(trainer, bins).floor(n or divergence_samples(trainer))


def frame_metrics(trainer, real: np.ndarray | None = None, fake: np.ndarray | None = None,
                  n: int = FRAME_SAMPLES, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """All cheap metrics of one live frame (every value finite or None):

    - ``kl``, ``js`` (bits): :func:`divergences` of a fixed set of 50,000 real points
      (:func:`reference_real`) and G on the fixed visualisation noise, as many fakes as G affords
      (:func:`divergence_samples`; same z every frame: smooth curves);
    - ``kl_floor``, ``js_floor`` (bits): what those read for real against independent real sets
      of that size (:func:`divergence_floor_of`): the value of a perfect G, the curve's floor;
    - ``modes_captured``, ``modes_total``, ``high_quality``, ``mode_counts``, ``mode_js`` for
      distributions with modes (:func:`mode_coverage` on the first ``n`` of those fakes);
    - ``precision``, ``recall`` (k = 3) of the first 200 fixed real points against the first 200
      of ``fake`` (default: the fixed-noise fakes above), the real k-NN radii cached;
    - ``d_accuracy`` on the frame's ``real`` and ``fake`` points (first 200 of each; the fixed
      sets when not given);
    - ``grad_norm_d``, ``grad_norm_g`` of the last updates;
    - ``hints``: :func:`health_hints` on the fixed real points and those fakes (a list of
      {"code", "message"}, empty when healthy).
    """
    ref = _reference(trainer, bins)
    m = divergence_samples(trainer)
    fakes = trainer.G_out(trainer.viz_noise(m))
    out: dict[str, Any] = dict(count_divergences(ref.counts, histogram(fakes, bins)))
    floor = ref.floor(m)
    out.update(kl_floor=floor["kl"], js_floor=floor["js"])
    modes = modes_of(trainer.config.data, trainer.config.data_params)
    if modes is not None:
        out.update(mode_coverage(fakes[:n], *modes))
    f = fakes[:PR_SAMPLES] if fake is None else np.asarray(fake, dtype=float)[:PR_SAMPLES]
    f = f[np.isfinite(f).all(axis=1)]
    p = rc = None
    if len(f) >= 2:
        p, rc = pr_from_radii(ref.points[:PR_SAMPLES], ref.radii, f, PR_K)
    out.update(precision=p, recall=rc)
    r = ref.points[:PR_SAMPLES] if real is None else np.asarray(real, dtype=float)[:PR_SAMPLES]
    out["d_accuracy"] = d_accuracy(trainer, r, f)
    out.update(grad_norms(trainer))
    out["hints"] = health_hints(trainer, ref.health, fakes)
    return finite(out)
