"""Measurements of the two networks: D's accuracy, gradient norms, and one live frame's metrics."""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np

from ..data import modes_of
from ..jsonsafe import finite
from .divergence import DEFAULT_BINS, divergences
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


# Per trainer: (data, params) the cached real set was drawn for, and the set. Held weakly.
_REAL_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _reference(trainer, n: int) -> tuple[np.ndarray, np.ndarray]:
    # The trainer builds a new sampler whenever data, params or seed change: compare by identity
    # (never by the params, which may hold 100,000 points).
    hit = _REAL_CACHE.get(trainer)
    if hit is None or hit[0] is not trainer.sampler or hit[1] != n:
        rng = np.random.default_rng([trainer.config.seed, 0x6A7A])
        real = trainer.sampler(rng, n)
        hit = _REAL_CACHE[trainer] = (trainer.sampler, n, real, knn_radii(real[:PR_SAMPLES], PR_K))
    return hit[2], hit[3]


def reference_real(trainer, n: int = FRAME_SAMPLES) -> np.ndarray:
    """A fixed set of n real points per trainer and data (redrawn when the data changes), from a
    private seeded stream so training is not disturbed: live curves then move only with G."""
    return _reference(trainer, n)[0]


def frame_metrics(trainer, real: np.ndarray | None = None, fake: np.ndarray | None = None,
                  n: int = FRAME_SAMPLES, bins: int = DEFAULT_BINS) -> dict[str, Any]:
    """All cheap metrics of one live frame (every value finite or None):

    - ``kl``, ``js`` (bits): :func:`divergences` of a fixed real set (:func:`reference_real`) and
      G on the fixed visualisation noise, ``n`` points each (same z every frame: smooth curves);
    - ``modes_captured``, ``modes_total``, ``high_quality``, ``mode_counts``, ``mode_js`` for
      distributions with modes (:func:`mode_coverage` on the same ``n`` fakes);
    - ``precision``, ``recall`` (k = 3) of the first 200 fixed real points against the first 200
      of ``fake`` (default: the fixed-noise fakes above), the real k-NN radii cached;
    - ``d_accuracy`` on the frame's ``real`` and ``fake`` points (first 200 of each; the fixed
      sets when not given);
    - ``grad_norm_d``, ``grad_norm_g`` of the last updates.
    """
    ref, ref_radii = _reference(trainer, n)
    fakes = trainer.G_out(trainer.viz_noise(n))
    out: dict[str, Any] = dict(divergences(ref, fakes, bins))
    modes = modes_of(trainer.config.data, trainer.config.data_params)
    if modes is not None:
        out.update(mode_coverage(fakes, *modes))
    f = fakes[:PR_SAMPLES] if fake is None else np.asarray(fake, dtype=float)[:PR_SAMPLES]
    f = f[np.isfinite(f).all(axis=1)]
    p = rc = None
    if len(f) >= 2:
        p, rc = pr_from_radii(ref[:PR_SAMPLES], ref_radii, f, PR_K)
    out.update(precision=p, recall=rc)
    r = ref[:PR_SAMPLES] if real is None else np.asarray(real, dtype=float)[:PR_SAMPLES]
    out["d_accuracy"] = d_accuracy(trainer, r, f)
    out.update(grad_norms(trainer))
    return finite(out)
