"""Sessions per core, estimated from CPU time: what one default 2D session costs per second at a
pace, measured in-process with ``time.thread_time`` (so a busy machine barely moves it).

    python scripts/capacity.py [--speed 50] [--fps 30] [--seconds 3] [--repeat 3]

A playing session does, per second: ``speed`` epochs, ``fps`` frames of the default view of
which ``metrics_hz`` (5) carry the metrics, each frame encoded with its JSON head. Its CPU
cost c (core-seconds per second) gives about ``1 / c`` sessions per core. This leaves out the event
loop, websockets and message handling, so it is an upper bound; ``scripts/load.py --speed 50
--workers 1`` measures a real server (``server_cores``, ``sessions_per_core_at_pace``) and is
the figure to trust on a quiet machine. Under load the server shares frames out (520 per second
per process), so past ~17 sessions a process sends each fewer than 30 frames per second: the
table shows that case too.
"""

from __future__ import annotations

import argparse
import statistics
import time

from ganlab import Trainer
from ganlab.server.frames import dumps, encode
from ganlab.server.layers import DEFAULT_VIEW, FrameBuilder
from ganlab.server.settings import Settings
from ganlab.server.tuning import tune_malloc


def cpu_per_call(fn, seconds: float) -> float:
    """Mean CPU seconds (this thread) per call of ``fn`` over about ``seconds`` of CPU."""
    fn()
    n, t0 = 0, time.thread_time()
    while time.thread_time() - t0 < seconds:
        fn()
        n += 1
    return (time.thread_time() - t0) / n


def frame(fb: FrameBuilder, t: Trainer, with_metrics: bool) -> None:
    parts = fb.parts(t, with_metrics)
    while True:
        try:
            next(parts)
        except StopIteration as done:
            layers, metrics = done.value
            break
    dumps({"type": "frame", "epoch": t.epoch, "metrics": metrics, "layers": list(layers)})
    encode(1, layers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--speed", type=float, default=50.0, help="epochs/s (the page's default pace: 50)")
    ap.add_argument("--fps", type=float, default=30.0, help="frames/s (the default view's 30)")
    ap.add_argument("--seconds", type=float, default=3.0, help="CPU seconds per measurement")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    tune_malloc()
    s = Settings()
    t = Trainer()
    t.train(2000)  # past the start, as a class's sessions are
    fb = FrameBuilder(view=dict(DEFAULT_VIEW))
    runs = []
    for _ in range(args.repeat):
        epoch = cpu_per_call(lambda: t.train(1), args.seconds / 3)
        plain = cpu_per_call(lambda: frame(fb, t, False), args.seconds / 3)
        with_metrics = cpu_per_call(lambda: frame(fb, t, True), args.seconds / 3)
        runs.append((epoch, plain, with_metrics))
    epoch, plain, with_metrics = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"CPU per epoch {1e3 * epoch:.3f} ms, per frame {1e3 * plain:.3f} ms, "
          f"per frame with metrics {1e3 * with_metrics:.3f} ms (medians of {args.repeat})")

    def cost(n: int) -> tuple[float, float]:
        """(frames/s each, core-seconds per second each) with n sessions playing in a process."""
        fps = min(args.fps, s.frame_budget / n)
        mhz = min(s.metrics_hz, s.metrics_budget / n, fps)
        return fps, args.speed * epoch + (fps - mhz) * plain + mhz * with_metrics

    print(f"{'sessions':>8} {'frames/s each':>13} {'CPU each':>9} {'cores needed':>12}")
    for n in (10, 20, 30, 40, 60, 80):
        fps, c = cost(n)
        print(f"{n:>8} {fps:>13.1f} {c:>9.4f} {n * c:>12.2f}")
    fit = max((n for n in range(1, 1000) if n * cost(n)[1] <= 1.0), default=0)
    print(f"sessions per core at {args.speed:g} epochs/s (upper bound, no server overhead): {fit}")


if __name__ == "__main__":
    main()
