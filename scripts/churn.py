"""Churn test: many short sessions against a real server; does each worker's memory come back?

Starts ``ganlab serve --no-browser --workers N`` on a free loopback port, opens ``--warmup``
sessions (``--concurrency`` at a time) to reach steady state, reads every worker's RSS
(/proc/<pid>/status), then runs ``--cycles`` more mixed sessions the same way and reads RSS
again. A session connects, then by turns plays for a while, asks for a large view, steps,
changes its config, and closes cleanly or drops its connection without a close handshake.

    python scripts/churn.py [--cycles 1000] [--warmup 200] [--concurrency 20] [--workers 2]

RSS is read ``--settle`` seconds after the last session ended (a worker trims its heap at most
once a second). Bar: growth after warm-up <= 32 MiB per worker; no session left over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port, healthz, run_loop, start_server, stop_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MiB = 1 << 20


def rss(pid: int) -> int:
    """Resident set size in bytes (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def request(ws, mid: int, type: str, **fields) -> dict:
    """Send one message and read up to its reply (frames in between are skipped)."""
    await ws.send(json.dumps({"type": type, "id": mid, **fields}))
    while True:
        msg = await ws.recv()
        if isinstance(msg, str) and not msg.startswith('{"type":"frame"'):
            data = json.loads(msg)
            if data.get("id") == mid:
                return data


async def session(port: int, rng: random.Random) -> None:
    """One mixed connect / play / close cycle (retrying past ``rebalance`` refusals)."""
    for retry in range(10):
        url = f"ws://127.0.0.1:{port}/ws" + (f"?retry={retry}" if retry else "")
        ws = await connect(url, max_size=None, open_timeout=30)
        hello = json.loads(await ws.recv())
        if hello.get("code") != "rebalance":
            break
        await ws.close()
    kind = rng.randrange(4)
    if kind == 1:  # a big view: heatmap 200, every layer
        await request(ws, 1, "view", heatmap=200, samples=2000, layers=[
            "real", "fake", "heatmap", "d_grad", "g_grad", "manifold", "optimal_d", "noise"])
    elif kind == 2:  # a config with other shapes and optimizer state
        await request(ws, 1, "config", changes={"generator.units": 32, "discriminator.layers": 3,
                                                "d_optimizer.kind": "adam", "batch_size": 256})
    elif kind == 3:
        await request(ws, 1, "data", name="ring", apply_preset=True)
    await request(ws, 2, "play")
    await asyncio.sleep(rng.uniform(0.05, 0.4))
    await request(ws, 3, "step")
    if rng.random() < 0.5:
        await ws.close()
    else:
        ws.transport.abort()  # no close handshake


async def churn(port: int, n: int, concurrency: int, seed: int) -> None:
    rng = random.Random(seed)
    sem = asyncio.Semaphore(concurrency)

    async def one():
        async with sem:
            await session(port, random.Random(rng.random()))

    await asyncio.gather(*(one() for _ in range(n)))


def wait_idle(port: int, workers: int, seconds: float = 30.0) -> int:
    """Wait until every worker reports 0 sessions; returns the largest count last seen."""
    end = time.monotonic() + seconds
    counts: dict[int, int] = {}
    while time.monotonic() < end:
        h = healthz(port)
        counts[h["worker"]] = h["sessions"]
        if len(counts) >= workers and not any(counts.values()):
            return 0
        time.sleep(0.05)
    return max(counts.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds to wait after the last session ends before reading RSS "
                         "(a worker trims its heap at most once a second)")
    ap.add_argument("--bar", type=float, default=32.0, help="allowed growth per worker, MiB")
    args = ap.parse_args()
    port = free_port()
    proc, pids = start_server(port, args.workers, args.concurrency + 8)
    try:
        start = {p: rss(p) for p in pids}
        t0 = time.perf_counter()
        run_loop(churn(port, args.warmup, args.concurrency, args.seed))
        left_w = wait_idle(port, args.workers)
        time.sleep(args.settle)
        before = {p: rss(p) for p in pids}
        run_loop(churn(port, args.cycles, args.concurrency, args.seed + 1))
        left = wait_idle(port, args.workers)
        time.sleep(args.settle)
        after = {p: rss(p) for p in pids}
        took = time.perf_counter() - t0
    finally:
        stop_server(proc)
    print(f"{args.warmup} warm-up + {args.cycles} cycles, {args.concurrency} at a time, "
          f"--workers {args.workers}, {took:.0f} s; sessions left {left_w} / {left}")
    print(f"{'worker':>8} {'start MiB':>10} {'warm MiB':>10} {'after MiB':>10} {'growth MiB':>11}")
    worst = 0.0
    for p in pids:
        g = (after[p] - before[p]) / MiB
        worst = max(worst, g)
        print(f"{p:>8} {start[p] / MiB:>10.1f} {before[p] / MiB:>10.1f} {after[p] / MiB:>10.1f} "
              f"{g:>+11.1f}")
    ok = worst <= args.bar and left == 0
    print(f"largest growth {worst:+.1f} MiB (bar {args.bar:g}): {'PASS' if ok else 'FAIL'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
