"""Curves of several runs overlaid, one panel per metric, with Pillow: axes, ticks, a legend."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .dataview import font

# Distinct, colour-blind-friendly line colours (Okabe-Ito), one per run.
RUN_COLORS = [(0, 114, 178), (213, 94, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233), (230, 159, 0),
              (0, 0, 0), (240, 228, 66)]
LOG_METRICS = {"kl", "js", "kl_floor", "js_floor"}
PERCENT = {"high_quality"}  # stored as shares, drawn as %
TITLES = {"d_loss": "D loss", "g_loss": "G loss", "kl": "KL(real || fake), bits (log)",
          "js": "JS, bits (log)", "high_quality": "% high quality", "modes_captured": "modes captured",
          "precision": "precision", "recall": "recall", "d_accuracy": "D accuracy",
          "fd": "FD (classifier features)", "classes_captured": "classes captured", "digit_score": "digit score"}


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About n round ticks (1, 2 or 5 times a power of ten apart) covering [lo, hi]."""
    if not hi > lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 10_000:
        return f"{v / 1000:g}k"
    if a >= 1 or a >= 0.01:
        return f"{v:g}"
    return f"{v:.0e}"


def plot_curves(runs: list[tuple[str, list[dict]]], metrics: list[str], width: int = 1000,
                panel_height: int = 260) -> Image.Image:
    """``runs``: (name, metric rows with "epoch"); one panel per metric in ``metrics`` (two
    columns), each run's series a line in its colour, missing values skipped; KL and JS on a log
    axis. A legend of run names on top."""
    if not runs or not metrics:
        raise ValueError("plot_curves needs at least one run and one metric")
    cols = 1 if len(metrics) == 1 else 2
    rows = math.ceil(len(metrics) / cols)
    legend_h = 22 * math.ceil(len(runs) / 3) + 14
    img = Image.new("RGB", (width, legend_h + rows * panel_height), (255, 255, 255))
    d = ImageDraw.Draw(img)
    f, fs = font(14), font(12)
    x = 12
    for i, (name, _) in enumerate(runs):  # legend
        c = RUN_COLORS[i % len(RUN_COLORS)]
        y = 10 + 22 * (i // 3)
        if i % 3 == 0:
            x = 12
        d.line((x, y + 8, x + 26, y + 8), fill=c, width=3)
        d.text((x + 32, y), name, fill=(30, 30, 30), font=f)
        x += 40 + d.textlength(name, font=f) + 24
    pw = width // cols
    for k, m in enumerate(metrics):
        r, c = divmod(k, cols)
        _panel(d, (c * pw, legend_h + r * panel_height, pw, panel_height), m, runs, f, fs)
    return img


def _panel(d, box, metric, runs, f, fs):
    X, Y, W, H = box
    left, right, top, bottom = X + 64, X + W - 16, Y + 26, Y + H - 40
    d.text((left, Y + 4), TITLES.get(metric, metric), fill=(20, 20, 20), font=f)
    series = []
    for name, rows in runs:
        f = 100.0 if metric in PERCENT else 1.0
        pts = [(r["epoch"], f * r[metric]) for r in rows if isinstance(r.get(metric), int | float)
               and math.isfinite(r[metric])]
        series.append((name, np.array(pts, dtype=float).reshape(-1, 2)))
    log = metric in LOG_METRICS
    allp = np.concatenate([s for _, s in series]) if series else np.zeros((0, 2))
    if log:
        allp = allp[allp[:, 1] > 0]
    d.rectangle((left, top, right, bottom), outline=(120, 120, 120))
    if len(allp) == 0:
        d.text(((left + right) / 2, (top + bottom) / 2), "no data", fill=(120, 120, 120), font=fs, anchor="mm")
        return
    x0, x1 = float(allp[:, 0].min()), float(allp[:, 0].max())
    x1 = x1 if x1 > x0 else x0 + 1
    ys = np.log10(allp[:, 1]) if log else allp[:, 1]
    y0, y1 = float(ys.min()), float(ys.max())
    if log:
        y0, y1 = math.floor(y0), math.ceil(y1) if math.ceil(y1) > math.floor(y0) else math.floor(y0) + 1
    else:
        pad = 0.05 * (y1 - y0) or 0.5
        y0, y1 = y0 - pad, y1 + pad

    def sx(v):
        return left + (v - x0) / (x1 - x0) * (right - left)

    def sy(v):
        return bottom - (v - y0) / (y1 - y0) * (bottom - top)

    grid, ink = (228, 228, 228), (60, 60, 60)
    for t in nice_ticks(x0, x1, 6):
        d.line((sx(t), top, sx(t), bottom), fill=grid)
        d.line((sx(t), bottom, sx(t), bottom + 4), fill=ink)
        d.text((sx(t), bottom + 6), _fmt(t), fill=ink, font=fs, anchor="ma")
    yt = list(range(int(y0), int(y1) + 1)) if log else nice_ticks(y0, y1, 5)
    for t in yt:
        if not y0 - 1e-9 <= t <= y1 + 1e-9:
            continue
        d.line((left, sy(t), right, sy(t)), fill=grid)
        d.line((left - 4, sy(t), left, sy(t)), fill=ink)
        d.text((left - 6, sy(t)), _fmt(10.0 ** t) if log else _fmt(t), fill=ink, font=fs, anchor="rm")
    d.rectangle((left, top, right, bottom), outline=(120, 120, 120))
    d.text(((left + right) / 2, bottom + 22), "epoch", fill=ink, font=fs, anchor="ma")
    for i, (_, s) in enumerate(series):
        if log:
            s = s[s[:, 1] > 0]
        if len(s) == 0:
            continue
        v = np.log10(s[:, 1]) if log else s[:, 1]
        pts = list(zip(sx(s[:, 0]).tolist(), sy(v).tolist(), strict=True))
        c = RUN_COLORS[i % len(RUN_COLORS)]
        if len(pts) == 1:
            px, py = pts[0]
            d.ellipse((px - 3, py - 3, px + 3, py + 3), fill=c)
        else:
            d.line(pts, fill=c, width=2, joint="curve")
