"""Animation encoding: size and time of GIF, WebP and APNG for N frames of the data view.

    python scripts/bench_animate.py [--frames 200] [--size 400] [--every 50] [--data ring8]
                                    [--repeat 3] [--formats gif,webp,apng] [--keep DIR]

Renders ``--frames`` frames of the data view (the page's default layers: heatmap, real, fake,
dD/dx arrows; legend and epoch) of a training run, one every ``--every`` epochs, with
ganlab.render (the render time is reported apart), then encodes them with each format's Pillow
encoder as ``ganlab train --animate`` does, ``--repeat`` times, and prints the median encode time
(wall and CPU) and the file size. For GIF the encode includes mapping the RGB frames onto the fixed
palette. Target (issue 11): 200 frames of a 400 px view encode in under 2 s and stay under 4 MB
as GIF.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", type=int, default=400, help="frame side in px")
    ap.add_argument("--every", type=int, default=50, help="epochs between frames")
    ap.add_argument("--data", default="ring8")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--fps", type=float, default=10)
    ap.add_argument("--formats", default="gif,webp,apng")
    ap.add_argument("--keep", help="keep the files in this directory")
    a = ap.parse_args()
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
