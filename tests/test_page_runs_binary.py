"""Runs on the page with binary snapshots (docs/page.md, Runs), in real Chromium against a real
server: a digits run is rewound and continued bit for bit, before and after a page reload; a CLI
image run imports, opens, rewinds and replays to the CLI's own snapshot; the largest 2D models,
whose JSON snapshots are too big for one text message, rewind and reconnect through the binary
restore."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ganlab import snapshot_bin
from ganlab.runs import Run
from tests import test_page_runs as tpr

browser, server, ui = tpr.browser, tpr.server, tpr.ui  # fixtures
pytestmark = tpr.pytestmark
train_to, rewind, flush, stored, until, STORE = tpr.train_to, tpr.rewind, tpr.flush, tpr.stored, tpr.until, tpr.STORE

# The bytes of an ArrayBuffer (or a Uint8Array) as base64, in chunks (a spread of a whole
# snapshot would pass the call's argument limit).
B64 = """(b) => { const u = b instanceof Uint8Array ? b : new Uint8Array(b); let s = '';
    for (let i = 0; i < u.length; i += 8192) s += String.fromCharCode(...u.subarray(i, i + 8192));
    return btoa(s); }"""


def server_state(pg) -> bytes:
    """The session's state now, as the server's binary snapshot."""
    return base64.b64decode(pg.evaluate(f"async () => ({B64})(await ganlab.session.refreshSnapshot())"))


def recorded(pg, epoch: int) -> bytes:
    """The current run's binary snapshot at ``epoch``, as the page keeps it."""
    return base64.b64decode(pg.evaluate(f"""(e) => {{ const r = ganlab.runs.recorder.run,
        s = r.snapshotAt(e); if (s.kind !== 'bin') throw new Error('kind ' + s.kind);
        return ({B64})(r.files.get(s.file)); }}""", epoch))


def same_state(a: bytes, b: bytes) -> None:
    """Two binary snapshots hold the same state, every array bit for bit (and so the same bytes)."""
    x, y = snapshot_bin.decode(a), snapshot_bin.decode(b)

    def walk(p, q, path):
        if isinstance(p, np.ndarray):
            assert isinstance(q, np.ndarray) and p.dtype == q.dtype and np.array_equal(p.view(np.uint8),
                                                                                      q.view(np.uint8)), path
        elif isinstance(p, dict):
            assert isinstance(q, dict) and p.keys() == q.keys(), path
            for k in p:
                walk(p[k], q[k], f"{path}.{k}")
        else:
            assert p == q, (path, p, q)

    walk(x, y, "snapshot")
    assert a == b


def open_run(pg, name: str) -> None:
    tpr.open_panel(pg)
    pg.click(f'#runs-list tr.run-row[data-name="{name}"] .run-open')
    pg.wait_for_function("ganlab.runs.timeline"
                         " && document.querySelector('#status').textContent.startsWith('Opened run')")


def replay(pg, epoch: int) -> None:
    assert pg.text_content("#replay") == f"Replay to epoch {epoch}"
    pg.click("#replay")
    pg.wait_for_function("(e) => ganlab.counts.epoch === e && !ganlab.running", arg=epoch)


# -- digits ---------------------------------------------------------------------------------------


def test_a_digits_run_rewound_and_continued_equals_the_run_bit_for_bit_and_survives_a_reload(ui, tmp_path):
    pg = ui.open()
    pg.click("#data-digits8")
    pg.wait_for_function("ganlab.imageMode && ganlab.lastMeta && ganlab.lastMeta.image")
    train_to(pg, 20)
    train_to(pg, 40)
    pg.select_option("#cfg-d_optimizer-lr", "0.0003")  # a live edit inside the span replayed below
    pg.wait_for_function("ganlab.runs.recorder.run.m.edits.length === 1")
    train_to(pg, 70)
    run = pg.evaluate("""(() => { const m = ganlab.runs.recorder.run.m; return {name: m.name, data: m.config.data,
        snaps: m.snapshots.map((s) => [s.epoch, s.kind])}; })()""")
    assert run["data"] == "digits8"
    assert [s for s in run["snaps"] if s[0] in (0, 20, 40, 70)] == [[0, "bin"], [20, "bin"], [40, "bin"], [70, "bin"]]
    original = recorded(pg, 70)
    same_state(original, server_state(pg))  # what the page kept is the server's state there
    # The timeline says how much of the run's bound its snapshots use.
    assert "of 32.0 MB" in pg.text_content("#timeline-label")

    rewind(pg, 20)
    assert pg.evaluate("ganlab.server['d_optimizer.lr']") != 0.0003  # the state at 20, before the edit
    same_state(server_state(pg), recorded(pg, 20))
    replay(pg, 70)
    same_state(server_state(pg), original)  # the whole state, random streams included
    assert pg.evaluate("ganlab.runs.recorder.run.m.name") == run["name"]

    # Stored (binary snapshots and all), the page reloaded: opened from the panel, rewound and
    # replayed, it still retraces the run.
    flush(pg)
    until(pg, f"async () => (await {STORE}.list()).some((r) => r.manifest.epochs === 70)")
    bytes_ = pg.evaluate(f"async () => (await {STORE}.list())[0].bytes")
    assert bytes_ > len(original) * 4  # the bound counts the binary snapshots
    pg.reload()
    pg.wait_for_function(tpr.READY)
    open_run(pg, run["name"])
    assert pg.evaluate("ganlab.counts.epoch") == 70 and pg.evaluate("ganlab.imageMode")
    same_state(server_state(pg), original)
    rewind(pg, 40)
    replay(pg, 70)
    same_state(server_state(pg), original)
    # Exported from the page, the Python reader opens it: the same snapshot bytes.
    tpr.open_panel(pg)
    with pg.expect_download() as dl:
        pg.click(f'#runs-list tr.run-row[data-name="{run["name"]}"] .run-export')
    back = Run(Path(dl.value.path()).rename(tmp_path / "digits.zip"))
    assert back.manifest["config"]["data"] == "digits8" and back.read("snapshots/000000070.bin") == original
    assert back.trainer_at(20).epoch == 20


# -- a CLI image run -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_mnist(tmp_path_factory):
    """An MNIST run made by the CLI with a tiny budget, exported to one file."""
    d = tmp_path_factory.mktemp("cli")
    env = dict(os.environ, PYTHONPATH=str(tpr.ROOT))
    subprocess.run([sys.executable, "-m", "ganlab", "train", "--data", "mnist", "--epochs", "30",
                    "--report-every", "10", "--seed", "5", "--set", "generator.units=16", "--set",
                    "discriminator.units=16", "--set", "noise_dim=8", "--run-dir", str(d / "mn")],
                   check=True, env=env, cwd=d, capture_output=True)
    subprocess.run([sys.executable, "-m", "ganlab", "runs", "export", str(d / "mn"), str(d / "mn.zip")],
                   check=True, env=env, cwd=d, capture_output=True)
    return d / "mn.zip"


def test_a_cli_image_run_opens_rewinds_and_replays_to_the_clis_own_snapshot(ui, cli_mnist):
    want = Run(cli_mnist)
    epochs = want.snapshot_epochs
    assert {s["kind"] for s in want.manifest["snapshots"]} == {"bin"} and len(epochs) >= 3, epochs
    last, early = epochs[-1], epochs[1]
    pg = ui.open()
    pg.click("#runs-button")
    pg.wait_for_selector("#runs", state="visible")
    tpr.import_file(pg, cli_mnist)
    pg.wait_for_function("document.querySelector('#status').textContent.startsWith('Imported run')")
    assert stored(pg)[0]["snaps"] == epochs
    pg.click('#runs-list tr.run-row[data-name="mn"] .run-open')
    pg.wait_for_function("(e) => ganlab.counts.epoch === e && ganlab.server.data === 'mnist' && ganlab.imageMode"
                         " && ganlab.runs.timeline"
                         " && document.querySelector('#status').textContent.startsWith('Opened run')", arg=last)
    same_state(server_state(pg), want.read(want.manifest["snapshots"][-1]["file"]))
    rewind(pg, early)
    same_state(server_state(pg), want.read(want.manifest["snapshots"][1]["file"]))
    replay(pg, last)
    same_state(server_state(pg), want.read(want.manifest["snapshots"][-1]["file"]))


# -- bounds --------------------------------------------------------------------------------------


def test_a_growing_digits_run_keeps_the_store_within_its_bound_and_its_snapshots_within_their_own(ui, cli_mnist):
    pg = ui.open()
    pg.click("#runs-button")
    pg.wait_for_selector("#runs", state="visible")
    tpr.import_file(pg, cli_mnist)
    pg.wait_for_function("document.querySelector('#status').textContent.startsWith('Imported run')")
    pg.click("#runs-close")
    pg.click("#data-digits8")
    pg.wait_for_function("ganlab.imageMode && ganlab.lastMeta && ganlab.lastMeta.image")
    train_to(pg, 10)
    flush(pg)
    until(pg, f"async () => (await {STORE}.list()).some((r) => r.manifest.epochs === 10)")
    total = pg.evaluate(f"async () => (await {STORE}.list()).reduce((n, r) => n + r.bytes, 0)")
    # The store's byte bound just above what it holds; the digits run grows past it by a binary
    # snapshot (0.2 MB) at every stop.
    pg.evaluate(f"async () => {{ {STORE}.maxBytes = {total + 400_000}; }}")
    pg.evaluate("""() => { window.said = []; const s = document.getElementById('status');
        new MutationObserver(() => said.push(s.textContent))
            .observe(s, {childList: true, characterData: true, subtree: true}); }""")
    for e in (20, 30, 40, 50):
        train_to(pg, e)
    flush(pg)
    # Grown past the store's bound: the oldest unpinned run went, and the user was told.
    until(pg, f"async () => (await {STORE}.list()).length === 1")
    pg.wait_for_function("said.some((t) => t.startsWith('Dropped the oldest unpinned run \"mn\"'))")
    # The run's own snapshot bound, lowered to 3 of digits8's snapshots: thinned, and said.
    pg.evaluate("ganlab.runs.recorder.budget = 700000")
    train_to(pg, 60)
    snaps = pg.evaluate("(() => { const r = ganlab.runs.recorder.run; return r.m.snapshots.map((s) =>"
                        " [s.epoch, r.files.get(s.file).length]); })()")
    assert snaps[0][0] == 0 and snaps[-1][0] == 60 and len(snaps) == 3, snaps
    assert sum(n for _, n in snaps) <= 700_000
    label = pg.text_content("#timeline-label")
    assert label.startswith("epoch 60 (3 kept, 0.") and "of 0.67 MB: older ones thinned, log-spaced" in label
    assert "at most 40 snapshots and 0.67 MB" in pg.get_attribute("#timeline-label", "title")
    flush(pg)
    until(pg, f"async () => (await {STORE}.list())[0].manifest.epochs === 60")
    runs = pg.evaluate(f"async () => (await {STORE}.list()).map((r) => [r.manifest.config.data, r.bytes])")
    assert len(runs) == 1 and runs[0][0] == "digits8"
    assert runs[0][1] >= sum(n for _, n in snaps)  # the bytes counted hold the binary snapshots


# -- 2D snapshots too big for one text message ----------------------------------------------------


def test_a_state_file_of_the_largest_2d_model_loads_through_the_binary_restore(ui, tmp_path):
    """Its JSON (6 x 128 with Adam, trained a little) is over the 4 MiB a text message may carry:
    it was refused as too_large; the page now sends it as a binary snapshot."""
    from ganlab.trainer import Trainer

    t = Trainer(generator={"layers": 6, "units": 128}, discriminator={"layers": 6, "units": 128},
                g_optimizer={"kind": "adam"}, d_optimizer={"kind": "adam"}, batch_size=16, seed=4)
    t.train(3)
    path = tmp_path / "big.json"
    path.write_text(json.dumps(t.snapshot(), separators=(",", ":")))
    assert path.stat().st_size > 4 << 20
    pg = ui.open()
    pg.set_input_files("#file-state", str(path))
    pg.wait_for_function("document.getElementById('status').textContent.startsWith('Loaded big.json at epoch 3')",
                         timeout=60_000)
    got = base64.b64decode(pg.evaluate(
        f"async () => ({B64})((await ganlab.session.request('snapshot', {{binary: true}})).bytes)"))
    same_state(got, t.snapshot_bytes())


@pytest.fixture(scope="module")
def tight_server():
    """A server whose text messages may carry 1 MiB (the default is 4 MiB): a mid-sized 2D model
    (3 x 96 with Adam, ~1.9 MB of JSON) then stands for the largest ones, quickly."""
    port = tpr.free_port()
    proc, _ = tpr.start(port=port, max_message_bytes=1 << 20)
    yield port
    tpr.stop(proc)


MID = ("generator.layers=3&generator.units=96&discriminator.layers=3&discriminator.units=96"
       "&g_optimizer.kind=adam&d_optimizer.kind=adam&batch_size=16")


def test_a_2d_run_too_big_for_text_messages_rewinds_and_reconnects_through_the_binary_restore(browser, tight_server):
    u = tpr.UI(browser, tight_server)
    try:
        pg = u.page
        pg.goto(f"http://127.0.0.1:{tight_server}/#{MID}")
        pg.wait_for_function(tpr.READY)
        assert pg.evaluate("ganlab.session.hello.limits.max_message_bytes") == 1 << 20
        train_to(pg, 10)
        train_to(pg, 20)
        original = pg.evaluate("ganlab.session.refreshSnapshot()")
        assert pg.evaluate("new Blob([JSON.stringify(ganlab.session.snapshot)]).size") > 1 << 20
        kept = pg.evaluate(f"""() => {{ const r = ganlab.runs.recorder.run, s = r.snapshotAt(20);
            return [s.kind, ({B64})(r.files.get(s.file))]; }}""")
        # Kept binary (over 1 MiB of JSON; the page's encoder): the server's values, none rounded.
        assert kept[0] == "bin"
        kept = snapshot_bin.decode(base64.b64decode(kept[1]))
        for key in ("generator", "discriminator"):
            assert np.array_equal(kept[key], np.array(original[key])), key
        for key in ("m", "v"):
            assert np.array_equal(kept["d_optimizer"][key], np.array(original["d_optimizer"][key])), key
        rest = [{k: v for k, v in x.items() if k not in ARRAYS} for x in (kept, original)]
        assert rest[0] == rest[1]

        rewind(pg, 10)
        replay(pg, 20)
        assert pg.evaluate("ganlab.session.refreshSnapshot()") == original  # bit for bit

        # A dropped connection: the session's JSON snapshot, too big for a text message, restored.
        pg.evaluate("ganlab.session.drop()")
        pg.wait_for_function("document.getElementById('status').textContent.startsWith('Reconnected')")
        assert pg.evaluate("ganlab.session.refreshSnapshot()") == original
    finally:
        u.context.close()
    assert not u.problems, u.problems


ARRAYS = {"generator", "generator_average", "discriminator", "g_optimizer", "d_optimizer"}
