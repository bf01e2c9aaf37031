"""Animations of training with Pillow's encoders (no hand-written encoder, no imageio): GIF on a
fixed palette (the page's colours and the heatmap's ramp: small files, no flicker between frames),
WebP and APNG. :class:`Animation` captures the data view every ``every`` epochs while a trainer
trains (see :func:`ganlab.runs.train_with`) and writes the file at :meth:`Animation.close`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .dataview import ViewSpec, fakes, paint, paint_indexed, view_layers
from .extent import AutoExtent
from .palette import CLEAR, HeatBands, to_palette

FORMATS = {".gif": "gif", ".webp": "webp", ".png": "apng", ".apng": "apng"}
MAX_FRAMES = 500  # beyond this, every other frame is dropped and the interval doubles


def animation_format(path: str | Path) -> str:
    """'gif', 'webp' or 'apng' from the file's suffix; ValueError naming the suffix otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: an animation is .gif, .webp or .png (APNG), not {suffix or 'no suffix'!r}")
    return FORMATS[suffix]


def _mark_unchanged(prev: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Frame ``a`` (palette indices) to draw over ``prev``: pixels equal to ``prev``'s may be
    stored as CLEAR or as themselves (both decode the same), so a run of one index along the
    rows is stored whole when any of its pixels changed and as CLEAR when none did. Runs stay
    runs instead of alternating with CLEAR, which LZW stores in fewer codes (about 6 % smaller
    than clearing every unchanged pixel for the default data)."""
    flat, changed = a.ravel(), (a != prev).ravel()
    start = np.empty(flat.size, bool)
    start[0], start[1:] = True, flat[1:] != flat[:-1]
    keep = np.logical_or.reduceat(changed, np.flatnonzero(start))[np.cumsum(start) - 1]
    return np.where(keep, flat, np.uint8(CLEAR)).reshape(a.shape)


def _unchanged_transparent(frames: list[Image.Image]) -> list[Image.Image] | None:
    """Frames on the fixed palette with the runs of pixels equal to the previous frame's set to
    CLEAR (:func:`_mark_unchanged`): shown over the previous frame (GIF disposal 1), they decode
    to the same pictures, and long runs of one index compress far better. None when a frame
    already uses CLEAR (it cannot be spared)."""
    arrays = [np.asarray(f) for f in frames]
    if any((a == CLEAR).any() for a in arrays):
        return None
    out = [frames[0]]
    pal = frames[0].getpalette()
    for prev, a in zip(arrays, arrays[1:], strict=False):
        img = Image.fromarray(_mark_unchanged(prev, a), "P")
        img.putpalette(pal)
        out.append(img)
    return out


def encode(frames: list[Image.Image], path: str | Path, fmt: str | None = None, fps: float = 10,
           loop: int = 0) -> int:
    """Write ``frames`` (RGB, or "P" on the fixed palette for GIF) as an animation at ``fps``
    frames per second, looping ``loop`` times (0: forever). Returns the file's size in bytes."""
    fmt = fmt or animation_format(path)
    if not frames:
        raise ValueError("an animation needs at least one frame")
    ms = max(20, round(1000 / fps))
    if fmt == "gif":  # grayscale frames (sample grids) keep Pillow's 256-grey palette
        p = [f if f.mode in ("P", "L") else to_palette(f) for f in frames]
        extra = {}
        if all(f.mode == "P" for f in p) and (unchanged := _unchanged_transparent(p)) is not None:
            p, extra = unchanged, {"transparency": CLEAR, "disposal": 1}
        p[0].save(path, format="GIF", save_all=True, append_images=p[1:], duration=ms, loop=loop, optimize=False,
                  **extra)
    elif fmt == "webp":
        rgb = [f if f.mode == "L" else f.convert("RGB") for f in frames]
        rgb[0].save(path, format="WEBP", save_all=True, append_images=rgb[1:], duration=ms, loop=loop,
                    quality=80, method=0)
    elif fmt == "apng":
        rgb = [f if f.mode == "L" else f.convert("RGB") for f in frames]
        rgb[0].save(path, format="PNG", save_all=True, append_images=rgb[1:], duration=ms, loop=loop,
                    compress_level=1)
    else:
        raise ValueError(f"unknown animation format {fmt!r}; choose from gif, webp, apng")
    return Path(path).stat().st_size


class Animation:
    """Frames of the data view every ``every`` epochs, written to ``path`` by :meth:`close`.

    The view follows the fakes with the page's hysteresis (:class:`AutoExtent`). At most
    MAX_FRAMES are kept: past that every other frame is dropped and ``every`` doubles, so a long
    run still fits. Use it as a hook of :func:`ganlab.runs.train_with`."""

    def __init__(self, path: str | Path, every: int = 100, spec: ViewSpec | None = None, fps: float = 10):
        self.path, self.fmt = Path(path), animation_format(path)
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"--every must be an integer >= 1, got {every!r}")
        if not 0.1 <= fps <= 100:
            raise ValueError(f"fps must be in 0.1..100, got {fps}")
        self.every, self.spec, self.fps = every, spec or ViewSpec(), fps
        self.frames: list[tuple[int, Image.Image]] = []
        self.extent = AutoExtent()
        self.bands = HeatBands()  # a GIF's heatmap bands, held from frame to frame
        self.start: int | None = None

    def next_due(self, epoch: int) -> int:
        """The next epoch (> ``epoch``) at which a frame is due."""
        base = self.start or 0
        return base + ((epoch - base) // self.every + 1) * self.every

    def __call__(self, trainer) -> None:
        """Capture a frame if one is due at the trainer's epoch (always the first call's)."""
        if self.start is None:
            self.start = trainer.epoch
        elif (trainer.epoch - self.start) % self.every or (self.frames and self.frames[-1][0] == trainer.epoch):
            return
        self.capture(trainer)

    def frame(self, trainer) -> Image.Image:
        """The picture of ``trainer`` now: the data view (on the GIF palette for a GIF)."""
        spec = self.spec
        fake = fakes(trainer, spec)
        ext = spec.extent or self.extent.update(fake)
        layers = view_layers(trainer, spec, ext, fake)
        if self.fmt == "gif":
            return paint_indexed(layers, spec, ext, trainer.epoch, self.bands)
        return paint(layers, spec, ext, trainer.epoch)

    def capture(self, trainer) -> None:
        self.frames.append((trainer.epoch, self.frame(trainer)))
        if len(self.frames) > MAX_FRAMES:
            self.every *= 2
            base = self.start or 0
            self.frames = [(e, f) for e, f in self.frames if (e - base) % self.every == 0]

    def close(self, trainer=None) -> int:
        """Add the final state (if not captured yet) and write the file; returns its size."""
        if trainer is not None and (not self.frames or self.frames[-1][0] != trainer.epoch):
            self.capture(trainer)
        return encode([f for _, f in self.frames], self.path, self.fmt, self.fps)


class GridAnimation(Animation):
    """Frames of G's sample grid every ``every`` epochs (image data): ``rows`` x ``cols`` samples
    on fixed noise (``seed``, as ``ganlab sample`` draws them: frames show the same z learning),
    each pixel ``scale`` x ``scale`` (0: 3 for 28x28 images, 8 for 8x8), with the epoch in a
    strip below when ``epoch`` is set. Grayscale frames: a GIF keeps 256 greys."""

    def __init__(self, path: str | Path, every: int = 100, rows: int = 8, cols: int = 8, scale: int = 0,
                 epoch: bool = True, fps: float = 10, seed: int = 0):
        super().__init__(path, every, None, fps)
        for name, v in (("rows", rows), ("cols", cols)):
            if not isinstance(v, int) or not 1 <= v <= 32:
                raise ValueError(f"grid {name} must be in 1..32, got {v!r}")
        self.rows, self.cols, self.scale, self.epoch, self.seed = rows, cols, scale, epoch, seed

    def frame(self, trainer) -> Image.Image:
        from ..images_out import sample_grid_image

        img = sample_grid_image(trainer, self.rows, self.cols, self.seed, self.scale)
        return epoch_strip(img, trainer.epoch) if self.epoch else img


def epoch_strip(img: Image.Image, epoch: int) -> Image.Image:
    """``img`` (grayscale) with a white strip below it saying ``epoch N``."""
    from PIL import ImageDraw

    from .dataview import font

    h = 16
    out = Image.new("L", (img.width, img.height + h), 255)
    out.paste(img, (0, 0))
    ImageDraw.Draw(out).text((4, img.height + 2), f"epoch {epoch:,}", fill=0, font=font(11))
    return out
