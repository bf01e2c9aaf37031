"""The data view as a Pillow image: D's heatmap, real and fake samples, optional gradient arrows
and the generator manifold, a legend and the epoch; the unit square outlined when the view is
wider. It paints what static/dataview.js paints, in the same order and colours, from the layers
of :mod:`ganlab.views` (no second copy of the math)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .. import views
from ..metrics import reference_real
from . import colors as C
from .extent import UNIT, needed_extent
from .palette import HeatBands, palette_rgb, to_palette

LAYERS = ("heatmap", "real", "fake", "d_grad", "g_grad", "manifold")
LEGEND = {"heatmap": "D(x): green real, purple fake", "real": "real samples", "fake": "fake samples G(z)",
          "d_grad": "gradients dD/dx", "g_grad": "G-loss gradients", "manifold": "generator manifold"}
SWATCH = {"real": C.REAL, "fake": C.FAKE_FILL, "d_grad": C.GRAD, "g_grad": C.G_GRAD, "manifold": C.FAKE}


@dataclass(frozen=True)
class ViewSpec:
    """What to draw. ``layers`` from LAYERS (the page's default four); ``size`` px of the square
    image; ``heatmap`` grid cells a side (30..200), ``samples`` real and fake points, ``manifold``
    noise grid a side; ``extent`` (x0, y0, x1, y1) or None to fit the fakes as the page does;
    ``legend`` draws the legend and the captions (none on thumbnails); ``epoch`` the epoch
    (None: as ``legend``);
    ``supersample`` paints at k times the size and scales down (smooth dots and lines)."""

    layers: tuple[str, ...] = ("heatmap", "real", "fake", "d_grad")
    size: int = 400
    heatmap: int = 50
    samples: int = 500
    manifold: int = 20
    extent: tuple[float, float, float, float] | None = None
    legend: bool = True
    supersample: int = 2
    title: str | None = None
    epoch: bool | None = None

    @property
    def shows_epoch(self) -> bool:
        return self.legend if self.epoch is None else self.epoch

    def __post_init__(self) -> None:
        bad = [x for x in self.layers if x not in LAYERS]
        if bad:
            raise ValueError(f"view layers: unknown {', '.join(map(repr, bad))}; choose from {', '.join(LAYERS)}")
        if not 16 <= self.size <= 4096:
            raise ValueError(f"view size must be in 16..4096 px, got {self.size}")
        views.check_grid(self.heatmap)
        if not 1 <= self.samples <= 20_000:
            raise ValueError(f"view samples must be in 1..20000, got {self.samples}")
        if not 1 <= self.supersample <= 4:
            raise ValueError(f"supersample must be in 1..4, got {self.supersample}")

    def with_(self, **kw) -> ViewSpec:
        return replace(self, **kw)


def font(px: float) -> ImageFont.ImageFont:
    """Pillow's built-in scalable font (no font file needed)."""
    return ImageFont.load_default(max(6, round(px)))


def fakes(trainer, spec: ViewSpec) -> np.ndarray:
    """G on the fixed visualisation noise (the page's: frames of an animation glide)."""
    return trainer.sample(noise=trainer.viz_noise(spec.samples))


def view_layers(trainer, spec: ViewSpec, extent=None, fake=None) -> dict[str, np.ndarray]:
    """The arrays a view draws: the page's frame layers (real: the fixed reference points; fake:
    :func:`fakes`, or ``fake`` when given)."""
    want = set(spec.layers)
    fake = fakes(trainer, spec) if fake is None else fake
    out = {"fake": fake}
    if "real" in want:
        out["real"] = reference_real(trainer, spec.samples)
    if "heatmap" in want:
        out["heatmap"] = views.heatmap(trainer, spec.heatmap, tuple(extent or UNIT))
    if "d_grad" in want or "g_grad" in want:
        out["d_grad"], out["g_grad"] = views.gradients(trainer, fake)
    if "manifold" in want:
        out["manifold"], out["manifold_area"] = views.manifold(trainer, spec.manifold)
    return out


def render_view(trainer, spec: ViewSpec | None = None, extent=None) -> Image.Image:
    """The data view of ``trainer`` now as an RGB image of spec.size px a side. ``extent``
    overrides spec.extent; with neither, the view fits the fakes (:func:`needed_extent`)."""
    spec = spec or ViewSpec()
    ext = extent or spec.extent
    fake = fakes(trainer, spec)
    if ext is None:
        ext = needed_extent(fake)
    return paint(view_layers(trainer, spec, ext, fake), spec, ext, trainer.epoch)


def paint(layers: dict[str, np.ndarray], spec: ViewSpec, extent, epoch: int | None = None) -> Image.Image:
    """Paint ``layers`` (as :func:`view_layers` returns) over ``extent``; see :func:`render_view`."""
    return _paint(layers, spec, extent, epoch)


def paint_indexed(layers: dict[str, np.ndarray], spec: ViewSpec, extent, epoch: int | None = None,
                  bands: HeatBands | None = None) -> Image.Image:
    """:func:`paint` on the fixed GIF palette ("P"), with the heatmap painted in the palette's
    bands straight from D instead of smooth colour (``bands``: an animation's
    :class:`~ganlab.render.palette.HeatBands`, which holds each pixel's band from frame to
    frame; a fresh one by default): a pixel the heatmap alone covers keeps its index while D
    there stays in its band, and a sample or the legend drawn over it blends with a colour that
    stays put too. Dots, arrows and lines are painted unsmoothed (supersample 1, whatever
    ``spec`` says): a smoothed edge blends into colours that map to scattered palette indices,
    which change wherever a dot moves (200 frames of the default data, seed 1: 5.05 MB smoothed,
    4.21 unsmoothed). Every pixel is then the palette's nearest colour to the painted one (the
    bands' own colours map to themselves)."""
    return to_palette(_paint(layers, replace(spec, supersample=1), extent, epoch, banded=bands or HeatBands()))


def _paint(layers, spec: ViewSpec, extent, epoch, banded: HeatBands | None = None) -> Image.Image:
    k = spec.supersample
    W = spec.size * k
    x0, y0, x1, y1 = (float(v) for v in extent)
    sx = W / (x1 - x0)

    def px(x):
        return (np.asarray(x) - x0) * sx

    def py(y):
        return (y1 - np.asarray(y)) * sx

    img = Image.new("RGB", (W, W), (255, 255, 255))
    if "heatmap" in spec.layers and "heatmap" in layers:
        # One pixel per cell, scaled up smoothly (as the page's drawImage with smoothing).
        if banded:  # bands at the final size, each pixel k x k: scaling down gives the same colours
            ground = palette_rgb()[banded.indices(layers["heatmap"], spec.size)]
            img = Image.fromarray(ground.repeat(k, axis=0).repeat(k, axis=1), "RGB")
        else:
            img = Image.fromarray(C.heat_colors(layers["heatmap"]), "RGB").resize((W, W), Image.Resampling.BILINEAR)
    d = ImageDraw.Draw(img, "RGBA")
    wide = any(abs(a - b) > 1e-9 for a, b in zip(extent, UNIT, strict=True))
    if wide:  # the unit square, where the real data lives, outlined (dashed) in a wider view
        _dashed_rect(d, px(0), py(1), px(1), py(0), C.rgba(C.INK, 0.55), k, dash=(4 * k, 3 * k))
        if spec.legend:
            f = font(11 * k)
            d.text((px(0) + 3 * k, py(0) - 3 * k), "0", fill=C.rgba(C.INK, 0.7), font=f, anchor="ls")
            d.text((px(1) - 3 * k, py(1) + 3 * k), "1", fill=C.rgba(C.INK, 0.7), font=f, anchor="rt")
    if "manifold" in spec.layers and "manifold" in layers:
        _manifold(d, layers["manifold"], layers["manifold_area"], px, py, k)
    r = max(1.5, 2.2 * (spec.size / 400) ** 0.5) * k
    if "real" in spec.layers and "real" in layers:
        fill = C.rgba(C.REAL, 0.75)
        for x, y in zip(px(layers["real"][:, 0]), py(layers["real"][:, 1]), strict=True):
            d.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    fake = layers["fake"]
    if "d_grad" in spec.layers and "d_grad" in layers:
        _arrows(d, fake, layers["d_grad"], 0.15, C.GRAD, px, py, W, k)
    if "g_grad" in spec.layers and "g_grad" in layers:
        _arrows(d, fake, layers["g_grad"], None, C.G_GRAD, px, py, W, k)
    if "fake" in spec.layers:
        _fakes(d, fake, px, py, W, r, k, spec.legend)
    if spec.legend or spec.shows_epoch:
        _legend(d, spec, epoch if spec.shows_epoch else None, k)
    if k > 1:
        img = img.resize((spec.size, spec.size), Image.Resampling.BOX)
    return img


def _dashed_rect(d, l, t, r, b, fill, k, dash):
    on, off = dash
    for (a, c) in (((l, t), (r, t)), ((r, t), (r, b)), ((r, b), (l, b)), ((l, b), (l, t))):
        n = math.hypot(c[0] - a[0], c[1] - a[1])
        ux, uy = (c[0] - a[0]) / (n or 1), (c[1] - a[1]) / (n or 1)
        s = 0.0
        while s < n:
            e = min(n, s + on)
            d.line((a[0] + ux * s, a[1] + uy * s, a[0] + ux * e, a[1] + uy * e), fill=fill, width=k)
            s += on + off


def _fakes(d, fake, px, py, W, r, k, say: bool):
    """Fakes as filled dots; those beyond the view pinned to its border as rings (as the page)."""
    fill, ring = C.rgba(C.FAKE_FILL, 0.8), C.rgba(C.FAKE, 1.0)
    X, Y = px(fake[:, 0]), py(fake[:, 1])
    lo, hi = 0.005 * W, 0.995 * W
    with np.errstate(invalid="ignore"):
        inside_unit = ((fake >= 0) & (fake <= 1)).all(axis=1)
        out = ~((X >= 0) & (X <= W) & (Y >= 0) & (Y <= W))
    Xc = np.clip(np.nan_to_num(X), lo, hi)
    Yc = np.clip(np.nan_to_num(Y), lo, hi)
    for x, y, o in zip(Xc, Yc, out, strict=True):
        d.ellipse((x - r, y - r, x + r, y + r), fill=None if o else fill, outline=ring, width=k)
    outside = int((~inside_unit).sum())
    if outside and say:
        beyond = int(out.sum())
        text = f"{outside} of {len(fake)} fakes outside the unit square"
        if beyond:
            text += f" ({beyond} beyond the view)"
        size = 12 * k
        room = W - 12 * k
        width = d.textlength(text, font=font(size))
        if width > room:  # a small view: a smaller font, never a clipped caption
            size *= room / width
        d.text((W - 6 * k, 6 * k), text, fill=C.rgba(C.FAKE, 1.0), font=font(size), anchor="ra")


def _arrows(d, fake, g, scale, color, px, py, W, k):
    """An arrow from each fake along g: scale 0.15 (GAN Lab's, for dD/dx) or None (the longest
    arrow 0.1 of the square); lengths saturate at 0.08 (0.08 tanh(l / 0.08)), in the unit
    square's scale whatever the extent (static/dataview.js drawArrows)."""
    g = np.nan_to_num(np.asarray(g, dtype=float))
    if scale is None:
        scale = 0.1 / max(1e-12, float(np.hypot(g[:, 0], g[:, 1]).max(initial=0.0)))
    dx, dy = g[:, 0] * scale, g[:, 1] * scale
    raw = np.hypot(dx, dy)
    ok = raw > 1e-4
    length = 0.08 * np.tanh(raw / 0.08)
    f = np.where(ok, length / np.where(ok, raw, 1), 0)
    dx, dy = dx * f, dy * f
    X0, Y0 = px(fake[:, 0]), py(fake[:, 1])
    col = C.rgba(color, 0.85)
    w = max(1, round(1.3 * k))
    for x0, y0, ddx, ddy, L, good in zip(X0, Y0, dx, dy, length, ok, strict=True):
        if not good or not (math.isfinite(x0) and math.isfinite(y0)):
            continue
        x1, y1 = x0 + ddx * W, y0 - ddy * W
        d.line((x0, y0, x1, y1), fill=col, width=w)
        a, h = math.atan2(y1 - y0, x1 - x0), min(5 * k, L * W * 0.4)
        for s in (-0.5, 0.5):
            d.line((x1, y1, x1 - h * math.cos(a + s), y1 - h * math.sin(a + s)), fill=col, width=w)


def _manifold(d, M, A, px, py, k):
    """G on the noise grid: quads whose opacity grows with density (1 / area), or a curve for 1D
    noise (static/dataview.js drawManifold at t = 1)."""
    X, Y = px(M[..., 0]), py(M[..., 1])
    line = C.rgba(C.FAKE, 0.35)
    if M.shape[0] == 1:
        d.line(list(zip(X[0], Y[0], strict=True)), fill=line, width=max(1, round(2.1 * k)))
        return
    area = np.abs(A)
    mean = float(area.mean()) if area.size else 1.0
    for i in range(M.shape[0] - 1):
        for j in range(M.shape[1] - 1):
            op = min(0.55, 0.1 * (mean / max(float(area[i, j]), 1e-9)) ** 0.7)
            q = [(X[i, j], Y[i, j]), (X[i, j + 1], Y[i, j + 1]), (X[i + 1, j + 1], Y[i + 1, j + 1]),
                 (X[i + 1, j], Y[i + 1, j])]
            if all(math.isfinite(v) for p in q for v in p):
                d.polygon(q, fill=C.rgba(C.FAKE_FILL, op), outline=line)


def _legend(d, spec: ViewSpec, epoch, k):
    """Epoch (and title) over a legend of the shown layers, in a pale box at the bottom left."""
    f, fb = font(11 * k), font(13 * k)
    rows = [(n, LEGEND[n]) for n in LAYERS if n in spec.layers] if spec.legend else []
    head = " · ".join(s for s in (spec.title, None if epoch is None else f"epoch {epoch:,}") if s)
    lh = 15 * k
    h = len(rows) * lh + (18 * k if head else 0) + 8 * k
    w = 8 * k + max([d.textlength(t, font=f) + 18 * k for _, t in rows] + [d.textlength(head, font=fb)])
    W = spec.size * k
    x, y = 6 * k, W - 6 * k - h
    d.rectangle((x, y, x + w + 8 * k, y + h), fill=(255, 255, 255, 200))
    cy = y + 5 * k
    if head:
        d.text((x + 6 * k, cy), head, fill=(20, 20, 20, 255), font=fb)
        cy += 18 * k
    for name, text in rows:
        sw = (x + 6 * k, cy + 2 * k, x + 16 * k, cy + 12 * k)
        if name == "heatmap":
            half = (sw[0] + sw[2]) / 2
            d.rectangle((sw[0], sw[1], half, sw[3]), fill=(*C.heat_colors(0.0).tolist(), 255))
            d.rectangle((half, sw[1], sw[2], sw[3]), fill=(*C.heat_colors(1.0).tolist(), 255))
        else:
            d.ellipse(sw, fill=C.rgba(SWATCH[name], 0.9))
        d.text((sw[2] + 5 * k, cy), text, fill=(40, 40, 40, 255), font=f)
        cy += lh
