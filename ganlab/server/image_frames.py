"""The layers and metrics of a frame for image data (digits), built in parts like the 2D ones.

Images travel as uint8 rows (n, h*w), pixel = round((x + 1) * 127.5) for G's tanh range
x in [-1, 1], 0 = background, 255 = ink (docs/protocol.md, "Binary frame layout"):

- ``fakes_grid``: G on fixed noise, the same z every frame, so the digits morph as G learns:
  ``GRID`` samples (8 x 8), or with a conditional G one row of ``GRID_COLS`` per class (the same
  ``GRID_COLS`` noise vectors in every row: a column keeps its style across classes);
- ``reals_grid``: as many real images (one row per class for a conditional G), fixed per data set,
  so sent only in the first frame of the builder for a data set (the page keeps it);
- ``walk``: G along a path between two noise vectors z_a, z_b, ``WALK`` steps t = 0 .. 1, first
  the linear path (1 - t) z_a + t z_b, then the spherical one
  sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b, cos w = z_a.z_b / (|z_a| |z_b|)
  (Shoemake's slerp, White 2016), the ends drawn from the noise distribution with the view's
  ``walk_seed``;
- ``d_hist`` (float32, 2 x ``BINS``): counts of D's displayed output in [0, 1] on as many real
  images (row 0) as the grid has fakes, and on the grid's fakes (row 1), the image analogue of the
  2D heatmap;
- ``d_grad_image`` (float32, ``GRAD_N`` x h*w): dD/dx at the first fakes of the grid: where D's
  opinion of each pixel pushes G.

Metrics come from :mod:`ganlab.metrics.images` on ``METRIC_N`` fakes (the fixed noise), at most
every ``METRIC_SECONDS`` per session, and OFF the event loop: the Frechet distance on the MNIST
classifier's 512 features is an eigendecomposition of a 512 x 512 matrix and products of that size
(the whole measurement took 130-300 ms, the FD alone up to 830 ms, on this shared machine under
load), far beyond the loop's slices. So a frame that is due
for metrics draws the fakes (one G pass, on the loop) and hands them to the process's metrics
thread (numpy releases the GIL in BLAS and LAPACK); the result rides on the next frame after it is
done, with ``at_epoch`` saying which state it measured, and ``ready`` (set by the session) is called
so that a paused session sends that frame. The classifier reference of a data set is likewise built
once per process in that thread. Every frame with metrics carries D's means (``d_real``,
``d_fake``), computed on the loop from ``d_hist``'s passes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
import weakref
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ganlab.noise import sample_noise

IMAGE_LAYERS = ("fakes_grid", "reals_grid", "walk", "d_hist", "d_grad_image")
GRID, GRID_COLS = 64, 8
WALK = 10
BINS = 20
HIST_N = 256  # real images kept for D's histogram (the grid uses the first 64 or 80)
GRAD_N = 8
METRIC_N = 500
METRIC_SECONDS = 2.0
METRIC_BLOCK = 125  # noise vectors per pass of G for the metrics' fakes (one slice of the loop)
REFERENCE_SETS = ("digits8", "mnist", "fashion")  # the sets with a shipped classifier


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Pixels in [-1, 1] (G's tanh range) to 0..255: round((x + 1) * 127.5), clipped (NaN -> 0, as
    the float layers do, for a diverged G)."""
    y = (np.asarray(x, np.float32) + 1.0) * 127.5
    np.nan_to_num(y, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
    np.clip(y, 0.0, 255.0, out=y)
    return np.rint(y).astype(np.uint8)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(len(t), d) points on the great-circle path from a to b (linear where a, b are parallel)."""
    t = np.asarray(t, float)[:, None]
    cos = float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))
    w = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(w) < 1e-6:
        return (1 - t) * a + t * b
    return (np.sin((1 - t) * w) * a + np.sin(t * w) * b) / np.sin(w)


def walk_noise(kind: str, dim: int, seed: int, walk_seed: int, steps: int = WALK) -> np.ndarray:
    """(2 * steps, dim): the linear path then the spherical one between two noise vectors drawn
    from ``kind`` with (seed, walk_seed)."""
    za, zb = sample_noise(np.random.default_rng([seed, walk_seed, 0x3A1C]), kind, 2, dim)
    t = np.linspace(0.0, 1.0, steps)
    return np.vstack([(1 - t)[:, None] * za + t[:, None] * zb, slerp(za, zb, t)])


# -- the classifier references: one per data set and process, built off the event loop -------------

_refs: dict[str, concurrent.futures.Future] = {}
_refs_lock = threading.Lock()
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ganlab-metrics")


def _build_reference(name: str):
    from ganlab.metrics.images import ImageReference

    ref = ImageReference.for_set(name)
    ref.floor(METRIC_N)  # the floor at the frames' sample size, computed once
    return ref


def reference_future(name: str) -> concurrent.futures.Future | None:
    """The future of a built-in set's :class:`ImageReference` (built once per process, in the
    metrics thread: the first session on a set must not stall the loop), None if it has none."""
    if name not in REFERENCE_SETS:
        return None
    with _refs_lock:
        fut = _refs.get(name)
        if fut is None:
            fut = _refs[name] = _pool.submit(_build_reference, name)
    return fut


def reference(name: str, wait: bool = False):
    """The set's reference, or None while it is being built (``wait``: block until it is)."""
    fut = reference_future(name)
    if fut is None:
        return None
    if wait:
        return fut.result()
    if not fut.done() or fut.exception() is not None:
        return None
    return fut.result()


# -- the builder -----------------------------------------------------------------------------------

@dataclass
class ImageFrameBuilder:
    """The image layers of a session's frames; holds the session's cached real images."""

    view: dict[str, Any]
    _reals: tuple = (None, None, None, None)  # (key, uint8 grid, rows for D, their labels)
    metrics_at: float = field(default=-1e9)
    pending: Any = None  # (future of the image metrics, epoch they measure)
    ready: Any = None  # WeakMethod called on the loop when the thread's image metrics are done
    _waiting: Any = None  # the future ``ready`` waits for

    def on_ready(self, method) -> None:
        """Call ``method`` (weakly held: the session owns this builder) on the event loop when
        image metrics computed in the thread are done, so that a paused session sends them."""
        self.ready = weakref.WeakMethod(method)
    reals_sent: Any = None  # the data set whose real grid the client already has

    def reals(self, t) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(uint8 grid of real images, HIST_N real rows in [-1, 1], their labels for a
        conditional D or None), fixed per data set."""
        key = (t.config.data, repr(t.config.data_params), bool(_conditional(t)), t.config.seed)
        if self._reals[0] != key:
            # A stream of our own, as the 2D real layer has: drawing from the trainer's sample
            # stream would make a snapshot depend on which frames were built.
            rng = np.random.default_rng([t.config.seed, 0x6A1AB])
            x, y = t.sampler.labelled(rng, max(HIST_N, GRID_COLS * 10 * 4))
            x = np.asarray(x, np.float32)
            if _conditional(t) and y is not None:
                rows = [x[y == c][:GRID_COLS] for c in range(t.classes)]
                rows = [np.vstack([r, np.full((GRID_COLS - len(r), x.shape[1]), -1, np.float32)])
                        for r in rows]
                grid = np.vstack(rows)
            else:
                grid = x[:GRID]
            yl = None if y is None or not _conditional(t) else np.asarray(y)[:HIST_N]
            self._reals = (key, to_uint8(grid), x[:HIST_N], yl)
        return self._reals[1:]

    def grid_inputs(self, t) -> tuple[np.ndarray, np.ndarray | None]:
        """(noise, labels or None) of the fixed-noise grid."""
        if _conditional(t):
            z = np.tile(t.viz_noise(GRID_COLS), (t.classes, 1))
            return z, np.repeat(np.arange(t.classes), GRID_COLS)
        return t.viz_noise(GRID), None

    def parts(self, t, with_metrics: bool = True) -> Generator[None, None, tuple]:
        """(layers, metrics) of the current state, yielding between network passes."""
        want = [x for x in self.view["layers"] if x in IMAGE_LAYERS] or list(IMAGE_LAYERS)
        out: dict[str, np.ndarray] = {}
        real_grid, real_rows, real_labels = self.reals(t)
        z, labels = self.grid_inputs(t)
        fakes = _sample(t, z, labels)
        if "fakes_grid" in want:
            out["fakes_grid"] = to_uint8(fakes)
        if "reals_grid" in want and self.reals_sent != self._reals[0]:
            out["reals_grid"] = real_grid
            self.reals_sent = self._reals[0]
        if "walk" in want:
            yield
            cfg = t.config
            zw = walk_noise(cfg.noise, cfg.noise_dim, cfg.seed, int(self.view.get("walk_seed", 0)))
            lw = None if labels is None else np.full(len(zw), int(self.view.get("walk_class", 0)) % t.classes)
            out["walk"] = to_uint8(_sample(t, zw, lw))
        d_real = d_fake = None
        if "d_hist" in want or with_metrics:
            yield
            # The grid's own fakes and as many real images: no extra pass of G (a frame of the
            # MNIST tutorial's model costs about what a training update does, mostly in G).
            k = len(fakes)
            d_real = _discriminate(t, real_rows[:k], None if real_labels is None else real_labels[:k])
            d_fake = _discriminate(t, fakes, labels)
            if "d_hist" in want:
                edges = np.linspace(0.0, 1.0, BINS + 1)
                out["d_hist"] = np.vstack([np.histogram(d_real, edges)[0], np.histogram(d_fake, edges)[0]]
                                          ).astype(np.float32)
        if "d_grad_image" in want:
            yield
            k = min(GRAD_N, len(fakes))
            gl = None if labels is None else labels[:k]
            out["d_grad_image"] = np.asarray(_d_grad(t, fakes[:k], gl), np.float32)
        if not with_metrics:
            return out, {}
        metrics: dict[str, Any] = {"d_real": float(np.mean(d_real)), "d_fake": float(np.mean(d_fake))}
        if self.pending is not None and self.pending[0].done():
            fut, epoch = self.pending
            self.pending = None
            if fut.exception() is None:
                metrics.update(fut.result(), at_epoch=epoch)
        now = time.monotonic()
        ref = reference(t.config.data)
        if ref is None and self.ready is not None and (fut := reference_future(t.config.data)) is not None:
            self._when_done(fut)  # the reference is being built: a frame then starts the metrics
        if ref is not None and self.pending is None and now - self.metrics_at >= METRIC_SECONDS:
            self.metrics_at = now
            mz = t.viz_noise(METRIC_N)
            ml = None if labels is None else np.arange(METRIC_N) % t.classes
            x = []
            for i in range(0, METRIC_N, METRIC_BLOCK):  # G on 500 noise vectors: a few passes
                yield
                part = slice(i, i + METRIC_BLOCK)
                x.append(np.array(_sample(t, mz[part], None if ml is None else ml[part])))
            fut = _pool.submit(image_metrics, ref, np.concatenate(x))  # copies: training goes on
            self.pending = (fut, t.epoch)
            if self.ready is not None:
                self._when_done(fut)
        return out, metrics

    def _when_done(self, fut: concurrent.futures.Future) -> None:
        """Call ``ready`` on this loop when ``fut`` is done (once per future)."""
        if fut is self._waiting:
            return
        self._waiting = fut
        loop, ready = asyncio.get_running_loop(), self.ready

        def done(_) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (server shut down)
                loop.call_soon_threadsafe(_call, ready)

        fut.add_done_callback(done)


def image_metrics(ref, x: np.ndarray) -> dict[str, Any]:
    """The frame's image metrics (docs/protocol.md, "Metrics of an image frame") of fakes x."""
    m = ref.measure(x, neighbours=4)
    out = {k: m[k] for k in ("classes_captured", "classes_total", "class_counts", "confident",
                             "digit_score")}
    out["class_min"] = m["min_count"]
    if "fd" in m:
        out["fd"] = m["fd"]
        out["fd_floor"] = m["fd_floor"]["mean"]
    out["nearest_real"] = float(np.mean([r["distance"] for r in m["nearest_real"]]))
    return out


def _call(ref) -> None:
    fn = ref()
    if fn is not None:
        fn()


def _conditional(t) -> bool:
    return bool(getattr(t.config, "conditional", False))


def _sample(t, z: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    return t.sample(noise=z) if labels is None else t.sample(noise=z, labels=labels)


def _discriminate(t, x, labels):
    return t.discriminate(x) if labels is None else t.discriminate(x, labels=labels)


def _d_grad(t, x, labels):
    return t.d_grad(x) if labels is None else t.d_grad(x, labels=labels)


__all__ = ["IMAGE_LAYERS", "ImageFrameBuilder", "image_metrics", "reference", "slerp", "to_uint8",
           "walk_noise"]
