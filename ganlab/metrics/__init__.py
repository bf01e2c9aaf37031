"""Metrics of a 2D GAN, numpy only; each function's docstring states its definition.

- :func:`divergences`: KL and JS (bits) from 2D histograms with an outside bin, and
  :func:`divergence_floor`: what they read for real against real at the same sample sizes;
- :func:`mode_coverage`: modes captured, % high quality, per-mode counts (VEEGAN / PacGAN);
- :func:`precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al. 2019);
- :func:`near_share`, :func:`stroke_coverage`: how well samples follow drawn strokes;
- :func:`d_accuracy`, :func:`grad_norms`: the networks themselves;
- :func:`health_hints`: named failures (D dead or saturated, G collapsed, fakes outside);
- :func:`frame_metrics`: everything cheap, for one live frame.
"""

from .divergence import count_divergences, divergence_floor, divergences, histogram
from .health import health_hints
from .modes import mode_coverage, nearest_mode
from .precision_recall import precision_recall
from .strokes import distance_to_strokes, near_share, stroke_coverage
from .training import (
    d_accuracy,
    divergence_floor_of,
    divergence_samples,
    frame_metrics,
    grad_norms,
    reference_real,
)

__all__ = [
    "count_divergences", "d_accuracy", "divergence_floor", "divergence_floor_of", "divergence_samples",
    "distance_to_strokes", "divergences", "frame_metrics", "grad_norms", "health_hints", "histogram", "mode_coverage",
    "near_share", "nearest_mode", "precision_recall", "reference_real", "stroke_coverage",
]
