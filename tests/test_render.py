"""The Pillow renderer: the data view in the page's colours, image grids, curves, animations that
decode to the expected frames."""

import numpy as np
import pytest
from PIL import Image

from ganlab import Trainer
from ganlab.render import Animation, ViewSpec, image_grid, needed_extent, plot_curves, render_view
from ganlab.render import colors as C
from ganlab.render.animate import encode
from ganlab.render.chart import nice_ticks
from ganlab.render.palette import fixed_palette
from ganlab.runs import train_with


def near(img, color, tol=40):
    a = np.asarray(img.convert("RGB"), dtype=int)
    return int((np.abs(a - np.array(color)).sum(axis=2) < tol).sum())


def test_heat_colors_are_the_pages():
    # static/dataview.js heatColor: n + (end - n) * |t - 0.5| * 2 * 0.62, purple below 1/2
    n, real, fake = np.array(C.NEUTRAL), np.array(C.REAL), np.array(C.FAKE)
    assert C.heat_colors(0.5).tolist() == list(C.NEUTRAL)
    assert C.heat_colors(1.0).tolist() == np.rint(n + (real - n) * 0.62).astype(int).tolist()
    assert C.heat_colors(0.25).tolist() == np.rint(n + (fake - n) * 0.31).astype(int).tolist()
    assert C.heat_colors(np.nan).tolist() == list(C.NEUTRAL)


def test_needed_extent_follows_the_page():
    assert needed_extent(np.array([[0.2, 0.3], [0.9, 0.9]])) == (0.0, 0.0, 1.0, 1.0)
    e = needed_extent(np.array([[0.5, 0.5], [2.0, 0.5], [np.nan, 5]]))
    assert e[0] <= 0 and e[2] >= 2.0 and e[1] <= 0 and e[3] >= 1
    assert abs((e[2] - e[0]) - (e[3] - e[1])) < 1e-9  # square
    assert all(abs(v / 0.05 - round(v / 0.05)) < 1e-6 for v in (e[0], e[2]))  # snapped


def test_render_view_paints_the_layers_in_the_pages_colours():
    t = Trainer(seed=0)
    t.train(200)
    img = render_view(t, ViewSpec(layers=("real", "fake"), size=200, legend=False, extent=(0, 0, 1, 1)))
    assert img.size == (200, 200) and img.mode == "RGB"
    assert near(img, C.REAL, 60) > 50 and near(img, C.FAKE_FILL, 60) > 50
    bare = render_view(t, ViewSpec(layers=("heatmap",), size=200, legend=False, extent=(0, 0, 1, 1)))
    assert near(bare, C.REAL, 60) == 0 and near(bare, C.FAKE_FILL, 60) == 0
    # the heatmap's colours are D's: the pixel at a point's place has heat_colors(D(point))
    d = t.discriminate(np.array([[0.5, 0.5]]))[0]
    px = np.asarray(bare)[100, 100].astype(int)
    assert np.abs(px - C.heat_colors(d).astype(int)).max() <= 6
    full = render_view(t, ViewSpec(layers=("heatmap", "real", "fake", "d_grad", "g_grad", "manifold"), size=150))
    assert full.size == (150, 150)


def test_a_wide_view_outlines_the_unit_square():
    t = Trainer(seed=0)
    img = render_view(t, ViewSpec(layers=("real",), size=200, legend=False, supersample=1, extent=(-1, -1, 2, 2)))
    a = np.asarray(img).astype(int)
    x0 = round((0 - -1) / 3 * 200)  # the square's left edge, dashed: dark pixels along it
    col = a[80:120, x0 - 1 : x0 + 2].min(axis=1).sum(axis=1)
    assert (col < 600).sum() >= 10


def test_bad_view_specs_are_refused():
    with pytest.raises(ValueError, match="unknown 'arrows'"):
        ViewSpec(layers=("arrows",))
    with pytest.raises(ValueError, match="grid size must be in 30..200"):
        ViewSpec(heatmap=5)


def test_image_grid_places_each_image():
    imgs = np.zeros((5, 3, 4), np.uint8)
    for i in range(5):
        imgs[i] = 10 * (i + 1)
    g = image_grid(imgs, cols=3, scale=2, pad=1)
    a = np.asarray(g)
    assert g.mode == "L" and a.shape == (2 * (6 + 1) + 1, 3 * (8 + 1) + 1)
    assert a[1, 1] == 10 and a[1, 10] == 20 and a[8, 1] == 40 and a[8, 10] == 50 and a[8, 19] == 255
    with pytest.raises(ValueError, match=r"uint8 \(n, h, w\)"):
        image_grid(np.zeros((2, 3, 3), float))


def test_plot_curves_draws_each_run_in_its_colour():
    rows_a = [{"epoch": e, "kl": 10 / (1 + e), "d_loss": 1.3} for e in range(0, 1000, 100)]
    rows_b = [{"epoch": e, "kl": 5 / (1 + e), "d_loss": None} for e in range(0, 1000, 100)]
    img = plot_curves([("a", rows_a), ("b", rows_b)], ["d_loss", "kl"], width=800, panel_height=240)
    assert img.size[0] == 800
    from ganlab.render.chart import RUN_COLORS
    assert near(img, RUN_COLORS[0], 10) > 100 and near(img, RUN_COLORS[1], 10) > 50
    assert nice_ticks(0, 1000, 5) == [0, 200, 400, 600, 800, 1000]


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animations_decode_to_the_expected_frames(tmp_path, suffix):
    t = Trainer(seed=0)
    path = tmp_path / f"a{suffix}"
    anim = Animation(path, every=10, spec=ViewSpec(size=64, supersample=1, heatmap=30, samples=100), fps=20)
    train_with(t, 55, [anim])
    size = anim.close(t)
    assert size == path.stat().st_size
    with Image.open(path) as im:
        assert im.size == (64, 64) and im.n_frames == 7  # epochs 0, 10, ..., 50 and the final 55
        pal = fixed_palette().getpalette()
        allowed = {tuple(pal[i : i + 3]) for i in range(0, len(pal), 3)}
        for k in (0, 6):
            im.seek(k)
            colors = {c for _, c in im.convert("RGB").getcolors(1 << 16)}
            assert len(colors) > 3
            if suffix == ".gif":  # every frame on the one fixed palette
                assert colors <= allowed


def test_animation_refuses_a_bad_suffix(tmp_path):
    with pytest.raises(ValueError, match="an animation is .gif, .webp or .png"):
        Animation(tmp_path / "a.mp4")
    with pytest.raises(ValueError, match="needs at least one frame"):
        encode([], tmp_path / "a.gif")


def test_long_animations_are_thinned(tmp_path, monkeypatch):
    from ganlab.render import animate

    monkeypatch.setattr(animate, "MAX_FRAMES", 5)
    t = Trainer(seed=0)
    anim = Animation(tmp_path / "a.gif", every=1, spec=ViewSpec(size=32, supersample=1, heatmap=30, samples=20,
                                                                   legend=False))
    train_with(t, 20, [anim])
    assert len(anim.frames) <= 5 and anim.every > 1
    anim.close(t)
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames <= 6


def test_gif_frames_mark_unchanged_pixels_transparent_and_decode_the_same(tmp_path):
    """Runs of pixels equal to the previous frame's are stored as the free palette index
    (disposal 1): the file is smaller and every decoded frame is the frame that was drawn."""
    from ganlab.render.palette import CLEAR, to_palette

    t = Trainer(seed=0)
    anim = Animation(tmp_path / "a.png", every=5, spec=ViewSpec(size=96, heatmap=30, samples=100))  # RGB frames
    train_with(t, 40, [anim])
    rgb = [f for _, f in anim.frames]
    size = encode(rgb, tmp_path / "a.gif")
    pal = [to_palette(f) for f in rgb]
    pal[0].save(tmp_path / "plain.gif", save_all=True, append_images=pal[1:], duration=100, loop=0, optimize=False)
    assert size < (tmp_path / "plain.gif").stat().st_size
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == len(rgb) and im.info.get("transparency") == CLEAR
        for k, f in enumerate(pal):
            im.seek(k)
            assert np.array_equal(np.asarray(im.convert("RGB")), np.asarray(f.convert("RGB"))), k


def bilinear(grid: np.ndarray, size: int) -> np.ndarray:
    """``grid`` (n, n) sampled at the centres of a size x size image over the same square
    (edges clamped): what a smooth scale-up shows at each pixel."""
    n = grid.shape[0]
    c = np.clip((np.arange(size) + 0.5) * n / size - 0.5, 0, n - 1)
    i0 = np.minimum(np.floor(c).astype(int), n - 2)
    f = c - i0
    rows = grid[i0] * (1 - f)[:, None] + grid[i0 + 1] * f[:, None]
    return rows[:, i0] * (1 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def test_a_gifs_heatmap_pixel_keeps_its_band_until_d_moves_past_its_edge(tmp_path):
    """Issue 11: frames of the default data's faint heatmap used to be quantised from smooth RGB,
    so almost every pixel stepped to a neighbouring colour each frame and the GIF missed its
    4 MB bar. Each pixel shows the ramp's colour of D's band there (D bilinear at the pixel,
    u = 2 HEAT_BANDS D): band floor(u + 1/2) on the first frame, then its previous band L while
    |u - L| <= 1/2 + HEAT_HOLD (hysteresis: D wobbling across an edge re-stored wide areas every
    frame). Checked on every frame of a GIF against that rule computed here from D; and the hold
    changes fewer pixels than no hold on the same grids."""
    from ganlab import views
    from ganlab.render.palette import HEAT_BANDS, HEAT_HOLD, HeatBands

    t = Trainer(seed=0)  # the page's default data and model
    t.train(300)
    spec = ViewSpec(layers=("heatmap",), size=160, legend=False, extent=(0.0, 0.0, 1.0, 1.0))
    anim = Animation(tmp_path / "a.gif", every=1, spec=spec)
    grids = []
    for _ in range(6):
        anim.capture(t)
        grids.append(views.heatmap(t, spec.heatmap, spec.extent))
        t.train(3)
    anim.close()
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 6 and im.size == (160, 160)
        frames = []
        for k in range(6):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB")).astype(int))
    tol = 1e-4 * 2 * HEAT_BANDS  # float32 interpolation: a pixel this close to a threshold may go either way
    level = sure = None
    for k, (frame, grid) in enumerate(zip(frames, grids, strict=True)):
        u = np.clip(bilinear(grid, spec.size), 0, 1) * 2 * HEAT_BANDS
        fresh = np.floor(u + 0.5)
        on_edge = np.abs(u + 0.5 - np.round(u + 0.5)) <= tol
        if level is None:
            level, sure = fresh, ~on_edge
        else:
            gap = np.abs(u - level)
            held = gap <= 0.5 + HEAT_HOLD
            sure = sure & (np.abs(gap - 0.5 - HEAT_HOLD) > tol) & (held | ~on_edge)
            level = np.where(held, level, fresh)
        assert sure.mean() > 0.8, k
        want = C.heat_colors(level / (2 * HEAT_BANDS)).astype(int)
        assert np.array_equal(frame[sure], want[sure]), k
        assert np.all(np.abs(u - level)[sure] <= 0.5 + HEAT_HOLD)  # D's colour, to half a band plus the hold

    def changes(bands: HeatBands) -> int:
        shown = [bands.indices(g, spec.size) for g in grids]
        return sum(int((a != b).sum()) for a, b in zip(shown, shown[1:], strict=False))

    held, plain = changes(HeatBands()), changes(HeatBands(hold=0.0))
    assert 0 < held < 0.8 * plain, (held, plain)


def test_unchanged_runs_are_cleared_and_runs_with_a_change_are_stored_whole():
    from ganlab.render.animate import _mark_unchanged
    from ganlab.render.palette import CLEAR as X

    prev = np.array([[1, 1, 1, 2, 2, 3], [5, 1, 1, 1, 7, 7]], np.uint8)
    new = np.array([[1, 1, 1, 2, 4, 3], [1, 1, 1, 1, 7, 7]], np.uint8)
    assert _mark_unchanged(prev, new).tolist() == [[X, X, X, X, 4, X], [1, 1, 1, 1, X, X]]
