"""Server-side cost of one frame: build the layers and metrics, encode, and the JSON alternative.

    python scripts/bench_frames.py [--repeat 5] [--frames 300]

Measures, on a trained default model, the median over ``--repeat`` runs of the mean time per
frame for:

- ``issue view``: the issue's reference frame (heatmap 50 x 50, 1000 real + 1000 fake samples
  with D's gradients, manifold 20 x 20, KL/JS), built with the server's FrameBuilder, plus its
  binary encoding;
- ``default view``: the protocol's default view (real, fake, heatmap 50, d_grad; 500 samples)
  built and encoded, without and with the full live metrics (``ganlab.metrics.frame_metrics``);
- ``encode only`` and, for comparison, stdlib JSON of the same arrays.

Target (issue 4): under 0.5 ms per frame built and encoded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from ganlab import Trainer
from ganlab.metrics import divergences, reference_real
from ganlab.server.frames import encode
from ganlab.server.layers import FrameBuilder
from ganlab.server.tuning import tune_malloc


def per_frame(fn, frames: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean seconds per call."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(frames):
            fn()
        runs.append((time.perf_counter() - t0) / frames)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--no-tune", action="store_true", help="leave glibc malloc untuned")
    args = ap.parse_args()
    if not args.no_tune:
        tune_malloc()
    t = Trainer()
    t.train(2000)
    fb = FrameBuilder()

    issue = {"layers": ["real", "fake", "heatmap", "d_grad", "manifold"], "heatmap": 50,
             "samples": 1000, "manifold": 20, "fps": 30}
    ref = reference_real(t, 1000)

    def issue_frame():
        fb.view = issue
        layers, _ = fb.build(t, with_metrics=False)
        divergences(ref, layers["fake"])  # KL / JS, bits
        return encode(1, layers)

    default = {"layers": ["real", "fake", "heatmap", "d_grad"], "heatmap": 50, "samples": 500,
               "manifold": 20, "fps": 30}

    def default_frame():
        fb.view = default
        return encode(1, fb.build(t, with_metrics=False)[0])

    fm = FrameBuilder()

    def default_with_metrics():
        fm.view = default
        return encode(1, fm.build(t, with_metrics=True)[0])

    fb.view = issue
    layers, _ = fb.build(t, with_metrics=False)
    as_lists = {k: np.asarray(v, dtype=np.float32).tolist() for k, v in layers.items()}

    rows = [
        ("issue view: heatmap 50, 1000 samples + d_grad, manifold 20, KL/JS; encoded",
         per_frame(issue_frame, args.frames, args.repeat)),
        ("default view: real, fake, heatmap 50, d_grad, 500 samples; encoded",
         per_frame(default_frame, args.frames, args.repeat)),
        ("default view + all live metrics (frame_metrics); encoded",
         per_frame(default_with_metrics, args.frames, args.repeat)),
        ("encode only (issue view arrays, binary)",
         per_frame(lambda: encode(1, layers), args.frames, args.repeat)),
        ("stdlib json.dumps of the same arrays (for comparison)",
         per_frame(lambda: json.dumps(as_lists), max(10, args.frames // 10), args.repeat)),
    ]
    print(f"binary frame {len(encode(1, layers)) / 1024:.0f} KiB, JSON "
          f"{len(json.dumps(as_lists)) / 1024:.0f} KiB (issue view)")
    for name, sec in rows:
        print(f"{sec * 1e3:8.3f} ms  {name}")


if __name__ == "__main__":
    main()
