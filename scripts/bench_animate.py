"""Animation encoding: size and time of GIF, WebP and APNG for N frames of the data view.

    python scripts/bench_animate.py [--data ring8,gaussians,checkerboard] [--frames 200] [--size 400]
                                    [--every 50] [--repeat 3] [--formats gif,webp,apng] [--keep DIR]
    python scripts/bench_animate.py --route [--data gaussians] [--frames 200] [--every 50] ...

For each distribution in ``--data`` (its recommended preset, seed ``--seed``) it trains once and
renders ``--frames`` frames of the data view (the page's default layers: heatmap, real, fake,
dD/dx arrows; legend and epoch), one every ``--every`` epochs, as ``ganlab train --animate`` does:
GIF frames painted on the fixed palette (the heatmap in its bands), RGB frames for WebP and APNG.
Then it encodes them with each format's Pillow encoder ``--repeat`` times and prints a table: the
median encode time (wall and CPU) and the file size. The GIF's encode time includes mapping the
painted frames onto the palette (timed while painting), as it did when that happened in the
encoder. The default data (gaussians, the page's) is always measured and its GIF is checked
against the bar of issue 11: 200 frames of a 400 px view encode in under 2 s and stay under
4 MB (on seeds 0-5: 2.44, 3.80, 3.70, 3.61, 1.03, 0.63 MB; `--seed S`). checkerboard, 500
fakes and arrows in motion, was 4.18 MB on seed 0 before the GIF's heatmap bands held and its
dots were painted unsmoothed, 2.90 MB after.

With ``--route`` it measures what the page's Record control waits for instead: a ``ganlab serve``
is started, and for each format the time from sending POST /api/animate (the snapshot at epoch 0
of ``--data`` with its recommended preset, default the page's default data, and a span of
``--frames`` frames every ``--every`` epochs) to having the whole file: the job process's start,
the replay (training), the rendering and the encoding. Median of ``--repeat``, with the size.

With ``--first-byte`` it measures the fixed cost of a job instead: the time to the first byte of
the reply to a small job (``--data``'s snapshot at epoch 0, 10 epochs, one 64 px GIF frame pair)
through a real server, the first request after the server started ("cold") and then
``--repeat`` more, each ``--gap`` seconds after the previous reply ("warm": a worker that keeps a
job process ready answers these without starting Python), with the CPU seconds the server's
process tree spent per job. ``--checkout DIR`` serves the ganlab of another checkout (e.g. the
main branch) for a before/after comparison:

    python scripts/bench_animate.py --first-byte [--repeat 10] [--gap 1] [--checkout /path/to/main]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ganlab import Trainer
from ganlab.render import Animation, ViewSpec, dataview, encode
from ganlab.runs import train_with

EXT = {"gif": ".gif", "webp": ".webp", "apng": ".png"}
DEFAULT_DATA = "gaussians"  # the page's default data
GIF_SECONDS, GIF_BYTES = 2.0, 4 * 1000 * 1000


class Timed:
    """Wraps a function, adding up the wall and CPU seconds spent in it."""

    def __init__(self, fn):
        self.fn, self.wall, self.cpu = fn, 0.0, 0.0

    def __call__(self, *a, **kw):
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            return self.fn(*a, **kw)
        finally:
            self.wall += time.perf_counter() - t0
            self.cpu += time.process_time() - c0


def render_frames(data: str, frames: int, size: int, every: int, seed: int):
    """({"gif": frames on the palette, "rgb": RGB frames}, seconds to train and render, wall and
    CPU seconds of mapping the GIF frames onto the palette) of a run on ``data``."""
    t = Trainer(data=data, seed=seed, **_preset(data))
    spec = ViewSpec(size=size)
    gif, rgb = Animation("frames.gif", every, spec), Animation("frames.png", every, spec)
    palette = Timed(dataview.to_palette)
    dataview.to_palette = palette  # paint_indexed's last step
    t0 = time.perf_counter()
    try:
        train_with(t, every * (frames - 1), [gif, rgb])
    finally:
        dataview.to_palette = palette.fn
    seconds = time.perf_counter() - t0
    return {"gif": [f for _, f in gif.frames], "rgb": [f for _, f in rgb.frames]}, seconds, palette


def _preset(data: str) -> dict:
    from ganlab.data import DISTRIBUTIONS

    return dict(DISTRIBUTIONS[data].preset) if data in DISTRIBUTIONS else {}


def route(a) -> None:
    """Time POST /api/animate from request to file, per format, through a real server."""
    import json
    import sys
    import urllib.request

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from load import free_port, start_server, stop_server

    snap = Trainer(data=a.data, seed=a.seed, **_preset(a.data)).snapshot()
    to = a.every * (a.frames - 1)
    port = free_port()
    proc, _ = start_server(port, 1, 8)
    print(f"POST /api/animate: {a.data} (recommended preset) epochs 0..{to:,}, a frame every {a.every} "
          f"({a.frames} frames of {a.size} px), median of {a.repeat}")
    print(f"{'format':<7} {'request->file s':>16} {'frames':>7} {'bytes':>12} {'MB':>6}")
    try:
        for fmt in a.formats.split(","):
            body = json.dumps({"snapshot": snap, "to": to, "every": a.every, "format": fmt, "size": a.size,
                               "fps": a.fps}).encode()
            times, size, frames = [], 0, 0
            for _ in range(a.repeat):
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/animate", data=body,
                                             headers={"Content-Type": "application/json"})
                t0 = time.perf_counter()
                with urllib.request.urlopen(req, timeout=600) as r:
                    data = r.read()
                    frames = int(r.headers["X-Frames"])
                times.append(time.perf_counter() - t0)
                size = len(data)
                if a.keep:
                    Path(a.keep).mkdir(parents=True, exist_ok=True)
                    (Path(a.keep) / f"route{EXT[fmt]}").write_bytes(data)
            print(f"{fmt:<7} {statistics.median(times):>16.2f} {frames:>7} {size:>12,} {size / 1e6:>6.2f}")
    finally:
        stop_server(proc)


def _tree_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` and its descendants so far, the ended (reaped) ones too:
    a job process that has exited counts in its parent's children's times (Linux /proc)."""
    import os

    tick, procs = os.sysconf("SC_CLK_TCK"), {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            f = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(d.name)] = (int(f[1]), sum(int(x) for x in f[11:15]) / tick)  # ppid; u, s, cu, cs
    keep = {pid}
    for _ in range(3):
        keep |= {p for p, (ppid, _) in procs.items() if ppid in keep}
    return sum(procs.get(p, (0, 0.0))[1] for p in keep)


def first_byte(a) -> None:
    """Time to the first byte of a small job's reply, cold then warm, through a real server."""
    import http.client
    import json
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from load import ROOT, free_port, start_server, stop_server

    root = Path(a.checkout).resolve() if a.checkout else ROOT
    body = json.dumps({"snapshot": Trainer(data=a.data, seed=a.seed).snapshot(), "to": 10, "every": 10,
                       "format": "gif", "size": 64}).encode()
    port = free_port()
    proc, _ = start_server(port, 1, 8, root=root)

    def one() -> tuple[float, float]:
        c0 = _tree_cpu(proc.pid)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        t0 = time.perf_counter()
        conn.request("POST", "/api/animate", body, {"Content-Type": "application/json"})
        r = conn.getresponse()
        ttfb = time.perf_counter() - t0
        r.read()
        conn.close()
        if r.status != 200:
            raise RuntimeError(f"POST /api/animate answered {r.status}")
        time.sleep(0.2)  # let the job process's accounting land in /proc
        return ttfb, _tree_cpu(proc.pid) - c0

    try:
        cold = one()
        warm = []
        for _ in range(a.repeat):
            time.sleep(a.gap)
            warm.append(one())
    finally:
        stop_server(proc)
    print(f"POST /api/animate, a small job ({a.data}, 10 epochs, 2 frames of 64 px GIF), server from {root}")
    print(f"{'request':<22} {'first byte s':>13} {'server CPU s':>13}")
    print(f"{'cold (first)':<22} {cold[0]:>13.3f} {cold[1]:>13.3f}")
    ttfb = [w[0] for w in warm]
    print(f"{f'warm (median of {len(warm)})':<22} {statistics.median(ttfb):>13.3f} "
          f"{statistics.median(w[1] for w in warm):>13.3f}")
    print(f"{'warm (min..max)':<22} {f'{min(ttfb):.3f}..{max(ttfb):.3f}':>13}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", type=int, default=400, help="frame side in px")
    ap.add_argument("--every", type=int, default=50, help="epochs between frames")
    ap.add_argument("--data", default=None, help="distributions, comma-separated (default: ring8,gaussians,"
                    f"checkerboard; {DEFAULT_DATA} is always added; with --route one, default {DEFAULT_DATA})")
    ap.add_argument("--route", action="store_true", help="time POST /api/animate through a server instead")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--formats", default="gif,webp,apng")
    ap.add_argument("--keep", help="keep the files in this directory")
    ap.add_argument("--first-byte", action="store_true", help="time to the first byte of a small job, cold and warm")
    ap.add_argument("--gap", type=float, default=1.0, help="--first-byte: seconds between two requests")
    ap.add_argument("--checkout", help="--first-byte: serve the ganlab of this checkout (default: this one)")
    a = ap.parse_args()
    if a.first_byte:
        a.data = a.data or "gaussians"
        a.repeat = max(a.repeat, 1)
        first_byte(a)
        return
    if a.route:
        a.data = a.data or DEFAULT_DATA
        route(a)
        return
    names = [x.strip() for x in (a.data or "ring8,gaussians,checkerboard").split(",") if x.strip()]
    if DEFAULT_DATA not in names:
        names.append(DEFAULT_DATA)
    out = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_animate_"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{a.frames} frames of {a.size} x {a.size} px, one every {a.every} epochs (recommended preset, seed "
          f"{a.seed}); encode: median of {a.repeat} (GIF: with mapping the frames onto the palette)")
    rows, verdict = [], None
    for data in names:
        frames, render_s, palette = render_frames(data, a.frames, a.size, a.every, a.seed)
        print(f"  {data}: trained and rendered (GIF and RGB frames) in {render_s:.2f} s "
              f"({1000 * render_s / a.frames:.1f} ms a frame)", flush=True)
        for fmt in a.formats.split(","):
            path = out / f"{data}{EXT[fmt]}"
            wall, cpu = [], []
            for _ in range(a.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                size = encode(frames["gif" if fmt == "gif" else "rgb"], path, fmt, a.fps)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
            w, c = statistics.median(wall), statistics.median(cpu)
            if fmt == "gif":
                w, c = w + palette.wall, c + palette.cpu
            bar = ""
            if fmt == "gif" and data == DEFAULT_DATA:
                ok = w < GIF_SECONDS and size < GIF_BYTES
                verdict = ok if verdict is None else verdict and ok
                bar = f"{'PASS' if ok else 'FAIL'} (< {GIF_SECONDS:g} s, < {GIF_BYTES / 1e6:g} MB)"
            rows.append((data + (" (default)" if data == DEFAULT_DATA else ""), fmt, w, c, size, bar))
    print(f"{'data':<22} {'format':<7} {'encode s':>9} {'CPU s':>7} {'bytes':>12} {'MB':>6}  bar (default data's GIF)")
    for data, fmt, w, c, size, bar in rows:
        print(f"{data:<22} {fmt:<7} {w:>9.3f} {c:>7.3f} {size:>12,} {size / 1e6:>6.2f}  {bar}")
    if verdict is not None:
        print(f"bar: the default data's GIF {'PASSES' if verdict else 'FAILS'}")
    if a.keep:
        print(f"files kept in {out}")


if __name__ == "__main__":
    main()
