"""A run file is readable by a browser without a library (docs/runs.md, "The single file"): the
reader below follows the documented steps with a DataView, checks each entry's CRC-32, decodes
the manifest, the metrics and a snapshot, and shows a thumbnail as an image, in real Chromium.
It is the reference for the page's import."""

import base64
import os

import pytest

from ganlab import Trainer
from ganlab.runs import Recorder, Run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
if os.environ.get("GANLAB_REQUIRE_BROWSER") == "1":
    assert os.path.exists(CHROMIUM), f"GANLAB_REQUIRE_BROWSER=1 but no chromium at {CHROMIUM}"
    import playwright.sync_api as sync_api
else:
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"system chromium not found at {CHROMIUM}")

READER = """async (b64) => {
  const bin = atob(b64), u8 = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u8[i] = bin.charCodeAt(i);
  const dv = new DataView(u8.buffer), td = new TextDecoder("utf-8", {fatal: true});
  const T = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320 ^ (c >>> 1) : c >>> 1;
    T[n] = c >>> 0;
  }
  const crc = (a) => {
    let c = 0xFFFFFFFF;
    for (let i = 0; i < a.length; i++) c = T[(c ^ a[i]) & 255] ^ (c >>> 8);
    return (c ^ 0xFFFFFFFF) >>> 0;
  };
  let eocd = -1;  // 1. the end record, in the last 65,557 bytes
  for (let i = u8.length - 22; i >= Math.max(0, u8.length - 65557); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) return {error: "truncated: the zip's end record is missing"};
  const count = dv.getUint16(eocd + 10, true);
  let p = dv.getUint32(eocd + 16, true);
  const entries = {};
  for (let i = 0; i < count; i++) {  // 2. the central directory
    if (p + 46 > u8.length || dv.getUint32(p, true) !== 0x02014b50) return {error: "corrupt central directory"};
    const flags = dv.getUint16(p + 8, true), method = dv.getUint16(p + 10, true), sum = dv.getUint32(p + 16, true);
    const csize = dv.getUint32(p + 20, true), size = dv.getUint32(p + 24, true);
    const nlen = dv.getUint16(p + 28, true), xlen = dv.getUint16(p + 30, true), clen = dv.getUint16(p + 32, true);
    const off = dv.getUint32(p + 42, true), name = td.decode(u8.subarray(p + 46, p + 46 + nlen));
    if (method !== 0 || flags & 1 || csize !== size) return {error: `entry ${name} is not stored`};
    if (dv.getUint32(off, true) !== 0x04034b50) return {error: `entry ${name}: no local header`};
    const start = off + 30 + dv.getUint16(off + 26, true) + dv.getUint16(off + 28, true);  // 3. its data
    const data = u8.subarray(start, start + size);
    if (data.length !== size || crc(data) !== sum) {  // 4. its CRC-32
      return {error: `entry ${name} is corrupt: fails its CRC-32 check`};
    }
    entries[name] = data;
    p += 46 + nlen + xlen + clen;
  }
  const run = JSON.parse(td.decode(entries["run.json"]));
  const rows = td.decode(entries["metrics.jsonl"]).split("\\n").filter(Boolean).map((l) => JSON.parse(l));
  const thumb = run.thumbs[run.thumbs.length - 1];
  const img = await createImageBitmap(new Blob([entries[thumb.file]], {type: "image/png"}));
  const snap = JSON.parse(td.decode(entries[run.snapshots[0].file]));
  return {names: Object.keys(entries), format: run.format, name: run.name, rows: rows.length,
          last: rows[rows.length - 1].epoch, thumb: [img.width, img.height], snapshot: [snap.format, snap.epoch]};
}"""


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
    got = page.evaluate(READER, base64.b64encode(data).decode())
    assert got == {"names": run.files(), "format": "ganlab-run", "name": "r", "rows": 5, "last": 100,
                   "thumb": [96, 96], "snapshot": ["ganlab-snapshot", 0]}
    bad = bytearray(data)
    i = bad.index(b'metrics.jsonl{"epoch"') + 20
    bad[i] ^= 1
    assert page.evaluate(READER, base64.b64encode(bytes(bad)).decode()) == {
        "error": "entry metrics.jsonl is corrupt: fails its CRC-32 check"}
    cut = data[: len(data) // 2]
    assert page.evaluate(READER, base64.b64encode(cut).decode())["error"].startswith("truncated")
