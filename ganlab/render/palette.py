"""The GIF palette and the heatmap painted straight onto it.

A GIF frame holds palette indices. Quantising each smooth RGB frame to the nearest palette colour
makes the heatmap flicker: D moves a little every frame, its colour crosses one of the ramp's
97 steps almost everywhere, and nearly every pixel is stored again. So the heatmap is painted as
indices: D, interpolated bilinearly to the frame's pixels (as the page's smoothed canvas does
with colours), falls into one of ``2 HEAT_BANDS + 1`` bands of the ramp (:class:`HeatBands`).
A pixel keeps its index until D there moves half a band past a band edge, so frames share the
pixels where D barely moved, and the GIF encoder stores only what changed
(:mod:`ganlab.render.animate`)."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from . import colors as C

RAMP = 97  # heatmap ramp entries in the palette: t = k / 96, k = 0..96
# Bands of the ramp each side of 1/2 (a divisor of 48, so every band's colour is a ramp entry).
# Fewer bands change fewer pixels per frame and show contours more: 200 frames of the default
# data (scripts/bench_animate.py, seed 0, every unchanged pixel cleared) were 5.10 MB with 48
# bands, 4.21 MB with 24, 3.76 MB with 16, 3.46 MB with 12. An ordered dither hid the contours
# but cost 0.7-1.2 MB more (scattered changes compress badly), so there is none.
HEAT_BANDS = 16
# Hysteresis, in bands: over an animation a pixel keeps its band until D there moves half a band
# beyond the band's edge (:class:`HeatBands`). D wobbles by about a band from frame to frame
# over wide areas where it is near 1/2, and each wobble across an edge re-stored those pixels:
# 200 frames of the default data on seed 1 were 5.05 MB without it, 4.68 with a hold of 0.3,
# 4.54 with 0.6 (with dots painted unsmoothed too, see dataview.paint_indexed: 4.21 and 3.80
# at 0.5).
HEAT_HOLD = 0.5
CLEAR = 255  # the palette index left free for "unchanged since the last frame" (GIF transparency)


def _palette_colors() -> list[tuple[int, int, int]]:
    """White, black, the heatmap ramp, and the layers' colours blended at a few opacities over
    white and over the ramp's two ends and middle: what a data view is painted with."""
    ramp = [tuple(c) for c in C.heat_colors(np.linspace(0, 1, RAMP)).tolist()]
    grounds = [(255, 255, 255), *(tuple(C.heat_colors(v).tolist()) for v in (0.0, 0.5, 1.0))]
    out = [(255, 255, 255), (0, 0, 0)] + ramp
    for c in (C.REAL, C.FAKE, C.FAKE_FILL, C.GRAD, C.G_GRAD, C.INK):
        for a in (1.0, 0.8, 0.55, 0.3):
            for g in grounds:
                out.append(tuple(int(round(a * x + (1 - a) * y)) for x, y in zip(c, g, strict=True)))
    out += [(v, v, v) for v in range(0, 256, 17)]
    seen: dict = {}
    for c in out:
        seen.setdefault(c, None)
    return list(seen)[:CLEAR]


@functools.cache
def palette_rgb() -> np.ndarray:
    """uint8 (k, 3), k <= 255: the fixed palette's colours by index (index CLEAR stays free)."""
    return np.array(_palette_colors(), np.uint8)


@functools.cache
def fixed_palette() -> Image.Image:
    """A "P" image holding the fixed GIF palette."""
    flat = palette_rgb().ravel().tolist()
    img = Image.new("P", (1, 1))
    img.putpalette(flat + [0] * (768 - len(flat)))
    return img


@functools.cache
def ramp_index() -> np.ndarray:
    """uint8 (RAMP,): the palette index of the ramp's colour at t = k / (RAMP - 1)."""
    where = {c: i for i, c in enumerate(_palette_colors())}
    return np.array([where[tuple(c)] for c in C.heat_colors(np.linspace(0, 1, RAMP)).tolist()], np.uint8)


@functools.cache
def _nearest_table() -> np.ndarray:
    """uint8 (2**24,): the palette index nearest to each 24-bit colour, filled in as colours are
    met (CLEAR: not yet known; it is never an answer). 16 MiB, once per process."""
    return np.full(1 << 24, CLEAR, np.uint8)


def to_palette(frame: Image.Image) -> Image.Image:
    """An RGB frame on the fixed palette: each pixel the palette's nearest colour (Euclidean in
    RGB, the lowest index on a tie), so a colour of the palette keeps its own index. (Pillow's
    quantize looks colours up in a coarse cache and may pick a neighbour instead: the heatmap's
    bands would not stay put.) No dithering: flat areas stay flat."""
    a = np.asarray(frame.convert("RGB"))
    key = (a[..., 0].astype(np.int32) << 16) | (a[..., 1].astype(np.int32) << 8) | a[..., 2]
    table = _nearest_table()
    idx = table[key]
    new = idx == CLEAR
    if new.any():
        colors = np.unique(key[new])
        rgb = np.stack([colors >> 16, (colors >> 8) & 255, colors & 255], axis=1)
        pal = palette_rgb().astype(np.int32)
        table[colors] = ((rgb[:, None, :] - pal[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
        idx = table[key]
    out = Image.fromarray(idx, "P")
    out.putpalette(fixed_palette().getpalette())
    return out


class HeatBands:
    """The heatmap's bands over the frames of one animation, with hysteresis. With t the bilinear
    interpolation of D's grid (n, n) at a pixel's centre (Pillow's, as the smooth view scales its
    cells; non-finite D reads 1/2, as in ``heat_colors``) and u = 2 bands t, the first frame
    shows band L = floor(u + 1/2), 0..2 bands, in the ramp's colour at t = L / (2 bands); each
    later frame keeps the pixel's previous band L while |u - L| <= 1/2 + hold and takes
    floor(u + 1/2) otherwise. So the colour shown is within (1/2 + hold) / (2 bands) of D
    everywhere, and a pixel changes only when D moved ``hold`` bands past its band's edge."""

    def __init__(self, bands: int = HEAT_BANDS, hold: float = HEAT_HOLD):
        if bands < 1 or (RAMP - 1) % (2 * bands):
            raise ValueError(f"heatmap bands must divide {(RAMP - 1) // 2}, got {bands}")
        if not 0 <= hold < 1:
            raise ValueError(f"heatmap hold must be in [0, 1) bands, got {hold}")
        self.bands, self.hold = bands, hold
        self.level: np.ndarray | None = None

    def indices(self, d: np.ndarray, size: int) -> np.ndarray:
        """uint8 (size, size) palette indices of this frame's heatmap (row 0 at the top)."""
        t = np.nan_to_num(np.asarray(d, dtype=np.float32), nan=0.5, posinf=1.0, neginf=0.0)
        t = np.asarray(Image.fromarray(t, "F").resize((size, size), Image.Resampling.BILINEAR))
        u = np.clip(t, 0, 1) * (2 * self.bands)
        level = np.floor(u + 0.5).astype(np.intp)
        if self.level is not None and self.level.shape == level.shape:
            level = np.where(np.abs(u - self.level) <= 0.5 + self.hold, self.level, level)
        self.level = level
        return ramp_index()[level * ((RAMP - 1) // (2 * self.bands))]
