"""Serving image sessions: how many digits sessions one core holds at >= 15 frames/s and >= 100
iterations/s, and the longest stretch one update or one frame holds the event loop.

For each session count N (``--sessions 1 2 3``) it starts ``ganlab.server.run`` with one worker
(one core) and ``max_image_sessions = N`` (so none is capped: the question is what the core
holds), connects N websocket clients, switches each to ``--data`` with its preset, plays at full
speed (``--tutorial``: the numpy tutorial's model of issue 10 instead of the preset) and counts per
session the frames per second and the iterations per second (epochs: with
the presets' k_D = k_G = 1 an epoch is one D and one G update) over ``--seconds``.

``--stretches`` also times in-process, on the same data and preset: one training update (what a
training chunk holds the loop for, at least) and every part of one frame (the frame builder
yields between parts), the largest of ``--repeat`` tries each.

    nice -n 19 python scripts/load_digits.py --data mnist --sessions 1 2 3 --seconds 10 --stretches
    python scripts/load_digits.py --data mnist --speed 50 --sessions 2 4 6   # at the page's pace

Noisy on a shared machine: report the figures with the load they were measured under.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import frame_epoch, free_port, start_server, stop_server, tree_cpu  # noqa: E402

BAR_FPS, BAR_ITS = 15.0, 100.0
# The numpy MNIST tutorial's model (issue 10): G 100 -> 256 (leaky) -> 784 (tanh), D 784 -> 64
# (leaky) -> 1, batch 100, k = 1, SGD lr 0.01 with decay 1e-4.
TUTORIAL = {"noise_dim": 100, "batch_size": 100, "k_d": 1, "k_g": 1,
            "generator.layers": 1, "generator.units": 256, "generator.activation": "leaky_relu",
            "generator.output": "tanh", "discriminator.layers": 1, "discriminator.units": 64,
            "discriminator.activation": "leaky_relu",
            "g_optimizer.kind": "sgd", "g_optimizer.lr": 0.01, "g_optimizer.decay": 1e-4,
            "d_optimizer.kind": "sgd", "d_optimizer.lr": 0.01, "d_optimizer.decay": 1e-4}


class Client:
    def __init__(self, url: str, data: str, changes: dict, fps: int, speed: float | None = None):
        self.url, self.data, self.changes, self.fps, self.speed = url, data, changes, fps, speed
        self.frames: list[tuple[float, int]] = []  # (arrival, epoch)
        self.ids = 0

    async def request(self, ws, type: str, **fields) -> dict:
        self.ids += 1
        await ws.send(json.dumps({"type": type, "id": self.ids, **fields}))
        while True:
            msg = await ws.recv()
            if isinstance(msg, bytes):
                continue
            m = json.loads(msg)
            if m.get("id") == self.ids:
                if m["type"] == "error":
                    raise RuntimeError(f"{type}: {m['message']}")
                return m

    async def run(self, ready: asyncio.Event, go: asyncio.Event, seconds: float) -> None:
        async with connect(self.url, max_size=None) as ws:
            await ws.recv()  # hello
            await self.request(ws, "data", name=self.data, apply_preset=True)
            if self.changes:
                await self.request(ws, "config", changes=self.changes)
            await self.request(ws, "speed", epochs_per_sec=self.speed)
            await self.request(ws, "view", fps=self.fps)
            ready.set()
            await go.wait()
            await self.request(ws, "play")
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    msg = await asyncio.wait_for(ws.recv(), left)
                except TimeoutError:
                    break
                if isinstance(msg, str) and (e := frame_epoch(msg)) is not None:
                    self.frames.append((time.monotonic(), e))

    def rates(self, warmup: float) -> tuple[float, float]:
        """(frames/s, iterations/s) after the first ``warmup`` seconds of play."""
        if len(self.frames) < 2:
            return 0.0, 0.0
        t0 = self.frames[0][0] + warmup
        kept = [f for f in self.frames if f[0] >= t0] or self.frames[-2:]
        span = max(1e-9, kept[-1][0] - kept[0][0])
        return (len(kept) - 1) / span, (kept[-1][1] - kept[0][1]) / span


async def measure(port: int, n: int, data: str, changes: dict, fps: int, seconds: float,
                  warmup: float, speed: float | None = None,
                  server_pid: int | None = None) -> tuple[list[tuple[float, float]], float]:
    """Each session's (frames/s, iterations/s) after the warm-up, and the cores the server's
    processes used over the same window (CPU time / wall time, from /proc)."""
    url = f"ws://127.0.0.1:{port}/ws"
    clients = [Client(url, data, changes, fps, speed) for _ in range(n)]
    readies = [asyncio.Event() for _ in clients]
    go = asyncio.Event()
    tasks = [asyncio.create_task(c.run(r, go, seconds + warmup)) for c, r in zip(clients, readies, strict=True)]
    await asyncio.gather(*(r.wait() for r in readies))
    go.set()
    await asyncio.sleep(warmup)
    cpu0, t0 = (tree_cpu(server_pid) if server_pid else 0.0), time.perf_counter()
    await asyncio.gather(*tasks)
    cpu1, t1 = (tree_cpu(server_pid) if server_pid else 0.0), time.perf_counter()
    return [c.rates(warmup) for c in clients], (cpu1 - cpu0) / (t1 - t0)


def stretches(data: str, changes: dict, repeat: int) -> dict[str, float]:
    """Longest single update and longest frame part, in ms of wall time (in-process, same preset),
    and the median CPU time (this thread's) of an update, a frame without metrics and a metrics
    computation: what a free core's capacity follows from (:func:`capacity`)."""
    from ganlab import Trainer
    from ganlab.config import merge, nest
    from ganlab.server.image_data import image_preset
    from ganlab.server.image_frames import METRIC_N, image_metrics, reference
    from ganlab.server.layers import FrameBuilder

    cfg = merge(merge(nest(dict(image_preset(data))), nest(changes)), {"data": data})
    t = Trainer(cfg)
    ref = reference(data, wait=True)  # built once per process, in a thread, before the first metrics
    t.train(20)
    update, update_cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.thread_time()
        t.train(1, seconds=0)
        update.append(time.perf_counter() - t0)
        update_cpu.append(time.thread_time() - c0)
    fb = FrameBuilder()
    frame_cpu = []
    for _ in range(repeat):
        c0 = time.thread_time()
        fb.build(t, with_metrics=False)
        frame_cpu.append(time.thread_time() - c0)
    parts = []
    for _ in range(repeat):
        fb.images.metrics_at = -1e9  # every frame with its metrics: the most expensive frame
        gen = fb.parts(t, with_metrics=True)
        while True:
            t0 = time.perf_counter()
            try:
                next(gen)
            except StopIteration:
                parts.append(time.perf_counter() - t0)
                break
            parts.append(time.perf_counter() - t0)
    x = t.sample(noise=t.viz_noise(METRIC_N))
    thread, thread_cpu = [], []
    for _ in range(max(1, repeat // 5)):
        t0, c0 = time.perf_counter(), time.thread_time()
        image_metrics(ref, x)
        thread.append(time.perf_counter() - t0)
        thread_cpu.append(time.thread_time() - c0)
    med = statistics.median
    return {"update_ms": 1e3 * max(update), "update_median_ms": 1e3 * med(update),
            "frame_part_ms": 1e3 * max(parts), "frame_part_median_ms": 1e3 * med(parts),
            "metrics_thread_ms": 1e3 * med(thread), "update_cpu_ms": 1e3 * med(update_cpu),
            "frame_cpu_ms": 1e3 * med(frame_cpu), "metrics_cpu_ms": 1e3 * med(thread_cpu)}


def capacity(s: dict[str, float], fps: float, sessions: int) -> float:
    """Iterations/s each of ``sessions`` image sessions gets from one free core at ``fps`` frames/s,
    from the CPU costs: n (r u + fps F + M / 2) = 1 (metrics every 2 s), so
    r = (1 / n - fps F - M / 2) / u. A model, not a measurement: no loop or socket overhead."""
    u, f, m = s["update_cpu_ms"] / 1e3, s["frame_cpu_ms"] / 1e3, s["metrics_cpu_ms"] / 1e3
    return max(0.0, (1 / sessions - fps * f - m / 2) / u)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="mnist", choices=["digits8", "mnist", "fashion"])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--fps", type=int, default=20, help="view fps each client asks for (the page asks 20)")
    ap.add_argument("--speed", type=float, default=None,
                    help="epochs/s each session asks for (the page's pace is 50); default: full speed. "
                         "With it, the table says whether every session kept the pace and how many "
                         "such sessions one core's CPU time holds")
    ap.add_argument("--tutorial", action="store_true", help="the numpy tutorial's model, not the preset")
    ap.add_argument("--stretches", action="store_true", help="also time one update and one frame in-process")
    ap.add_argument("--repeat", type=int, default=20, help="tries per stretch")
    args = ap.parse_args()

    changes = TUTORIAL if args.tutorial else {}
    model = "tutorial model" if args.tutorial else "preset"
    pace = f"at {args.speed:g} epochs/s each" if args.speed else "at full speed"
    print(f"data {args.data} ({model}) {pace}, one worker, views at {args.fps} fps, {args.seconds:g} s "
          f"per row after {args.warmup:g} s warm-up")
    bar = (f"kept pace (>= {0.95 * args.speed:g} it/s) and >= {BAR_FPS:g} fps" if args.speed
           else f"bar (>= {BAR_FPS:g} fps, >= {BAR_ITS:g} it/s)")
    print(f"{'sessions':>8} {'min fps':>8} {'med fps':>8} {'min it/s':>9} {'med it/s':>9} "
          f"{'cores':>6} {'per core':>9}  {bar}")
    held = 0
    for n in args.sessions:
        port = free_port()
        os.environ["GANLAB_MAX_IMAGE_SESSIONS"] = str(n)
        proc = start_server(port, 1, n + 8)[0]
        try:
            rates, cores = asyncio.run(measure(port, n, args.data, changes, args.fps, args.seconds,
                                               args.warmup, args.speed, proc.pid))
        finally:
            stop_server(proc)
        fps = [r[0] for r in rates]
        its = [r[1] for r in rates]
        floor = 0.95 * args.speed if args.speed else BAR_ITS
        ok = min(fps) >= BAR_FPS and min(its) >= floor
        held = n if ok and n > held else held
        # Sessions at this pace that one core's CPU time sustains (the iterations all sessions got,
        # in sessions' worth of the pace, per core used): CPU time, so a busy machine barely moves it.
        per_core = sum(its) / args.speed / cores if args.speed and cores > 0 else float("nan")
        print(f"{n:>8} {min(fps):>8.1f} {statistics.median(fps):>8.1f} {min(its):>9.1f} "
              f"{statistics.median(its):>9.1f} {cores:>6.2f} {per_core:>9.1f}  {'PASS' if ok else 'below'}")
    print(f"one core holds {held} {args.data} session{'s' if held != 1 else ''} at the bar")
    if args.stretches:
        s = stretches(args.data, changes, args.repeat)
        print(f"longest update {s['update_ms']:.1f} ms (median {s['update_median_ms']:.1f}); "
              f"longest frame part {s['frame_part_ms']:.1f} ms (median {s['frame_part_median_ms']:.1f}), "
              f"of {args.repeat} tries each; image metrics in their thread {s['metrics_thread_ms']:.0f} ms "
              f"(median), every 2 s per session")
        print(f"CPU (medians): update {s['update_cpu_ms']:.2f} ms, frame without metrics "
              f"{s['frame_cpu_ms']:.2f} ms, metrics {s['metrics_cpu_ms']:.0f} ms; on one free core at "
              f"{args.fps} fps that leaves, per session: " + ", ".join(
                  f"{n} -> {capacity(s, args.fps, n):.0f} it/s" for n in (1, 2, 3, 4, 6, 8)))


if __name__ == "__main__":
    main()
