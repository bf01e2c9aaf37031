"""The page behaves as a new user expects: presets for drawings and uploads, an empty drawing that
does not train on old data, one point-file parser, restarts that clear the charts, links that
replay live edits. Real headless Chromium against a live server (fixtures from test_page)."""

from __future__ import annotations

import test_page as tp
from test_page import COLOR_PIXELS_JS, epoch

from ganlab.data import DISTRIBUTIONS

# The same browser, live server and checked page as test_page (each module gets its own server).
browser, server, ui = tp.browser, tp.server, tp.ui
pytestmark = getattr(tp, "pytestmark", [])


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def draw(pg, points):
    """One mouse stroke through data points (y up) on the data view, at the extent it shows
    (the view widens beyond the unit square when fakes leave it): waits until the view has
    settled on its extent, so that a pixel means one place for the whole stroke."""
    pg.wait_for_function("(() => { const d = window.ganlab.dataView, t = d.target();"
                         " return d.extent.every((v, i) => v === t[i]); })()")
    e = pg.evaluate("window.ganlab.dataView.extent")
    box = pg.locator("#data-view").bounding_box()

    def at(x, y):
        return (box["x"] + (x - e[0]) / (e[2] - e[0]) * box["width"],
                box["y"] + (e[3] - y) / (e[3] - e[1]) * box["height"])

    pg.mouse.move(*at(*points[0]))
    pg.mouse.down()
    for x, y in points[1:]:
        pg.mouse.move(*at(x, y))
    pg.mouse.up()


def diagonal(a=0.2, b=0.8, n=30):
    return [(a + (b - a) * i / n, a + (b - a) * i / n) for i in range(n + 1)]


def server_has(pg, preset: dict) -> dict:
    """The preset's fields whose value the session does not have (empty = all applied)."""
    have = pg.evaluate("window.ganlab.server")
    return {k: (v, have.get(k)) for k, v in _flat(preset).items() if have.get(k) != v}


def test_drawing_and_upload_load_their_preset(ui):
    pg = ui.open()
    assert pg.is_checked("#apply-preset")
    preset = DISTRIBUTIONS["drawn"].preset
    assert server_has(pg, preset), "the default config must differ from the drawing's preset"
    pg.click("#data-drawn")
    draw(pg, diagonal())
    pg.wait_for_function("window.ganlab.server.data === 'drawn'")
    assert server_has(pg, preset) == {}
    # A later stroke edits the data, not the hyperparameters: a live change survives it.
    pg.select_option("#cfg-d_optimizer-lr", "0.003")
    pg.wait_for_function("window.ganlab.server['d_optimizer.lr'] === 0.003")
    draw(pg, [(0.2, 0.8), (0.5, 0.5), (0.8, 0.2)])
    pg.wait_for_function("window.ganlab.drawing.strokes.length === 2 && "
                         "window.ganlab.server.data_params.strokes.count === 2")
    assert pg.evaluate("window.ganlab.server['d_optimizer.lr']") == 0.003
    # An upload is a pick too: back on a preset first, then the upload loads the points' preset.
    pg.click("#data-line")
    pg.wait_for_function("window.ganlab.server.data === 'line'")
    assert server_has(pg, DISTRIBUTIONS["points"].preset)
    csv = "x,y\n" + "\n".join(f"{0.3 + 0.01 * (i % 9)},{0.6 - 0.01 * (i % 5)}" for i in range(30))
    pg.set_input_files("#file-points", files=[{"name": "p.csv", "mimeType": "text/csv", "buffer": csv.encode()}])
    pg.wait_for_function("window.ganlab.server.data === 'points'")
    assert server_has(pg, DISTRIBUTIONS["points"].preset) == {}


def test_unticked_box_keeps_the_hyperparameters(ui):
    pg = ui.open()
    pg.uncheck("#apply-preset")
    before = pg.evaluate("window.ganlab.server['generator.units']")
    pg.click("#data-drawn")
    draw(pg, diagonal())
    pg.wait_for_function("window.ganlab.server.data === 'drawn'")
    assert pg.evaluate("window.ganlab.server['generator.units']") == before


def real_pixels(pg) -> int:
    return pg.evaluate(COLOR_PIXELS_JS, ["data-view", 0, 136, 55])


def test_empty_drawing_shows_no_old_data_and_does_not_train(ui):
    pg = ui.open()
    pg.wait_for_function("window.ganlab.dataView.layers.real")
    assert real_pixels(pg) > 200, "the default data is drawn in green"
    pg.click("#data-drawn")
    pg.wait_for_selector("#draw-hint", state="visible")
    pg.wait_for_function("window.ganlab.dataView.visible.size === 0")
    pg.wait_for_timeout(100)  # one animation frame repaints
    assert real_pixels(pg) < 20, "entering drawing mode must not show the previous distribution"
    assert "data=drawn" in pg.evaluate("location.hash")
    # Nor its numbers or its widened view: the charts are empty, the legend has no KL, and the
    # view shows the unit square the drawing lives in (a paused frame of the old data changes
    # none of it).
    frames = pg.evaluate("window.ganlab.frames")
    pg.click("#reset")
    pg.wait_for_function(f"window.ganlab.frames > {frames}")  # the reset's frame has been handled
    assert pg.evaluate("window.ganlab.charts.rows.length") == 0
    assert "KL –" in pg.text_content("#legend-div")
    assert pg.evaluate("window.ganlab.dataView.target()") == [0, 0, 1, 1]
    for how in ("click", "space", "step"):
        if how == "click":
            pg.click("#play")
        elif how == "space":
            pg.keyboard.press("Space")
        else:
            pg.click("#step-both")
        pg.wait_for_function("document.getElementById('status').textContent.includes('draw a shape')")
        assert pg.get_attribute("#play", "aria-pressed") == "false"
        pg.evaluate("document.getElementById('status').textContent = ''")
    assert pg.evaluate("window.ganlab.lastMeta.epoch") == 0 and epoch(pg) == 0
    # A stroke sets the data; clearing it goes back to the empty canvas, and play waits again.
    draw(pg, diagonal())
    pg.wait_for_function("window.ganlab.server.data === 'drawn' && window.ganlab.dataView.visible.size > 0")
    pg.wait_for_selector("#draw-hint", state="hidden")
    pg.click("#draw-clear")
    pg.wait_for_selector("#draw-hint", state="visible")
    pg.wait_for_timeout(100)
    assert real_pixels(pg) < 20, "after Clear the old samples must not stay"
    pg.click("#play")
    pg.wait_for_function("document.getElementById('status').textContent.includes('draw a shape')")
    assert pg.get_attribute("#play", "aria-pressed") == "false"
    # Undoing every stroke is the same as clearing.
    draw(pg, diagonal())
    pg.wait_for_selector("#draw-hint", state="hidden")
    pg.click("#draw-undo")
    pg.wait_for_selector("#draw-hint", state="visible")


def test_import_refuses_a_bad_file_with_the_clis_message(ui):
    pg = ui.open()
    bad = "x,y\n0.1,0.2\n0.3,abc\n0.5\n"
    pg.set_input_files("#file-points", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}])
    pg.wait_for_function("document.getElementById('status').className === 'error'")
    # The message of `ganlab train --data-file bad.csv` (tests/test_pointfiles_route.py checks it is).
    assert pg.text_content("#status") == "bad.csv line 3, column 2: 'abc' is not a number"
    assert pg.evaluate("window.ganlab.server.data") == "gaussians"
    # A good file outside the unit square is rescaled into it, and says so.
    good = "[[-1, 0], [3, 2], [1, 1]]"
    pg.set_input_files("#file-points", files=[{"name": "p.json", "mimeType": "application/json",
                                               "buffer": good.encode()}])
    pg.wait_for_function("window.ganlab.server.data === 'points'")
    pg.wait_for_function("document.getElementById('status').textContent.includes('Imported 3 points')")
    # The CLI's note for the same file, word for word (tests/test_cli.py checks the CLI's side).
    assert pg.text_content("#status") == ("Imported 3 points from p.json. p.json: 2 of 3 points lay "
                                          "outside [0, 1]^2; the set was rescaled into the unit square")
    assert pg.evaluate("window.ganlab.server.data_params.points.count") == 3
    pts = pg.evaluate("window.ganlab.state.get('pts')[0]")
    assert len(pts) == 3 and all(0 <= v <= 1 for p in pts for v in p)


def play_to(pg, at_least: int):
    """Run until the epoch counter passes `at_least`, then pause (the epoch lands where it lands)."""
    pg.click("#play")
    pg.wait_for_function(f"window.ganlab.counts.epoch > {at_least}")
    pg.click("#play")
    pg.wait_for_function("document.getElementById('play').getAttribute('aria-pressed') === 'false'")
    return epoch(pg)


def snapshot(pg) -> dict:
    return pg.evaluate("window.ganlab.session.refreshSnapshot()")


def test_link_replays_live_edits_to_the_same_weights(ui):
    pg = ui.open()
    pg.click("#data-ring")
    pg.wait_for_function("window.ganlab.server.data === 'ring'")
    pg.select_option("#cfg-g_optimizer-lr", "0.01")  # before any training: part of the start config
    pg.wait_for_function("window.ganlab.server['g_optimizer.lr'] === 0.01")
    e1 = play_to(pg, 30)
    pg.select_option("#cfg-d_optimizer-lr", "0.03")  # a live edit at e1
    pg.wait_for_function("window.ganlab.server['d_optimizer.lr'] === 0.03")
    pg.click("#step-discriminator")  # one D update at e1
    pg.wait_for_function("window.ganlab.exp.edits.length === 2")
    e2 = play_to(pg, e1 + 40)
    pg.fill("#cfg-k_g", "2")
    pg.press("#cfg-k_g", "Enter")
    pg.wait_for_function("window.ganlab.server.k_g === 2")
    e3 = play_to(pg, e2 + 25)
    edits = pg.evaluate("window.ganlab.exp.edits")
    assert edits == [{"epoch": e1, "changes": {"d_optimizer.lr": 0.03}}, {"epoch": e1, "step": "discriminator"},
                     {"epoch": e2, "changes": {"k_g": 2}}]
    pg.click("#copy-link")
    url = pg.url
    assert "g_optimizer.lr=0.01" in url and f"at={e3}" in url and "d_optimizer.lr" not in url.split("edits=")[0]
    original = snapshot(pg)

    other = ui.new_page()
    other.goto(url)
    other.wait_for_function("window.ganlab && window.ganlab.ready")
    assert other.text_content("#replay") == f"Replay to epoch {e3}"
    assert other.input_value("#cfg-d_optimizer-lr") != "0.03", "edits wait for their epochs"
    # A dropped connection: the restored session gets the link's edits again.
    other.wait_for_function("window.ganlab.session.snapshot !== null")
    session = other.evaluate("window.ganlab.session.hello.session")
    other.evaluate("window.ganlab.session.drop()")
    other.wait_for_function(f"window.ganlab.session.connected && window.ganlab.session.hello.session !== '{session}'")
    other.wait_for_selector("#replay", state="visible")
    other.click("#replay")
    other.wait_for_function(f"window.ganlab.counts.epoch === {e3} && !window.ganlab.running")
    other.wait_for_selector("#replay", state="hidden")
    assert f"Replayed to epoch {e3}" in other.text_content("#status")
    # The controls show the config in force at the end, and the link still holds the same edits.
    assert other.input_value("#cfg-d_optimizer-lr") == "0.03" and other.input_value("#cfg-k_g") == "2"
    assert other.evaluate("window.ganlab.exp.edits") == edits
    replayed = snapshot(other)
    for key in ("epoch", "d_steps", "g_steps", "config", "generator", "discriminator", "g_optimizer",
                "d_optimizer", "noise_pool", "data_pool"):
        assert replayed[key] == original[key], key
    # The replayed page's own link is the original's.
    other.click("#copy-link")
    assert other.url == url


def test_a_too_big_link_says_so_and_offers_the_state_file(ui):
    pg = ui.open()
    pg.evaluate("""() => { const e = window.ganlab.exp; e.start = {...e.start};
        for (let i = 0; i < 300; i++) e.edits.push({epoch: i, step: 'generator'}); }""")
    pg.click("#copy-link")
    status = pg.text_content("#status")
    assert "too big for a link" in status and "300 live edits" in status
    with pg.expect_download():
        pg.click("#status button")


def test_new_data_starts_a_new_experiment_unless_keep_is_ticked(ui):
    pg = ui.open()
    assert not pg.is_checked("#keep-networks")
    pg.click("#data-ring8")
    pg.wait_for_function("window.ganlab.server.data === 'ring8'")
    play_to(pg, 10)
    pg.click("#step-both")  # a paused frame always carries metrics (running ones at most 5 a second)
    pg.wait_for_function("window.ganlab.charts.rows.some((r) => r.modes_total === 8)")
    # The grid of 25 shares the ring's hyperparameters: only the data changes, and that restarts.
    pg.click("#data-grid25")
    pg.wait_for_function("window.ganlab.server.data === 'grid25'")
    assert epoch(pg) == 0 and pg.text_content("#updates") == "D 0 · G 0"
    pg.click("#step-both")
    pg.wait_for_function("window.ganlab.charts.rows.some((r) => r.modes_total === 25)")
    rows = pg.evaluate("window.ganlab.charts.rows")
    assert all(r["modes_total"] in (None, 25) for r in rows), "charts never mix two datasets"
    assert {r["epoch"] for r in rows} <= {0, 1}
    assert "edits" not in pg.url
    # Keep the networks: the data changes, training goes on, and the link records it as an edit.
    pg.check("#keep-networks")
    e = play_to(pg, 5)
    pg.click("#data-ring8")
    pg.wait_for_function("window.ganlab.server.data === 'ring8'")
    assert epoch(pg) == e
    assert pg.evaluate("window.ganlab.exp.edits") == [{"epoch": e, "changes": {"data": "ring8", "data_params": {}}}]
    assert pg.evaluate("window.ganlab.charts.rows.some((r) => r.modes_total === 25)"), "charts kept"


def test_a_stroke_restarts_a_drawing_experiment_unless_kept(ui):
    pg = ui.open()
    pg.click("#data-drawn")
    draw(pg, diagonal())
    pg.wait_for_function("window.ganlab.server.data === 'drawn'")
    play_to(pg, 5)
    draw(pg, [(0.2, 0.8), (0.8, 0.2)])
    pg.wait_for_function("window.ganlab.server.data_params.strokes.count === 2")
    pg.wait_for_function("window.ganlab.counts.epoch === 0")
    assert pg.evaluate("window.ganlab.charts.rows.every((r) => r.epoch === 0)")
    pg.check("#keep-networks")
    e = play_to(pg, 5)
    draw(pg, [(0.5, 0.2), (0.5, 0.8)])
    pg.wait_for_function("window.ganlab.server.data_params.strokes.count === 3")
    assert epoch(pg) == e
    [edit] = pg.evaluate("window.ganlab.exp.edits")
    assert edit["epoch"] == e and len(edit["changes"]["data_params"]["strokes"]) == 3


def test_a_refused_value_says_why_beside_the_field_and_shows_the_value_in_force(ui):
    pg = ui.open()
    before = pg.input_value("#cfg-generator-units")
    pg.fill("#cfg-generator-units", "500")
    pg.press("#cfg-generator-units", "Enter")
    reason = pg.locator("#cfg-generator-units-reason")
    reason.wait_for(state="visible")
    assert reason.text_content() == f"500 refused: must be a whole number ≥ 1 and ≤ 128; {before} is in force"
    assert pg.input_value("#cfg-generator-units") == before
    assert pg.get_attribute("#status", "class") == "error"
    assert pg.text_content("#status") == "generator.units: " + reason.text_content()
    assert pg.is_hidden("#restart-bar")
    # A good value clears the reason.
    pg.fill("#cfg-generator-units", "12")
    pg.press("#cfg-generator-units", "Enter")
    pg.wait_for_selector("#restart-bar", state="visible")
    assert reason.is_hidden()


def test_every_step_press_is_one_epoch_and_a_backlog_is_shown(ui):
    pg = ui.open()
    pg.click("#data-grid25")  # the heaviest preset: steps queue up behind each other
    pg.wait_for_function("window.ganlab.server.data === 'grid25'")
    pg.evaluate("""() => { const el = document.getElementById('status'); window.statusTexts = [];
        new MutationObserver(() => window.statusTexts.push(el.textContent))
            .observe(el, {childList: true, characterData: true, subtree: true}); }""")
    for _ in range(15):
        pg.keyboard.press("s")
    pg.wait_for_function("window.ganlab.counts.epoch === 15 && window.ganlab.session.pending.size === 0",
                         timeout=90_000)
    texts = pg.evaluate("window.statusTexts")
    queued = [t for t in texts if t.startswith("Stepping:")]
    assert all(t.endswith("queued (every press is one).") for t in queued)
    assert not pg.text_content("#status").startswith("Stepping:"), "the backlog message goes when it is empty"
    pg.wait_for_timeout(300)
    assert epoch(pg) == 15


def test_a_passing_message_goes_once_training_moves_on(ui):
    pg = ui.open()
    pg.click("#step-both")
    pg.wait_for_function("window.ganlab.counts.epoch === 1")
    pg.click("#reset")
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('Reset to epoch 0')")
    pg.click("#step-both")
    pg.wait_for_function("window.ganlab.counts.epoch === 1")
    assert "Reset" not in pg.text_content("#status")


def test_offline_shows_no_rate_and_no_running_state(ui):
    pg = ui.open()
    pg.click("#play")
    pg.wait_for_function("Number(document.getElementById('eps').textContent) > 0")
    # Keep the page offline: no reconnection until we allow it (the retry the backoff timer makes
    # is swallowed; waiting for it leaves no timer behind to open a second connection later).
    pg.evaluate("""() => { const s = window.ganlab.session; window.retries = 0;
        s.connect = () => { window.retries++; }; s.drop(); }""")
    pg.wait_for_function("document.getElementById('conn').textContent === 'offline' && window.retries > 0")
    assert pg.text_content("#eps") == "–"
    assert pg.get_attribute("#play", "aria-pressed") == "false"
    assert pg.evaluate("document.body.classList.contains('offline')")
    pg.evaluate("const s = window.ganlab.session; delete s.connect; s.connect()")
    pg.wait_for_function("document.getElementById('conn').textContent === 'connected'")
    # It was running when the connection dropped: it runs again.
    pg.wait_for_function("document.getElementById('play').getAttribute('aria-pressed') === 'true'")
    pg.wait_for_function("Number(document.getElementById('eps').textContent) > 0")
