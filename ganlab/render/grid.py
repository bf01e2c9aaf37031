"""A grid of small images (digit samples) as one picture."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, cols: int | None = None, scale: int = 2, pad: int = 1,
               background: int = 255) -> Image.Image:
    """uint8 images (n, h, w) -> one grayscale image: ``cols`` per row (default ~sqrt n), each
    scaled ``scale`` times (nearest: pixels stay crisp), ``pad`` px of ``background`` between and
    around them. Any other dtype or shape raises ValueError naming it."""
    a = np.asarray(images)
    if a.dtype != np.uint8 or a.ndim != 3 or 0 in a.shape:
        raise ValueError(f"images must be uint8 (n, h, w) with n, h, w >= 1, got {a.dtype} {a.shape}")
    if not (1 <= scale <= 16 and 0 <= pad <= 16):
        raise ValueError(f"scale must be in 1..16 and pad in 0..16, got {scale}, {pad}")
    n, h, w = a.shape
    cols = max(1, min(n, cols or math.ceil(math.sqrt(n))))
    rows = math.ceil(n / cols)
    big = a.repeat(scale, axis=1).repeat(scale, axis=2)
    H, Wd = h * scale, w * scale
    out = np.full((rows * (H + pad) + pad, cols * (Wd + pad) + pad), background, np.uint8)
    for i in range(n):
        r, c = divmod(i, cols)
        y, x = pad + r * (H + pad), pad + c * (Wd + pad)
        out[y : y + H, x : x + Wd] = big[i]
    return Image.fromarray(out, "L")
