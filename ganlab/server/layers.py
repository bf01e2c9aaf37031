"""The visual layers and metrics of one frame, computed only for the layers the page asked for.

The layers come from :mod:`ganlab.views` and the trainer's gradient methods, the metrics from
:func:`ganlab.metrics.frame_metrics`. Points that must not jitter between frames (real samples,
visualisation noise, held by the trainer) are drawn once per data set / noise setting and cached.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganlab import Trainer, views
from ganlab.metrics import frame_metrics

from .image_frames import ImageFrameBuilder

DEFAULT_VIEW = {"layers": ["real", "fake", "heatmap", "d_grad"], "heatmap": 50, "samples": 500,
                "manifold": 20, "fps": 30, "extent": [0.0, 0.0, 1.0, 1.0]}


@dataclass
class FrameBuilder:
    """Builds the arrays of a frame for one session's view; holds that session's caches."""

    view: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_VIEW))
    _real: tuple = (None, 0, None)

    def __post_init__(self) -> None:
        self.view = {**DEFAULT_VIEW, **self.view}  # a partial view takes the defaults for the rest
        self.images = ImageFrameBuilder(self.view)  # image data's layers (image_frames.py)

    # -- cached inputs ---------------------------------------------------------------------------

    def real(self, t: Trainer, n: int) -> np.ndarray:
        """n real points, the same ones every frame until the data (or its sampler) changes."""
        sampler, m, pts = self._real
        if sampler is not t.sampler or m != n:
            rng = np.random.default_rng([t.config.seed, 0x6A1AB])
            pts = t.sampler(rng, n)
            self._real = (t.sampler, n, pts)
        return pts

    # -- the frame -------------------------------------------------------------------------------

    def build(self, t: Trainer, with_metrics: bool = True) -> tuple[dict[str, np.ndarray], dict]:
        """(layers name -> 2D array, metrics) for the current view; metrics {} unless asked."""
        parts = self.parts(t, with_metrics)
        while True:
            try:
                next(parts)
            except StopIteration as done:
                return done.value

    def parts(self, t: Trainer, with_metrics: bool = True) -> Generator[None, None, tuple]:
        """:meth:`build` in parts: a generator that yields between parts of the work and returns
        what ``build`` returns. A part is one network evaluation pass (``MLP.chunk`` points, or
        the whole layer when it is smaller), so a 200 x 200 heatmap of a 6 x 128 network is ~40
        parts of a few ms, and the server can run other sessions between them. The trainer must
        not change until the generator is done."""
        if getattr(t, "image_shape", None) is not None:
            self.images.view = self.view
            return (yield from self.images.parts(t, with_metrics))
        v = self.view
        want = set(v["layers"])
        n, h = v["samples"], v["heatmap"]
        extent = tuple(v["extent"])  # where the grids lie: the page widens it to show the fakes
        out: dict[str, np.ndarray] = {}
        real = self.real(t, n)
        z = t.viz_noise(n)  # the same z every frame: samples glide
        fake = yield from _blocks(lambda p: t.sample(noise=p), z, t.G_out.chunk)
        if "real" in want:
            out["real"] = real
        if "fake" in want:
            out["fake"] = fake
        d_pass = t.D.chunk
        if "heatmap" in want:
            views.check_grid(h)
            d = yield from _blocks(t.discriminate, views.grid_centres(h, extent), d_pass)
            out["heatmap"] = d.reshape(h, h)
        if "d_grad" in want:
            out["d_grad"] = yield from _blocks(t.d_grad, fake, d_pass)
        if "g_grad" in want:
            out["g_grad"] = yield from _blocks(t.g_loss_grad, fake, d_pass)
        if "manifold" in want:
            yield
            pts, area = views.manifold(t, v["manifold"])
            out["manifold"] = pts.reshape(pts.shape[0], -1)
            out["manifold_area"] = np.atleast_2d(area)
        if "optimal_d" in want:
            out["optimal_d"] = views.optimal_discriminator(real, fake, h, extent)
        if "noise" in want:
            out["noise"] = z[:, :2]
        if not with_metrics:
            return out, {}
        yield
        return out, frame_metrics(t, real, fake)


def _blocks(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, block: int):
    """fn(x) evaluated ``block`` rows at a time, yielding between blocks (row-wise functions:
    the result is fn(x) itself)."""
    if len(x) <= block:
        return fn(x)
    out = []
    for i in range(0, len(x), block):
        out.append(fn(x[i : i + block]))
        if i + block < len(x):
            yield
    return np.concatenate(out)


__all__ = ["DEFAULT_VIEW", "FrameBuilder"]
