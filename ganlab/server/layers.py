"""The visual layers and metrics of one frame, computed only for the layers the page asked for.

Uses :mod:`ganlab.views` and :mod:`ganlab.metrics` (the data engineer's) when they are importable
and falls back to computing the layers with the trainer's own methods otherwise, so the server
runs either way. Points that must not jitter between frames (real samples, visualisation noise)
are drawn once per data set / noise setting and cached.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganlab import Trainer

# Range of each noise kind's values, for the manifold grid (gaussian is truncated to [0, 1]).
NOISE_RANGE = {"uniform": (0.0, 1.0), "gaussian": (0.0, 1.0), "uniform_signed": (-1.0, 1.0),
               "normal": (-2.0, 2.0)}
DEFAULT_VIEW = {"layers": ["real", "fake", "heatmap", "d_grad"], "heatmap": 50, "samples": 500,
                "manifold": 20, "fps": 30}


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


@dataclass
class FrameBuilder:
    """Builds the arrays of a frame for one session's view; holds that session's caches."""

    view: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_VIEW))
    _real: tuple = (None, 0, None)
    _noise: tuple = (None, None)
    _grid: tuple = (0, None)

    def __post_init__(self) -> None:
        self.views = _optional("ganlab.views")
        metrics = _optional("ganlab.metrics")
        self.frame_metrics = getattr(metrics, "frame_metrics", None)

    # -- cached inputs ---------------------------------------------------------------------------

    def real(self, t: Trainer, n: int) -> np.ndarray:
        """n real points, the same ones every frame until the data (or its sampler) changes."""
        sampler, m, pts = self._real
        if sampler is not t.sampler or m != n:
            rng = np.random.default_rng([t.config.seed, 0x6A1AB])
            pts = t.sampler(rng, n)
            self._real = (t.sampler, n, pts)
        return pts

    def noise(self, t: Trainer, n: int) -> np.ndarray:
        key = (t.config.seed, t.config.noise, t.config.noise_dim, n)
        if self._noise[0] != key:
            self._noise = (key, t.viz_noise(n))
        return self._noise[1]

    def centres(self, n: int) -> np.ndarray:
        """(n*n, 2) cell centres, row-major with the top row (y near 1) first."""
        if self._grid[0] != n:
            c = (np.arange(n) + 0.5) / n
            xx, yy = np.meshgrid(c, c[::-1])
            self._grid = (n, np.column_stack([xx.ravel(), yy.ravel()]))
        return self._grid[1]

    # -- the frame -------------------------------------------------------------------------------

    def build(self, t: Trainer, with_metrics: bool = True) -> tuple[dict[str, np.ndarray], dict]:
        """(layers name -> 2D array, metrics) for the current view; metrics {} unless asked."""
        v = self.view
        want = set(v["layers"])
        n, h = v["samples"], v["heatmap"]
        out: dict[str, np.ndarray] = {}
        real = self.real(t, n)
        z = self.noise(t, n)
        fake = t.sample(noise=z)
        if "real" in want:
            out["real"] = real
        if "fake" in want:
            out["fake"] = fake
        if "heatmap" in want:
            out["heatmap"] = self.heatmap(t, h)
        if "d_grad" in want:
            out["d_grad"] = t.d_grad(fake)
        if "g_grad" in want:
            out["g_grad"] = t.g_loss_grad(fake)
        if "manifold" in want:
            pts, area = self.manifold(t, v["manifold"])
            out["manifold"] = pts.reshape(pts.shape[0], -1)
            out["manifold_area"] = np.atleast_2d(area)
        if "optimal_d" in want:
            out["optimal_d"] = self.optimal_d(real, fake, h)
        if "noise" in want:
            out["noise"] = z[:, :2]
        metrics = self.frame_metrics(t, real, fake) if with_metrics and self.frame_metrics else {}
        return out, metrics

    def heatmap(self, t: Trainer, h: int) -> np.ndarray:
        if self.views is not None:
            return self.views.heatmap(t, h)
        return t.discriminate(self.centres(h)).reshape(h, h)

    def manifold(self, t: Trainer, m: int) -> tuple[np.ndarray, np.ndarray]:
        """G over an m x m grid of the first two noise dimensions (others at their centre):
        points (m, m, 2) and cell areas (m-1, m-1); 1D noise gives (1, m, 2) and segment lengths."""
        if self.views is not None:
            return self.views.manifold(t, m)
        lo, hi = NOISE_RANGE.get(t.config.noise, (0.0, 1.0))
        d = t.config.noise_dim
        u = np.linspace(lo, hi, m)
        if d == 1:
            pts = t.sample(noise=u[:, None]).reshape(1, m, 2)
            return pts, np.hypot(*np.diff(pts[0], axis=0).T)[None, :]
        uu, vv = np.meshgrid(u, u[::-1])
        z = np.full((m * m, d), (lo + hi) / 2)
        z[:, 0], z[:, 1] = uu.ravel(), vv.ravel()
        p = t.sample(noise=z).reshape(m, m, 2)
        a, b, c, e = p[:-1, :-1], p[:-1, 1:], p[1:, 1:], p[1:, :-1]
        # Shoelace formula over the quad a-b-c-e.
        x, y = (a[..., 0], b[..., 0], c[..., 0], e[..., 0]), (a[..., 1], b[..., 1], c[..., 1], e[..., 1])
        s = sum(x[i] * y[(i + 1) % 4] - x[(i + 1) % 4] * y[i] for i in range(4))
        return p, 0.5 * np.abs(s)

    def optimal_d(self, real: np.ndarray, fake: np.ndarray, h: int) -> np.ndarray:
        """D*(x) = p_r / (p_r + p_g) from h x h histograms (0.5 where neither has mass)."""
        if self.views is not None:
            return self.views.optimal_discriminator(real, fake, h)
        edges = np.linspace(0.0, 1.0, h + 1)
        pr = np.histogram2d(real[:, 1], real[:, 0], bins=(edges, edges))[0] / max(len(real), 1)
        pg = np.histogram2d(fake[:, 1], fake[:, 0], bins=(edges, edges))[0] / max(len(fake), 1)
        tot = pr + pg
        d = np.divide(pr, tot, out=np.full_like(tot, 0.5), where=tot > 0)
        return d[::-1]


__all__ = ["DEFAULT_VIEW", "FrameBuilder"]
