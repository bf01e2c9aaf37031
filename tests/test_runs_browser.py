"""A run file is readable by a browser without a library (docs/runs.md, "The single file"): the
reader below follows the documented steps with a DataView, checks each entry's CRC-32, decodes
the manifest, the metrics and a snapshot, and shows a thumbnail as an image, in real Chromium.
The reader is the page's own (static/runs/zip.js), the one the Runs panel imports with; the
refusals' words are checked against the Python reader's in tests/test_page_runs.py."""

import base64
import os
from pathlib import Path

import pytest

from ganlab import Trainer
from ganlab.runs import Recorder, Run

# The browser set-up is test_page's (it skips without playwright, and fails without chromium
# where GANLAB_REQUIRE_BROWSER=1).
from tests.test_page import ARGS, CHROMIUM, sync_api  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"system chromium not found at {CHROMIUM}")

ZIP_JS = Path(__file__).resolve().parents[1] / "static" / "runs" / "zip.js"

# The page's own reader (static/runs/zip.js, used by the Runs panel's import), loaded as a module
# from its source, then the manifest, the metrics, a snapshot and a thumbnail decoded from it.
READER = """async ([src, b64]) => {
  const {readZip} = await import("data:text/javascript;base64," + src);
  const bin = atob(b64), u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  let entries;
  try { entries = readZip(u8, "r.zip"); } catch (e) { return {error: e.message}; }
  const td = new TextDecoder("utf-8", {fatal: true});
  const run = JSON.parse(td.decode(entries.get("run.json")));
  const rows = td.decode(entries.get("metrics.jsonl")).split("\\n").filter(Boolean).map((l) => JSON.parse(l));
  const thumb = run.thumbs[run.thumbs.length - 1];
  const img = await createImageBitmap(new Blob([entries.get(thumb.file)], {type: "image/png"}));
  const snap = JSON.parse(td.decode(entries.get(run.snapshots[0].file)));
  return {names: [...entries.keys()], format: run.format, name: run.name, rows: rows.length,
          last: rows[rows.length - 1].epoch, thumb: [img.width, img.height], snapshot: [snap.format, snap.epoch]};
}"""


def read(page, data: bytes):
    return page.evaluate(READER, [base64.b64encode(ZIP_JS.read_bytes()).decode(), base64.b64encode(data).decode()])


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = b.new_page()
        pg.goto("about:blank")
        yield pg
        b.close()


def test_a_run_file_reads_in_chromium_without_a_library(tmp_path, page):
    rec = Recorder(Trainer(seed=0), tmp_path / "r", metrics_every=25, snapshot_every=50, thumb_every=50)
    rec.train(100)
    rec.close()
    run = Run(tmp_path / "r")
    run.export(tmp_path / "r.zip")
    data = (tmp_path / "r.zip").read_bytes()
    got = read(page, data)
    assert got == {"names": run.files(), "format": "ganlab-run", "name": "r", "rows": 5, "last": 100,
                   "thumb": [96, 96], "snapshot": ["ganlab-snapshot", 0]}
    bad = bytearray(data)
    i = bad.index(b'metrics.jsonl{"epoch"') + 20
    bad[i] ^= 1
    assert read(page, bytes(bad)) == {"error": "r.zip: entry metrics.jsonl is corrupt: fails its CRC-32 check"}
    cut = data[: len(data) // 2]
    assert read(page, cut)["error"].startswith("r.zip: truncated: the zip's end record is missing")
