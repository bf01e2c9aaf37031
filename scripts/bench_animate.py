"""Animation encoding: size and time of GIF, WebP and APNG for N frames of the data view.

    python scripts/bench_animate.py [--frames 200] [--size 400] [--every 50] [--data ring8]
                                    [--repeat 3] [--formats gif,webp,apng] [--keep DIR]
    python scripts/bench_animate.py --route [--data gaussians] [--frames 200] [--every 50] ...

Renders ``--frames`` frames of the data view (the page's default layers: heatmap, real, fake,
dD/dx arrows; legend and epoch) of a training run, one every ``--every`` epochs, with
ganlab.render (the render time is reported apart), then encodes them with each format's Pillow
encoder as ``ganlab train --animate`` does, ``--repeat`` times, and prints the median encode time
(wall and CPU) and the file size. For GIF the encode includes mapping the RGB frames onto the fixed
palette. Target (issue 11): 200 frames of a 400 px view encode in under 2 s and stay under 4 MB
as GIF.

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
from ganlab.render import Animation, ViewSpec, encode
from ganlab.runs import train_with

EXT = {"gif": ".gif", "webp": ".webp", "apng": ".png"}
GIF_SECONDS, GIF_BYTES = 2.0, 4 * 1000 * 1000


def render_frames(data: str, frames: int, size: int, every: int, seed: int):
    """(RGB frames, seconds to render them) of a run on ``data``."""
    t = Trainer(data=data, seed=seed, **_preset(data))
    anim = Animation("frames.png", every, ViewSpec(size=size))  # APNG keeps RGB frames
    t0 = time.perf_counter()
    train_with(t, every * (frames - 1), [anim])
    seconds = time.perf_counter() - t0
    return [f for _, f in anim.frames], seconds


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
    ap.add_argument("--data", default=None, help="distribution (default: ring8; with --route the page's "
                    "default, gaussians)")
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
        a.data = a.data or "gaussians"
        route(a)
        return
    a.data = a.data or "ring8"
    frames, render_s = render_frames(a.data, a.frames, a.size, a.every, a.seed)
    print(f"{len(frames)} frames of {a.size} x {a.size} px ({a.data}, every {a.every} epochs): "
          f"trained and rendered in {render_s:.2f} s ({1000 * render_s / len(frames):.1f} ms a frame)")
    out = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_animate_"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'format':<7} {'encode s (median)':>18} {'CPU s':>7} {'bytes':>12} {'MB':>6}  target")
    for fmt in a.formats.split(","):
        path = out / f"anim{EXT[fmt]}"
        wall, cpu = [], []
        for _ in range(a.repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            size = encode(frames, path, fmt, a.fps)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        w, c = statistics.median(wall), statistics.median(cpu)
        target = ""
        if fmt == "gif":
            ok = w < GIF_SECONDS and size < GIF_BYTES
            target = f"{'PASS' if ok else 'FAIL'} (< {GIF_SECONDS:g} s, < {GIF_BYTES / 1e6:g} MB)"
        print(f"{fmt:<7} {w:>18.3f} {c:>7.3f} {size:>12,} {size / 1e6:>6.2f}  {target}")
    if a.keep:
        print(f"files kept in {out}")


if __name__ == "__main__":
    main()
