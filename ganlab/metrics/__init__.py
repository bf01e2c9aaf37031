"""Metrics of a 2D GAN, numpy only; each function's docstring states its definition.

- :func:`divergences`: KL and JS (bits) from 2D histograms with an outside bin;
- :func:`mode_coverage`: modes captured, % high quality, per-mode counts (VEEGAN / PacGAN);
- :func:`precision_recall`: k-NN manifold precision and recall (Kynkäänniemi et al. 2019);
- :func:`d_accuracy`, :func:`grad_norms`: the networks themselves;
- :func:`frame_metrics`: everything cheap, for one live frame.
"""

from .divergence import divergences, histogram
from .modes import mode_coverage, nearest_mode
from .precision_recall import precision_recall
from .training import d_accuracy, frame_metrics, grad_norms, reference_real

__all__ = [
    "d_accuracy", "divergences", "frame_metrics", "grad_norms", "histogram", "mode_coverage",
    "nearest_mode", "precision_recall", "reference_real",
]
