"""Neighbours test: does one heavy or hostile session slow down the others on its worker?

Starts a real server with ONE worker on a free loopback port. In each scenario ``--sessions``
default sessions play at full speed for ``--seconds`` (after ``--warmup``), each sending a
``ping`` every 100 ms; per session we measure epochs/s and frames/s (from its frames) and the
ping round trip. Scenarios:

- ``alone``: the default sessions only (the reference);
- ``heavy``: plus one session on the maximum config (G and D 6 x 128, batch 1024, k_D = k_G = 10)
  with the largest view (heatmap 200, 5,000 samples, every layer), playing;
- ``flood``: plus one session sending hostile messages as fast as its connection takes them
  (bad JSON, invalid configs, big valid ones: 100,000-point uploads and largest-view changes);
- ``digits``: plus one MNIST session (issue 10's image GAN) at full speed with its image views.

    python scripts/neighbours.py [--seconds 10] [--sessions 6] [--scenario alone heavy flood digits]

Bar: with the extra session the default sessions keep >= 80% of the epochs/s and frames/s they
had alone (the medians over sessions), and their ping p99 stays <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lean_ws import frame_epoch  # noqa: E402
from load import free_port, pct, run_loop, start_server, stop_server  # noqa: E402

MAX_CONFIG = {"generator": {"layers": 6, "units": 128}, "discriminator": {"layers": 6, "units": 128},
              "batch_size": 1024, "k_d": 10, "k_g": 10}
MAX_VIEW = {"heatmap": 200, "samples": 5000, "manifold": 60,
            "layers": ["real", "fake", "heatmap", "d_grad", "g_grad", "manifold", "optimal_d", "noise"]}


class Victim:
    """A default session at full speed: frames counted, a ping every 100 ms timed."""

    def __init__(self, url: str):
        self.url = url
        self.frames: list[tuple[float, int]] = []
        self.pings: list[float] = []
        self.sent: dict[int, float] = {}

    async def reader(self, ws) -> None:
        async for msg in ws:
            if isinstance(msg, bytes):
                continue
            if (epoch := frame_epoch(msg)) is not None:
                self.frames.append((time.perf_counter(), epoch))
                continue
            data = json.loads(msg)
            t0 = self.sent.pop(data.get("id"), None)
            if t0 is not None and self.measuring:
                self.pings.append(time.perf_counter() - t0)

    async def run(self, warmup: float, seconds: float) -> None:
        self.measuring = False
        async with connect(self.url, max_size=None, open_timeout=30) as ws:
            self.id = json.loads(await ws.recv())["session"]  # hello
            task = asyncio.create_task(self.reader(ws))
            await ws.send(json.dumps({"type": "play", "id": 0}))
            t_end = time.perf_counter() + warmup + seconds
            self.window = (time.perf_counter() + warmup, t_end)
            i = 0
            while time.perf_counter() < t_end:
                await asyncio.sleep(0.1)
                self.measuring = time.perf_counter() >= self.window[0]
                i += 1
                self.sent[i] = time.perf_counter()
                await ws.send(json.dumps({"type": "ping", "id": i}))
            await ws.send(json.dumps({"type": "pause", "id": -1}))
            task.cancel()

    def rates(self) -> tuple[float, float]:
        t0, t1 = self.window
        inside = [(t, e) for t, e in self.frames if t0 <= t <= t1]
        if len(inside) < 2:
            return 0.0, 0.0
        return len(inside) / (t1 - t0), (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


async def drain(ws) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


async def heavy(url: str, stop: asyncio.Event, ids: list) -> None:
    async with connect(url, max_size=None, open_timeout=30, ping_interval=None) as ws:
        ids.append(json.loads(await ws.recv())["session"])
        task = asyncio.create_task(drain(ws))
        await ws.send(json.dumps({"type": "config", "id": 1, "changes": MAX_CONFIG}))
        await ws.send(json.dumps({"type": "view", "id": 2, **MAX_VIEW}))
        await ws.send(json.dumps({"type": "play", "id": 3}))
        await stop.wait()
        task.cancel()


async def digits(url: str, stop: asyncio.Event, ids: list) -> None:
    """One MNIST session at full speed with the page's image views (issue 10: a core each)."""
    async with connect(url, max_size=None, open_timeout=30, ping_interval=None) as ws:
        ids.append(json.loads(await ws.recv())["session"])
        task = asyncio.create_task(drain(ws))
        await ws.send(json.dumps({"type": "data", "id": 1, "name": "mnist", "apply_preset": True}))
        await ws.send(json.dumps({"type": "view", "id": 2, "fps": 20, "layers": [
            "fakes_grid", "reals_grid", "walk", "d_hist", "d_grad_image"]}))
        await ws.send(json.dumps({"type": "speed", "id": 3, "epochs_per_sec": None}))
        await ws.send(json.dumps({"type": "play", "id": 4}))
        await stop.wait()
        task.cancel()


def hostile_messages() -> list[str]:
    pts = np.random.default_rng(0).random((100_000, 2)).round(6).tolist()
    upload = json.dumps({"type": "data", "id": 0, "name": "points", "params": {"points": pts}})
    return [
        "{not json", '{"type": "config", "id": 1, "changes": {"generator.units": 100000}}',
        '{"type": "nonsense", "id": 2}', '{"type": "config", "id": 3, "changes": {"k_d": "ten"}}',
        json.dumps({"type": "view", "id": 4, **MAX_VIEW}), upload,
        json.dumps({"type": "config", "id": 5, "changes": MAX_CONFIG}),
        '{"type": "data", "id": 6, "name": "nowhere"}',
    ]


async def flood(url: str, stop: asyncio.Event, n: int, ids: list) -> None:
    msgs = hostile_messages()
    # No keepalive: the server reads a flooder's messages only as fast as its share allows, so
    # a ping queued behind megabytes of flood would time out and end the flood early.
    async with connect(url, max_size=None, open_timeout=30, ping_interval=None) as ws:
        ids.append(json.loads(await ws.recv())["session"])
        task = asyncio.create_task(drain(ws))
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "play", "id": 9}))
            for i in range(n):
                if stop.is_set():
                    break
                await ws.send(msgs[i % len(msgs)])
        await stop.wait()
        task.cancel()


async def scenario(port: int, name: str, sessions: int, warmup: float, seconds: float,
                   flood_n: int) -> dict:
    url = f"ws://127.0.0.1:{port}/ws"
    stop = asyncio.Event()
    extra, extra_ids = None, []
    if name == "heavy":
        extra = asyncio.create_task(heavy(url, stop, extra_ids))
    elif name == "flood":
        extra = asyncio.create_task(flood(url, stop, flood_n, extra_ids))
    elif name == "digits":
        extra = asyncio.create_task(digits(url, stop, extra_ids))
    victims = [Victim(url) for _ in range(sessions)]
    runs = asyncio.gather(*(v.run(warmup, seconds) for v in victims))
    # The server's own accounting over (about) the measuring window: CPU seconds per session.
    await asyncio.sleep(warmup + 0.5)
    u0 = await asyncio.to_thread(usage, port)
    await asyncio.sleep(seconds - 1.0)
    u1 = await asyncio.to_thread(usage, port)
    span = u1["t"] - u0["t"]
    await runs
    stop.set()
    if extra is not None:
        await asyncio.wait_for(extra, 30)
    fr, ep = zip(*(v.rates() for v in victims), strict=True)
    pings = [p for v in victims for p in v.pings]

    def cost(sid):  # (CPU share of the worker, epochs per CPU-second) of one session
        a, b = u0["sessions"].get(sid), u1["sessions"].get(sid)
        if a is None or b is None:
            return float("nan"), float("nan")
        cpu = b["cpu"] - a["cpu"]
        return cpu / span, (b["epochs"] - a["epochs"]) / cpu if cpu > 0 else float("nan")

    vc = [cost(v.id) for v in victims]
    xc = cost(extra_ids[0]) if extra_ids else (float("nan"), float("nan"))
    return {"cpu_pct": 100 * statistics.median(c for c, _ in vc),
            "epochs_per_cpu_s": statistics.median(e for _, e in vc),
            "extra_cpu_pct": 100 * xc[0], "worker_cpu_pct": 100 * (u1["cpu"] - u0["cpu"]) / span,
            "heavy_procs_cpu_pct": 100 * (u1["heavy"] - u0["heavy"]) / span,
            **{"scenario": name, "epochs_per_s": statistics.median(ep), "epochs_per_s_min": min(ep),
            "frames_per_s": statistics.median(fr), "frames_per_s_min": min(fr),
            "ping_p50_ms": 1000 * pct(pings, 0.5), "ping_p99_ms": 1000 * pct(pings, 0.99),
            "ping_max_ms": 1000 * max(pings)}}


def usage(port: int) -> dict:
    """The worker's per-session accounting (``/debug/sessions``), sessions by id."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/sessions", timeout=10) as r:
        data = json.loads(r.read())
    return {"t": time.perf_counter(), "cpu": data["process_cpu"],
            "heavy": sum(p["cpu"] or 0.0 for p in data.get("heavy", [])),
            "sessions": {s["session"]: s for s in data["sessions"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--scenario", nargs="+", default=["alone", "heavy", "flood", "digits"],
                    choices=["alone", "heavy", "flood", "digits"])
    ap.add_argument("--flood", type=int, default=10_000, help="hostile messages to send")
    ap.add_argument("--port", type=int, default=0, help="use a running one-worker server")
    args = ap.parse_args()
    port = args.port or free_port()
    proc = None if args.port else start_server(port, 1, args.sessions + 10)[0]
    try:
        rows = []
        for name in args.scenario:
            rows.append(run_loop(scenario(port, name, args.sessions, args.warmup, args.seconds,
                                          args.flood)))
            time.sleep(1.0)  # the extra session's leftovers end before the next scenario
    finally:
        if proc is not None:
            stop_server(proc)
    cols = ["epochs_per_s", "epochs_per_s_min", "frames_per_s", "frames_per_s_min",
            "ping_p50_ms", "ping_p99_ms", "ping_max_ms", "cpu_pct", "epochs_per_cpu_s",
            "extra_cpu_pct", "worker_cpu_pct", "heavy_procs_cpu_pct"]
    print(f"{args.sessions} default sessions, one worker, {args.seconds:g} s each (medians over "
          "sessions; min = slowest session)")
    print("cpu_pct: a default session's share of the worker's time (its own work, from the server's")
    print("accounting); extra_cpu_pct: the heavy or flooding session's, in the worker (0 once it has")
    print("moved to a heavy process); worker_cpu_pct: the whole worker process; heavy_procs_cpu_pct:")
    print("the worker's heavy processes (server/offload.py), all in % of one core")
    w = max(len(c) for c in cols)
    print(f"{'':>{w}} " + " ".join(f"{r['scenario']:>10}" for r in rows))
    for c in cols:
        print(f"{c:>{w}} " + " ".join(f"{r[c]:>10.1f}" for r in rows))
    base = next((r for r in rows if r["scenario"] == "alone"), None)
    ok = True
    for r in rows:
        if r is base:
            continue
        ratios = ""
        if base is not None:
            e = r["epochs_per_s"] / base["epochs_per_s"]
            f = r["frames_per_s"] / base["frames_per_s"]
            ok &= e >= 0.8 and f >= 0.8
            ratios = f"epochs/s {e:.0%} of alone, frames/s {f:.0%}, "
        ok &= r["ping_p99_ms"] <= 100
        print(f"{r['scenario']}: {ratios}ping p99 {r['ping_p99_ms']:.0f} ms")
    # Without the `alone` scenario there is nothing to compare with: the bar cannot pass.
    verdict = "no baseline (run the alone scenario too)" if base is None else "PASS" if ok else "FAIL"
    print("bar (>= 80% epochs/s and frames/s, ping p99 <= 100 ms):", verdict)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
