"""Values per setting side by side (a sweep's summary): one panel per metric, one row per setting,
every value a dot, the median a bar, the range a line; with Pillow."""

from __future__ import annotations

import math
import statistics

from PIL import Image, ImageDraw

from .chart import RUN_COLORS, _fmt, nice_ticks
from .dataview import font


def plot_ranges(labels: list[str], panels: list[tuple], width: int = 1000, row_height: int = 26) -> Image.Image:
    """``panels``: (title, values per label[, (lo, hi) of the axis]); labels down the left, one
    panel per metric below the other; without limits the x axis spans the data (and 0 when all
    values are >= 0)."""
    if not labels or not panels:
        raise ValueError("plot_ranges needs at least one setting and one panel")
    f, fs = font(14), font(12)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = min(width // 2, int(max(probe.textlength(s, font=fs) for s in labels)) + 24)
    panel_h = 30 + row_height * len(labels) + 34
    img = Image.new("RGB", (width, panel_h * len(panels) + 8), (255, 255, 255))
    d = ImageDraw.Draw(img)
    ink, grid = (60, 60, 60), (228, 228, 228)
    for p, (title, values, *limits) in enumerate(panels):
        Y = p * panel_h + 4
        left, right, top = label_w, width - 20, Y + 26
        bottom = top + row_height * len(labels)
        d.text((left, Y + 4), title, fill=(20, 20, 20), font=f)
        xs = [v for vs in values for v in vs if math.isfinite(v)]
        lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
        lo = min(lo, 0.0) if lo >= 0 else lo
        if limits and limits[0] is not None:
            lo, hi = min(lo, limits[0][0]), max(hi, limits[0][1])
        pad = 0.04 * (hi - lo) or 0.5
        lo, hi = lo - (pad if lo < 0 else 0), hi + pad

        def sx(v, lo=lo, hi=hi, left=left, right=right):
            return left + (v - lo) / (hi - lo) * (right - left)

        for t in nice_ticks(lo, hi, 6):
            if lo <= t <= hi:
                d.line((sx(t), top, sx(t), bottom), fill=grid)
                d.text((sx(t), bottom + 6), _fmt(t), fill=ink, font=fs, anchor="ma")
        d.rectangle((left, top, right, bottom), outline=(120, 120, 120))
        for i, (label, vs) in enumerate(zip(labels, values, strict=True)):
            cy = top + row_height * i + row_height / 2
            d.text((left - 8, cy), label, fill=ink, font=fs, anchor="rm")
            vs = [v for v in vs if math.isfinite(v)]
            if not vs:
                d.text((left + 6, cy), "no value", fill=(150, 150, 150), font=fs, anchor="lm")
                continue
            c = RUN_COLORS[i % len(RUN_COLORS)]
            d.line((sx(min(vs)), cy, sx(max(vs)), cy), fill=c, width=2)
            for v in vs:
                d.ellipse((sx(v) - 3, cy - 3, sx(v) + 3, cy + 3), outline=c, fill=(255, 255, 255))
            m = sx(statistics.median(vs))
            d.rectangle((m - 2, cy - 8, m + 2, cy + 8), fill=c)
    return img
