"""CPU per unit of one worker's work: N sessions on one event loop, no sockets, CPU-accounted.

    python scripts/bench_worker.py [--sessions 20] [--seconds 10] [--pause-every 2] [--repeat 3]

Runs the server's own ``Session`` objects (training chunks, paced frames, fair shares, pause /
play messages every ``--pause-every`` seconds as scripts/load.py's clients do) against a socket
that only counts what it is sent, in this process on uvloop, and prints per run the CPU per epoch
trained, per frame built (with its share of metrics), the rest of the process's CPU (event loop,
locks, scheduling: everything the sessions' own accounting leaves out) per chunk and per frame,
and what a session-second costs at the rates reached. These are CPU times (``thread_time``,
``process_time``), so a busy machine moves them far less than it moves epochs/s; compare two
versions by running this in each, alternately. Websocket I/O is left out: scripts/load.py
``--costs`` reads the same accounting from a real server.

The arithmetic it serves (issue 9 #18): 40 sessions x (250 epochs + 24 frames) a second on the
~1.8 cores a 2-core machine leaves the server is 45 ms of CPU per session-second, of which 250
epochs at ~0.15 ms take 37.5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ganlab.server.session import Load, Session  # noqa: E402
from ganlab.server.settings import Settings  # noqa: E402
from ganlab.server.tuning import tune_malloc  # noqa: E402


class CountingSocket:
    """What a Session uses of a websocket: messages in, text and bytes out (counted)."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.frames = 0
        self.acks: dict[int, asyncio.Future] = {}

    async def receive(self) -> dict:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        if text.startswith('{"type":"frame"'):
            self.frames += 1
        elif text.startswith('{"type":"ack"'):
            fut = self.acks.pop(json.loads(text).get("id"), None)
            if fut is not None:
                fut.set_result(time.perf_counter())

    async def send_bytes(self, data: bytes) -> None:
        pass

    async def close(self, *args, **kwargs) -> None:
        pass

    async def request(self, mid: int, kind: str) -> float:
        """Send a message, wait for its ack: the round trip in seconds."""
        fut = asyncio.get_running_loop().create_future()
        self.acks[mid] = fut
        t0 = time.perf_counter()
        self.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps({"type": kind, "id": mid})})
        return await fut - t0


async def person(ws: CountingSocket, pause_every: float, rtts: list[float]) -> None:
    """Play, then pause and play again every ``pause_every`` s on average (0: never)."""
    rng, mid = random.Random(id(ws)), 1
    await ws.request(mid, "play")
    while pause_every:
        await asyncio.sleep(pause_every * rng.uniform(0.5, 1.5))
        rtts.append(await ws.request(mid := mid + 1, "pause"))
        await ws.request(mid := mid + 1, "play")


def reading(sessions: list[Session], socks: list[CountingSocket]) -> dict:
    return {"cpu": time.process_time(), "wall": time.perf_counter(),
            "epochs": sum(s.trained for s in sessions), "sent": sum(w.frames for w in socks),
            # (getattr: a version without the accounting by kind still gives the totals)
            "charged": sum(s.cpu for s in sessions), "chunks": sum(getattr(s, "chunks", 0) for s in sessions),
            **{"cpu_" + k: sum(getattr(s, "cpu_by", {}).get(k, 0.0) for s in sessions)
               for k in ("train", "frames", "messages")},
            "each": [s.trained for s in sessions]}


async def one_run(args) -> dict:
    settings = Settings(**{k: v for k, v in (("chunk_seconds", args.chunk), ("round_seconds", args.round),
                                             ("frame_budget", args.frame_budget)) if v})
    load = Load()
    socks = [CountingSocket() for _ in range(args.sessions)]
    sessions = [Session(ws, settings, load) for ws in socks]
    tasks = [asyncio.create_task(s.serve()) for s in sessions]
    rtts: list[float] = []
    people = [asyncio.create_task(person(ws, args.pause_every, rtts)) for ws in socks]
    await asyncio.sleep(args.warmup)
    a = reading(sessions, socks)
    rtts.clear()
    await asyncio.sleep(args.seconds)
    b = reading(sessions, socks)
    for t in tasks + people:
        t.cancel()
    await asyncio.gather(*tasks, *people, return_exceptions=True)
    d = {k: b[k] - a[k] for k in a if k != "each"}
    wall, n = d["wall"], args.sessions
    each = sorted((y - x) / wall for x, y in zip(a["each"], b["each"], strict=True))
    rest = d["cpu"] - d["charged"]
    return {
        "cores": d["cpu"] / wall,
        "epochs/s min": each[0], "epochs/s median": statistics.median(each),
        "frames/s each": d["sent"] / n / wall,
        "epochs per CPU s": d["epochs"] / d["cpu"],
        "ms/epoch": 1e3 * d["cpu_train"] / max(1, d["epochs"]),
        "ms/frame": 1e3 * d["cpu_frames"] / max(1, d["sent"]),
        "epochs/chunk": d["epochs"] / max(1, d["chunks"]),
        "rest us/chunk": 1e6 * rest / max(1, d["chunks"]),
        "rest ms/frame": 1e3 * rest / max(1, d["sent"]),
        "rest share": rest / d["cpu"],
        "ms per session-s": 1e3 * d["cpu"] / n / wall,
        "pause p99 ms": 1e3 * sorted(rtts)[int(0.99 * (len(rtts) - 1))] if rtts else 0.0,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20, help="sessions on the loop (20: one of 2 workers at 40)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--pause-every", type=float, default=2.0,
                    help="mean seconds between a session's pause / play (0: never)")
    ap.add_argument("--chunk", type=float, default=None, help="Settings.chunk_seconds (default: the server's)")
    ap.add_argument("--round", type=float, default=None, help="Settings.round_seconds")
    ap.add_argument("--frame-budget", type=float, default=None, help="Settings.frame_budget")
    args = ap.parse_args()
    tune_malloc()
    import uvloop  # uvicorn[standard] brings it; the server's workers run on it

    rows = [uvloop.run(one_run(args)) for _ in range(args.repeat)]
    width = max(map(len, rows[0]))
    print(f"{args.sessions} sessions, {args.seconds:g} s per run, CPU per unit (run 1 .. {len(rows)}):")
    for k in rows[0]:
        print(f"  {k:<{width}} " + " ".join(f"{r[k]:9.3f}" if r[k] < 10 else f"{r[k]:9.1f}" for r in rows))


if __name__ == "__main__":
    main()
