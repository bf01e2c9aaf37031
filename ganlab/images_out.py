"""Image GAN output for the CLI: a grid of G's samples as a PNG (the tutorials' sample grid), and
reading a snapshot file of either encoding."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

from . import snapshot_bin
from .noise import sample_noise

MAX_SIDE = 32
GAP = 1  # pixels between tiles (before scaling), drawn mid-grey


class GridError(ValueError):
    """A bad --grid or --scale; the message names the option."""


def parse_grid(text: str) -> tuple[int, int]:
    """"ROWSxCOLS" -> (rows, cols), each in 1..32."""
    m = re.fullmatch(r"\s*(\d{1,3})\s*[xX]\s*(\d{1,3})\s*", str(text))
    if not m or not all(1 <= int(v) <= MAX_SIDE for v in m.groups()):
        raise GridError(f"--grid: expected ROWSxCOLS like 8x8, each 1..{MAX_SIDE}, got {str(text)[:40]!r}")
    return int(m.group(1)), int(m.group(2))


def trainer_from_file(path: str | Path):
    """A Trainer restored from a binary or JSON snapshot file; ValueError naming the file and what
    is wrong (unreadable, oversized, damaged, not a snapshot, invalid)."""
    from .trainer import Trainer

    path = Path(path)
    try:
        size = path.stat().st_size
        if size > snapshot_bin.MAX_BYTES:
            raise ValueError(f"{path}: {size} bytes is more than the {snapshot_bin.MAX_BYTES} a snapshot may have")
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        if snapshot_bin.is_binary(data):
            return Trainer.from_bytes(data)
        try:
            snap = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ValueError("not a ganlab snapshot (neither a binary snapshot nor JSON)") from None
        return Trainer.from_snapshot(snap)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None


def sample_images(trainer, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """uint8 (rows * cols, h, w): G's images for noise from ``seed``, row by row, ink white on
    black as in the data (pixel = (x + 1) / 2 * 255); a conditional G writes class r % classes in
    grid row r."""
    if trainer.image_shape is None:
        raise ValueError(f"the snapshot holds 2D data ({trainer.config.data!r}); `ganlab sample` draws "
                         "grids of images only")
    cfg = trainer.config
    z = sample_noise(np.random.default_rng(seed), cfg.noise, rows * cols, cfg.noise_dim)
    labels = np.repeat(np.arange(rows) % trainer.classes, cols) if cfg.conditional else None
    x = trainer.sample(noise=z, labels=labels)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8).reshape(-1, *trainer.image_shape)


def sample_grid_image(trainer, rows: int, cols: int, seed: int = 0, scale: int = 0):
    """A grayscale Pillow image of :func:`sample_images` laid out by ``ganlab.render.image_grid``
    (mid-grey 1-pixel gaps), each pixel drawn ``scale`` x ``scale`` (0: 3 for 28x28 images, 8 for
    8x8). The same ``seed`` gives the same noise: grids of one run at two epochs compare."""
    from .render.grid import image_grid

    if not 0 <= scale <= 16:
        raise GridError(f"--scale: must be 1..16 (or 0 for the default), got {scale}")
    images = sample_images(trainer, rows, cols, seed)
    scale = scale or (8 if trainer.image_shape[0] <= 8 else 3)
    return image_grid(images, cols=cols, scale=scale, pad=GAP, background=128)


def sample_grid_png(trainer, rows: int, cols: int, seed: int = 0, scale: int = 0) -> bytes:
    """PNG bytes of :func:`sample_grid_image`."""
    buf = io.BytesIO()
    sample_grid_image(trainer, rows, cols, seed, scale).save(buf, format="PNG")
    return buf.getvalue()


__all__ = ["GridError", "parse_grid", "sample_grid_image", "sample_grid_png", "sample_images", "trainer_from_file"]
