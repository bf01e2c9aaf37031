"""The digits views in a real browser (the system chromium, as tests/test_page.py): pick an image
set, play, watch the sample grid change and the class histogram fill, step G alone, reload from
the link, and come back after a dropped connection with the binary snapshot restored."""

from __future__ import annotations

import json
import re
import time
import urllib.request

import pytest

from tests import test_page as tp
from tests.test_page import Page, epoch

browser, server, ui = tp.browser, tp.server, tp.ui  # fixtures


@pytest.fixture(scope="module", autouse=True)
def upload_dir(tmp_path_factory):
    """One upload directory for the module's server and every process it starts, set before any
    starts, as a deployment's environment is. Set by one test alone, the heavy processes that
    earlier tests had started looked in another: a session that had moved to one (one frame over
    ``heavy_frame``) was refused the upload as "unknown distribution" (a page-test loop, 2 runs
    in 13)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANLAB_UPLOAD_DIR", str(tmp_path_factory.mktemp("uploads")))
        yield

GRID_JS = """(id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let h = 0;
    for (let i = 0; i < d.length; i += 4) h = (h * 31 + d[i]) | 0;
    return c.width + 'x' + c.height + ':' + h;
}"""
INK_JS = """(id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 128) n++;
    return n;
}"""


def open_digits(ui, name="digits8"):
    pg = ui.open()
    pg.click(f"#data-{name}")
    pg.wait_for_function("window.ganlab.imageMode && window.ganlab.lastMeta && window.ganlab.lastMeta.image"
                         " && window.ganlab.digits.reals")
    return pg


def test_pick_digits_play_watch_the_grid_change_and_the_histogram_fill(ui):
    pg = open_digits(ui)
    assert pg.is_visible("#digits") and not pg.is_visible("#data-view")
    assert "selected" in pg.get_attribute("#data-digits8", "class")
    assert pg.locator("#data-fashion").count() == 1  # offered (disabled when not installed)
    # The real grid: 8 x 8 images of 8 x 8 pixels with 1-pixel gaps, inked.
    assert pg.evaluate(GRID_JS, "digit-reals").startswith("71x71:")
    assert pg.evaluate(INK_JS, "digit-reals") > 300
    # The model graph shows the image shapes.
    assert pg.text_content("#shape-generator").endswith("→ 64")
    assert pg.text_content("#shape-discriminator").startswith("64 →")
    before = pg.evaluate(GRID_JS, "digit-fakes")
    pg.click("#speed-max")
    pg.click("#play")
    pg.wait_for_function("Number(document.getElementById('epoch').textContent) > 300")
    pg.wait_for_function("window.ganlab.digits.counts && window.ganlab.digits.counts.reduce((a, b) => a + b, 0) > 0",
                         timeout=30_000)
    assert pg.evaluate(GRID_JS, "digit-fakes") != before, "the fixed-noise samples must morph"
    assert pg.text_content("#classes-captured").endswith("/10")
    # The class histogram and D's histograms are drawn; FD with its floor is charted.
    assert pg.evaluate(INK_JS, "digit-classes") > 0 or pg.evaluate(
        "window.ganlab.digits.counts.some((c) => c > 0)")
    assert pg.evaluate("window.ganlab.charts.latest('fd')") > 0
    assert pg.evaluate("window.ganlab.charts.latest('fd_floor')") > 0
    assert "FD" in pg.text_content("#legend-div")
    walk = pg.evaluate(GRID_JS, "digit-walk")
    assert walk.startswith("89x17:")  # 10 x 2 images of 8 x 8
    pg.click("#play")
    pg.wait_for_function("document.getElementById('play').getAttribute('aria-pressed') === 'false'")


def test_step_generator_only_then_reload_from_the_link(ui):
    pg = open_digits(ui)
    # The set's named presets are buttons: the teaching one (collapse) loads its settings.
    from ganlab.server.image_data import image_presets

    collapse = image_presets("digits8").get("collapse")
    if collapse:
        pg.click("#preset-collapse")
        pg.wait_for_function(f"window.ganlab.server['g_optimizer.lr'] === {collapse['g_optimizer']['lr']}")
        pg.click("#preset-recommended")
        pg.wait_for_function("window.ganlab.server['g_optimizer.lr'] === "
                             f"{image_presets('digits8')['recommended']['g_optimizer']['lr']}")
    pg.click("#step-discriminator")
    pg.wait_for_function("document.getElementById('updates').textContent === 'D 1 · G 0'")
    grid = pg.evaluate(GRID_JS, "digit-fakes")
    pg.click("#step-generator")
    pg.wait_for_function("document.getElementById('updates').textContent === 'D 1 · G 1'")
    assert epoch(pg) == 0
    pg.wait_for_function(f"(() => {{ const f = {GRID_JS}; return f('digit-fakes') !== {grid!r}; }})()")
    # The walk's ends re-roll on click.
    walk = pg.evaluate(GRID_JS, "digit-walk")
    pg.click("#digit-walk")
    pg.wait_for_function(f"(() => {{ const f = {GRID_JS}; return f('digit-walk') !== {walk!r}; }})()")
    # The link holds the image set and the live single steps; a reload rebuilds the experiment.
    assert "data=digits8" in pg.url
    link = pg.url
    pg2 = ui.new_page()
    pg2.goto(link)
    pg2.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.imageMode"
                          " && window.ganlab.lastMeta && window.ganlab.lastMeta.image")
    assert pg2.evaluate("window.ganlab.server.data") == "digits8"
    assert pg2.is_visible("#digits")
    assert pg2.evaluate("window.ganlab.exp.pending.length + window.ganlab.exp.edits.length") >= 1


def test_a_dropped_connection_restores_the_image_model_from_its_binary_snapshot(ui):
    pg = open_digits(ui)
    for _ in range(3):
        n = epoch(pg)
        pg.click("#step-both")
        pg.wait_for_function(f"Number(document.getElementById('epoch').textContent) === {n + 1}")
    snap = pg.evaluate("window.ganlab.session.refreshSnapshot().then((s) => s instanceof ArrayBuffer && s.byteLength)")
    assert snap > 1000
    grid = pg.evaluate(GRID_JS, "digit-fakes")
    pg.evaluate("window.ganlab.session.drop()")
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('Reconnected')")
    assert epoch(pg) == 3
    assert pg.evaluate("window.ganlab.server.data") == "digits8"
    pg.wait_for_function(f"(() => {{ const f = {GRID_JS}; return f('digit-fakes') === {grid!r}; }})()")


UPLOAD_STATE_JS = """() => ({imageMode: !!ganlab.imageMode, data: ganlab.server.data,
    connected: ganlab.session.connected, restoring: !!ganlab.session.restoring, frames: ganlab.frames,
    last: ganlab.lastMeta && {seq: ganlab.lastMeta.seq, epoch: ganlab.lastMeta.epoch, image: ganlab.lastMeta.image,
                             layers: ganlab.lastMeta.layers},
    reals: !!ganlab.digits.reals, status: document.getElementById('status').textContent, seen: window.seen})"""


def sessions(ui) -> dict:
    with urllib.request.urlopen(f"{ui.base}/debug/sessions", timeout=10) as r:
        return json.load(r)


def test_import_an_image_set_of_your_own(ui, tmp_path):
    import numpy as np

    from ganlab.data.images import load_images

    X, y, _ = load_images("digits8")
    path = tmp_path / "mine.npz"
    np.savez(path, images=(X[:200] * 15).astype(np.uint8), labels=y[:200].astype(np.uint8))
    pg = ui.open()
    # In a heavy process too (a session moves to one after a frame over `heavy_frame`, which a
    # loaded machine's frame can pass): a message over 64 KiB moves it (the refusal is the point).
    me, worker = pg.evaluate("ganlab.session.hello.session"), sessions(ui)["worker"]
    pg.evaluate("() => ganlab.session.request('view', {pad: 'x'.repeat(70000)}).catch(() => {})")
    deadline = time.monotonic() + 20
    while not any(s["session"] == me and s["process"] != worker for s in sessions(ui)["sessions"]):
        assert time.monotonic() < deadline, "the session did not move to a heavy process"
        time.sleep(0.1)
    pg.evaluate("""() => { const s = ganlab.session; window.seen = [];
        for (const t of ['frame', 'ack', 'disconnected', 'reconnected', 'notice', 'server-error', 'status'])
          s.addEventListener(t, (e) => seen.push(t === 'ack' ? `ack ${e.detail.type}` : t !== 'frame' ? t
          : `frame ${e.detail.meta.seq} ${e.detail.meta.image ? 'img' : '2d'} ${Object.keys(e.detail.layers)}`)); }""")
    pg.set_input_files("#file-images", str(path))
    try:
        pg.wait_for_function("window.ganlab.imageMode && /^upload-/.test(window.ganlab.server.data)"
                             " && window.ganlab.lastMeta.image && window.ganlab.digits.reals")
    except Exception as e:  # say which part
        raise AssertionError(f"the upload did not show: {pg.evaluate(UPLOAD_STATE_JS)}") from e
    name = pg.evaluate("window.ganlab.server.data")
    assert "selected" in pg.get_attribute(f"#data-{name}", "class")
    assert pg.text_content("#status").startswith("Imported 200 images of 8 x 8 from mine.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not a zip")
    pg.set_input_files("#file-images", str(bad))
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('bad.npz: not an NPZ file')")
    assert pg.evaluate("window.ganlab.server.data") == name  # nothing changed


def test_save_and_load_an_image_model_as_a_binary_state_file(ui, tmp_path):
    pg = open_digits(ui)
    for n in range(2):
        pg.click("#step-both")
        pg.wait_for_function(f"Number(document.getElementById('epoch').textContent) === {n + 1}")
    with pg.expect_download() as dl:
        pg.click("#save-state")
    path = tmp_path / dl.value.suggested_filename
    dl.value.save_as(path)
    assert path.suffix == ".ganlab" and path.read_bytes()[:8] == b"GANLABSN"
    grid = pg.evaluate(GRID_JS, "digit-fakes")
    pg.click("#reset")
    pg.wait_for_function("document.getElementById('epoch').textContent === '0'")
    pg.set_input_files("#file-state", str(path))
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('Loaded')")
    assert epoch(pg) == 2
    pg.wait_for_function(f"(() => {{ const f = {GRID_JS}; return f('digit-fakes') === {grid!r}; }})()")
    bad = tmp_path / "bad.ganlab"
    bad.write_bytes(b"GANLABSN" + bytes(40))
    pg.set_input_files("#file-state", str(bad))
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('restore: ')")
    assert epoch(pg) == 2  # refused: nothing changed


@pytest.fixture
def capped_server():
    """A server whose workers train no image session at full speed (max_image_sessions 0)."""
    import threading
    import time

    import uvicorn

    from ganlab.server.app import create_app
    from ganlab.server.settings import Settings
    from tests.test_page import _free_port

    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(Settings(max_image_sessions=0, capped_image_speed=3)),
                                        host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    end = time.time() + 20
    while not srv.started and time.time() < end:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


def test_a_capped_image_session_says_why_on_the_page(browser, capped_server):  # noqa: F811
    p = Page(browser, capped_server)
    try:
        pg = open_digits(p)
        pg.click("#play")
        pg.wait_for_selector("#capped-notice", state="visible")
        text = pg.text_content("#capped-notice")
        assert "max_image_sessions" in text and "3 epochs/s" in text, text
        pg.click("#play")  # pause
        pg.wait_for_function("document.getElementById('play').getAttribute('aria-pressed') === 'false'")
        assert not p.problems, p.problems
    finally:
        p.context.close()


def test_every_hyperparameter_has_a_readable_label(ui):
    """The image settings (leaky slope, dropout, decay, ...) get words, not their field names
    (the leaky slope showed as "leaky_slope")."""
    pg = open_digits(ui)
    labels = pg.evaluate("[...document.querySelectorAll('#controls label')].map(l => l.textContent)")
    assert len(labels) > 20, labels
    raw = [t for t in labels if re.search(r"\b[a-z0-9]+_[a-z0-9_]+\b", t)]  # a field name: snake_case
    assert not raw, raw
