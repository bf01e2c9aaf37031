"""The Record control in Chromium: a span of epochs recorded on the page comes back from the
server as an animation (decoded with Pillow: frame count and size), for 2D data and for digits;
"Record what I see" makes a WebM with the browser's MediaRecorder."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

from PIL import Image

from tests import test_page as tp
from tests.test_page_digits import open_digits

browser, server, ui = tp.browser, tp.server, tp.ui  # fixtures


def every_for(span: int, frames: int) -> int:
    """static/record.js everyFor."""
    every = max(1, math.ceil(span / (frames - 1)))
    while span // every + 1 + (1 if span % every else 0) > frames:
        every += 1
    return every


def frames_for(span: int, every: int) -> int:
    return span // every + 1 + (1 if span % every else 0)


def epoch(pg) -> int:
    return int(pg.text_content("#epoch"))


def train_until(pg, more: int) -> int:
    """Run until `more` epochs past now, pause; the epoch paused at."""
    target = epoch(pg) + more
    pg.click("#play")
    pg.wait_for_function(f"Number(document.getElementById('epoch').textContent) >= {target}")
    pg.click("#play")
    pg.wait_for_function("document.getElementById('play').getAttribute('aria-pressed') === 'false'")
    return epoch(pg)


def record_span(pg, fmt: str, frames: int, more: int) -> tuple[int, int, bytes, str]:
    """Start recording, train `more` epochs, stop: (A, B, the file, its suggested name)."""
    pg.click("#record summary")
    pg.select_option("#record-format", fmt)
    pg.fill("#record-frames", str(frames))
    pg.click("#record-start")
    pg.wait_for_function("document.getElementById('record-status').textContent.startsWith('Recording from epoch')")
    a = int(re.search(r"epoch (\d+)", pg.text_content("#record-status")).group(1))
    assert pg.get_attribute("#record-start", "aria-pressed") == "true"
    b = train_until(pg, more)
    with pg.expect_download(timeout=120_000) as dl:
        pg.click("#record-start")
    data = Path(dl.value.path()).read_bytes()
    pg.wait_for_function("document.getElementById('record-status').textContent.startsWith('Saved')")
    return a, b, data, dl.value.suggested_filename


def test_record_a_span_and_download_the_gif(ui):
    pg = ui.open()
    train_until(pg, 20)
    a, b, data, name = record_span(pg, "gif", 6, 60)
    assert b > a and name == f"ganlab-{pg.evaluate('window.ganlab.server.data')}-epochs{a}-{b}.gif"
    n = frames_for(b - a, every_for(b - a, 6))
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "GIF" and im.n_frames == n and im.size == (400, 400)
    assert pg.text_content("#record-status").startswith(f"Saved {n} frames (epochs {a}–{b})")
    assert pg.get_attribute("#record-start", "aria-pressed") == "false"


def test_record_a_digits_span_as_a_sample_grid_webp(ui):
    pg = open_digits(ui)
    a, b, data, name = record_span(pg, "webp", 4, 30)
    assert pg.is_visible("[data-record-layer=epoch]") and not pg.is_visible("[data-record-layer=heatmap]")
    assert name.endswith(f"-epochs{a}-{b}.webp")
    with Image.open(io.BytesIO(data)) as im:  # 8 x 8 digits of 8 px at scale 8, 1 px gaps, the epoch strip
        assert im.format == "WEBP" and im.n_frames == frames_for(b - a, every_for(b - a, 4))
        assert im.size == (8 * 64 + 9, 8 * 64 + 9 + 16)


def test_nothing_to_record_before_training_and_a_reset_cancels(ui):
    pg = ui.open()
    pg.click("#record summary")
    pg.click("#record-start")
    pg.wait_for_function("document.getElementById('record-status').textContent.startsWith('Recording from epoch')")
    pg.click("#record-start")  # no epoch trained since the start: it keeps recording
    pg.wait_for_function("document.getElementById('record-status').textContent.startsWith('Nothing to record yet')")
    assert pg.get_attribute("#record-start", "aria-pressed") == "true"
    pg.click("#reset")
    pg.wait_for_function("document.getElementById('record-status').textContent"
                         " === 'Recording stopped: training started again.'")
    assert pg.get_attribute("#record-start", "aria-pressed") == "false"


def test_record_what_i_see_makes_a_webm(ui):
    pg = ui.open()
    pg.click("#record summary")
    assert pg.is_visible("#record-live")  # Chromium has MediaRecorder with WebM
    pg.click("#play")
    pg.click("#record-live")
    start = epoch(pg)
    pg.wait_for_function(f"Number(document.getElementById('epoch').textContent) >= {start + 40}")
    with pg.expect_download() as dl:
        pg.click("#record-live")
    data = Path(dl.value.path()).read_bytes()
    assert dl.value.suggested_filename.endswith("-view.webm")
    assert data[:4] == b"\x1a\x45\xdf\xa3" and len(data) > 1000
    pg.click("#play")


def test_the_webm_button_hides_without_media_recorder(ui):
    pg = ui.page
    pg.add_init_script("delete window.MediaRecorder")
    pg = ui.open(page=pg)
    pg.click("#record summary")
    assert pg.is_visible("#record-start") and pg.locator("#record-live").is_hidden()
    assert pg.evaluate("document.getElementById('record-live').hidden") is True


def test_save_the_last_epochs_from_a_kept_snapshot(ui):
    """Pausing takes a snapshot; "Save since then" animates from it to now, no Start needed."""
    pg = ui.open()
    pg.click("#record summary")
    a = train_until(pg, 20)
    pg.wait_for_function(f"[...document.querySelectorAll('#record-from option')].some((o) => o.value === '{a}')")
    b = train_until(pg, 40)
    pg.wait_for_function(f"document.querySelector('#record-from option').value === '{b}'")  # newest first
    assert pg.is_visible("#record-since")
    pg.select_option("#record-from", str(a))
    pg.fill("#record-frames", "5")
    with pg.expect_download(timeout=120_000) as dl:
        pg.click("#record-since")
    assert dl.value.suggested_filename.endswith(f"-epochs{a}-{b}.gif")
    with Image.open(io.BytesIO(Path(dl.value.path()).read_bytes())) as im:
        assert im.n_frames == frames_for(b - a, every_for(b - a, 5)) and im.size == (400, 400)
    pg.click("#reset")  # a new experiment: the kept snapshots lead elsewhere
    pg.wait_for_function("document.querySelectorAll('#record-from option').length === 1"
                         " && document.querySelector('#record-from option').value === '0'")
