"""Load test: N websocket clients training at full speed against one local server.

Starts ``ganlab.server.run`` in a subprocess on a free loopback port, connects N sessions with the
``websockets`` client, plays them all, and over the measurement window reports per session the
frames per second and epochs per second, and across sessions the round-trip time of ``pause``
(send -> ack) at p50 / p99.

Clients pause like people: every ``--pause-every`` seconds on average (uniform 0.5x..1.5x, so
sessions drift apart), stay paused ``--pause-for`` seconds after the ack, then play again.
``epochs_per_s`` counts epochs over the time a session was playing (wall time minus its pauses:
what a pause/resume cycle costs shows up there), ``epochs_per_s_wall`` over the whole window.
``--pause-every 0`` never pauses.

The client shares the machine with the server, so it measures as cheaply as it can
(``lean_ws.py``: a frame's epoch read from the first bytes of its head, binary halves counted and
skipped, ~2x less CPU per frame than the ``websockets`` client); ``client_cores`` and
``client_us_per_frame`` say what it took.

    python scripts/load.py --sessions 40 --seconds 20 --workers 2 [--pause-every 2] [--repeat 3]
    python scripts/load.py --sessions 80 --workers 1 --speed 50   # sessions per core at the page's pace

Targets (issue 9 #18, this 2-core machine): 40 sessions pausing like people, each >= 24
frames/s and >= 250 epochs/s, pause acknowledged within 55 ms at p99. Measured quietly
(--workers 2 --seconds 20 --repeat 3, medians of the runs, 2026-12-01): slowest session 25.6
frames/s and 262.1 epochs/s (lowest run 251.8), median 279.9 epochs/s, pause p99 48 ms; the
workers' sessions split 20/20 in every run (balance.py, ``rebalanced`` = refusals).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lean_ws import LeanSocket  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return json.loads(r.read())


def start_server(port: int, workers: int, max_sessions: int,
                 root: Path = ROOT) -> tuple[subprocess.Popen, list[int]]:
    """``ganlab serve`` on ``port`` (the ganlab of checkout ``root``), and its worker pids once
    every worker has answered /healthz (each publishes its session count on start)."""
    env = dict(os.environ, PYTHONPATH=str(root))
    cmd = [sys.executable, "-m", "ganlab", "serve", "--no-browser", "--port", str(port),
           "--workers", str(workers), "--max-sessions", str(max_sessions)]
    proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    end, seen = time.monotonic() + 60, set()
    while time.monotonic() < end and len(seen) < workers:
        try:
            seen.add(healthz(port)["worker"])
        except OSError:
            time.sleep(0.1)
    if len(seen) < workers:
        proc.kill()
        raise RuntimeError("server did not start")
    return proc, sorted(seen)


def stop_server(proc: subprocess.Popen, seconds: float = 15.0) -> None:
    proc.send_signal(signal.SIGINT)  # SIGTERM would drain the sessions first (shutdown.py)
    proc.wait(seconds)


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its descendants (the
    server's worker processes), from /proc; 0.0 where /proc is missing."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = {}
    for d in Path("/proc").glob("[0-9]*"):
        try:
            f = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        procs[int(d.name)] = (int(f[1]), (int(f[11]) + int(f[12])) / tick)  # ppid, utime + stime
    keep, total = {pid}, 0.0
    for _ in range(3):  # children, grandchildren
        keep |= {p for p, (ppid, _) in procs.items() if ppid in keep}
    for p in keep:
        total += procs.get(p, (0, 0.0))[1]
    return total


def usage(port: int, workers: int, tries: int = 200) -> dict[int, dict]:
    """Each worker's ``/debug/sessions`` (worker pid -> its answer): a request reaches whichever
    worker accepts it, so ask until every one of ``workers`` has answered."""
    seen: dict[int, dict] = {}
    for _ in range(tries):
        if len(seen) >= workers:
            break
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/sessions", timeout=5) as r:
            d = json.loads(r.read())
        seen.setdefault(d["worker"], d)
    return seen


def costs(before: dict[int, dict], after: dict[int, dict], seconds: float) -> list[dict]:
    """Per worker, what its work cost over ``seconds`` between two :func:`usage` readings, from
    the sessions' own CPU accounting (``time.thread_time`` around each stretch of work): CPU per
    epoch trained, per frame built and encoded, per training chunk, and the rest of the
    process's CPU (event loop, websocket I/O, scheduling) per second and per frame sent."""
    rows = []
    for pid in sorted(set(before) & set(after)):
        b = {s["session"]: s for s in before[pid]["sessions"]}
        a = {s["session"]: s for s in after[pid]["sessions"] if s["session"] in b}
        d = {k: sum(a[i][k] - b[i][k] for i in a) for k in ("epochs", "frames", "chunks", "cpu")}
        by = {k: sum(a[i]["cpu_by"][k] - b[i]["cpu_by"][k] for i in a) for k in ("train", "frames", "messages")}
        proc = after[pid]["process_cpu"] - before[pid]["process_cpu"]
        rest = proc - d["cpu"]
        rows.append({
            "worker": pid, "sessions": len(a), "cores": proc / seconds,
            "train_ms_per_epoch": 1e3 * by["train"] / max(1, d["epochs"]),
            "frame_ms": 1e3 * by["frames"] / max(1, d["frames"]),
            "chunk_us": 1e6 * by["train"] / max(1, d["chunks"]),
            "epochs_per_chunk": d["epochs"] / max(1, d["chunks"]),
            "messages_ms_per_s": 1e3 * by["messages"] / seconds,
            "rest_ms_per_s": 1e3 * rest / seconds,
            "rest_ms_per_frame": 1e3 * rest / max(1, d["frames"]),
            "share_train": by["train"] / proc, "share_frames": by["frames"] / proc,
            "share_rest": rest / proc,
        })
    return rows


class Client:
    """One session: plays, counts frames and epochs, pauses and resumes about once a second.
    It reads frames with :class:`lean_ws.LeanSocket`: a frame's epoch from the first bytes of its
    JSON head, its binary half counted and skipped."""

    def __init__(self, url: str, fps: int | None, pause_every: float = 2.0, pause_for: float = 0.0,
                 speed: float | None = None):
        self.url, self.fps, self.speed = url, fps, speed
        self.pause_every, self.pause_for = pause_every, pause_for
        self.paused: list[tuple[float, float]] = []  # (pause sent, play acknowledged)
        self.frames: list[tuple[float, int]] = []  # (time, epoch) of each JSON frame
        self.pause_rtt: list[float] = []
        self.waiting: dict[int, asyncio.Future] = {}
        self.first: asyncio.Future | None = None  # the connection's first message (hello)
        self.next_id = 0
        self.retries = 0  # rebalance refusals before a worker admitted this client

    def on_frame(self, epoch: int) -> None:
        self.frames.append((time.perf_counter(), epoch))

    def on_message(self, data: dict) -> None:
        if self.first is not None and not self.first.done():
            self.first.set_result(data)
            return
        fut = self.waiting.pop(data.get("id"), None)
        if fut is not None and not fut.done():
            fut.set_result(data)

    async def open(self) -> tuple[LeanSocket, dict]:
        """Connect as the page does: a worker that holds more sessions than another answers
        ``rebalance`` and closes; reconnect with ``?retry=n`` until one admits us."""
        for retry in range(10):
            url = f"{self.url}?retry={retry}" if retry else self.url
            self.first = asyncio.get_running_loop().create_future()
            ws = await LeanSocket.connect(url, self.on_frame, self.on_message)
            first = await asyncio.wait_for(self.first, 30)
            if first.get("code") != "rebalance":
                assert first["type"] == "hello", first
                self.retries = retry
                return ws, first
            ws.close()
        raise RuntimeError("no worker admitted the session")

    async def request(self, ws: LeanSocket, type: str, **fields) -> dict:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.waiting[self.next_id] = fut
        ws.send_text(json.dumps({"type": type, "id": self.next_id, **fields}))
        return await fut

    async def run(self, warmup: float, seconds: float, start: asyncio.Event) -> None:
        ws, hello = await self.open()
        try:
            self.worker = hello.get("worker")
            if self.fps:
                await self.request(ws, "view", fps=self.fps)
            if self.speed:
                await self.request(ws, "speed", epochs_per_sec=self.speed)
            await start.wait()
            await self.request(ws, "play")
            t_measure = time.perf_counter() + warmup
            t_end = t_measure + seconds
            await asyncio.sleep(warmup)
            rng = random.Random(id(self))
            while time.perf_counter() < t_end:
                if not self.pause_every:
                    await asyncio.sleep(t_end - time.perf_counter())
                    break
                await asyncio.sleep(self.pause_every * rng.uniform(0.5, 1.5))
                t0 = time.perf_counter()
                ack = await self.request(ws, "pause")
                self.pause_rtt.append(time.perf_counter() - t0)
                assert ack["type"] == "ack", ack
                if self.pause_for:
                    await asyncio.sleep(self.pause_for)
                await self.request(ws, "play")
                self.paused.append((t0, time.perf_counter()))
            self.window = (t_measure, t_end)
            await self.request(ws, "pause")
        finally:
            ws.close()

    def rates(self) -> tuple[float, float, float]:
        """(frames/s, epochs/s while playing, epochs/s over the window)."""
        t0, t1 = self.window
        inside = [(t, e) for t, e in self.frames if t0 <= t <= t1]
        if len(inside) < 2:
            return 0.0, 0.0, 0.0
        a, b = inside[0][0], inside[-1][0]
        paused = sum(max(0.0, min(b, q) - max(a, p)) for p, q in self.paused)
        epochs = inside[-1][1] - inside[0][1]
        playing = b - a - paused
        # A session starved of frames (an overloaded machine) can have almost no playing time
        # between its first and last frame: no rate rather than epochs / 1e-9.
        return (len(inside) / (t1 - t0), epochs / playing if playing > 0.5 else 0.0,
                epochs / (b - a))


def run_loop(coro):
    """asyncio.run, on uvloop when installed (uvicorn[standard] brings it): the client shares the
    server's 2 cores, so its own overhead comes out of the measured sessions."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def one_run(port: int, n: int, warmup: float, seconds: float, fps: int | None,
                  stagger: float, pause_every: float, pause_for: float,
                  speed: float | None = None, server_pid: int | None = None,
                  cost_workers: int = 0) -> dict:
    clients = [Client(f"ws://127.0.0.1:{port}/ws", fps, pause_every, pause_for, speed)
               for _ in range(n)]
    start = asyncio.Event()
    tasks = []
    for c in clients:
        # Browsers arrive one by one; a burst of simultaneous connects would all land on
        # whichever worker process happens to be accepting.
        tasks.append(asyncio.create_task(c.run(warmup, seconds, start)))
        await asyncio.sleep(stagger)
    await asyncio.sleep(1.0)  # all connected and idle
    start.set()
    await asyncio.sleep(warmup)
    cpu0, t0 = (tree_cpu(server_pid) if server_pid else 0.0), time.perf_counter()
    own0 = time.process_time()  # this client's CPU: on one machine it is taken from the server
    got0 = sum(len(c.frames) for c in clients)
    if cost_workers:  # read while every session still plays (they close when done)
        use0, tu0 = await asyncio.to_thread(usage, port, cost_workers), time.perf_counter()
        await asyncio.sleep(max(0.0, t0 + seconds - 0.5 - time.perf_counter()))
        use1 = await asyncio.to_thread(usage, port, cost_workers)
        cost_rows = costs(use0, use1, time.perf_counter() - tu0)
    await asyncio.gather(*tasks)
    own1 = time.process_time()  # before reading /proc: that is not measuring's cost
    got = sum(len(c.frames) for c in clients) - got0
    cpu1, t1 = (tree_cpu(server_pid) if server_pid else 0.0), time.perf_counter()
    fr, ep, wall = zip(*(c.rates() for c in clients), strict=True)
    rtt = [x for c in clients for x in c.pause_rtt]
    out = {
        "sessions": n, "frames_per_s_min": min(fr), "frames_per_s_median": statistics.median(fr),
        "epochs_per_s_min": min(ep), "epochs_per_s_median": statistics.median(ep),
        "epochs_per_s_total": sum(ep), "epochs_per_s_wall_min": min(wall),
        "epochs_per_s_wall_median": statistics.median(wall),
        "pause_rtt_ms_p50": 1000 * pct(rtt, 0.5) if rtt else 0.0,
        "pause_rtt_ms_p99": 1000 * pct(rtt, 0.99) if rtt else 0.0, "pauses": len(rtt),
        "per_worker": sorted(Counter(c.worker for c in clients).values()),
        "rebalanced": sum(c.retries for c in clients),
        # Cores the server used: its processes' CPU time / wall time over the window.
        "server_cores": (cpu1 - cpu0) / (t1 - t0) if server_pid else 0.0,
        "client_cores": (own1 - own0) / (t1 - t0),
        # The client's CPU per frame it received (JSON head and binary half), in us: what
        # measuring costs the server it measures.
        "client_us_per_frame": 1e6 * (own1 - own0) / max(1, got),
    }
    if speed and out["server_cores"] > 0:
        # Sessions at that pace that one core's CPU time sustains: the epochs all sessions got
        # per second, in sessions' worth of the pace, per core of CPU the server used. CPU time,
        # so a busy machine slows the sessions but barely moves this figure.
        out["sessions_per_core_at_pace"] = sum(wall) / speed / out["server_cores"]
    if cost_workers:
        out["costs"] = cost_rows
    return out


def print_costs(rows: list[dict]) -> None:
    cols = [("worker", "{:d}"), ("sessions", "{:d}"), ("cores", "{:.2f}"),
            ("train_ms_per_epoch", "{:.4f}"), ("frame_ms", "{:.3f}"), ("chunk_us", "{:.0f}"),
            ("epochs_per_chunk", "{:.1f}"), ("messages_ms_per_s", "{:.1f}"),
            ("rest_ms_per_s", "{:.0f}"), ("rest_ms_per_frame", "{:.3f}"), ("share_train", "{:.2f}"),
            ("share_frames", "{:.2f}"), ("share_rest", "{:.2f}")]
    print("  " + " ".join(f"{name:>{max(8, len(name))}}" for name, _ in cols))
    for r in rows:
        print("  " + " ".join(f"{fmt.format(r[name]):>{max(8, len(name))}}" for name, fmt in cols))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--fps", type=int, default=None, help="view fps to request (default: server's)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--stagger", type=float, default=0.02, help="seconds between two connects")
    ap.add_argument("--port", type=int, default=0, help="use a running server instead of starting one")
    ap.add_argument("--pause-every", type=float, default=2.0,
                    help="mean seconds between two pauses of a session (0: never pause)")
    ap.add_argument("--pause-for", type=float, default=0.0,
                    help="seconds a session stays paused after the ack before playing again")
    ap.add_argument("--costs", action="store_true",
                    help="print each worker's CPU per epoch, per frame, per chunk and the rest "
                    "(the server's own accounting, GET /debug/sessions; loopback only)")
    ap.add_argument("--speed", type=float, default=None,
                    help="epochs/s each session asks for (the page's default pace is 50; default: "
                    "as fast as possible)")
    args = ap.parse_args()
    port = args.port or free_port()
    proc = None if args.port else start_server(port, args.workers, args.sessions + 8)[0]
    try:
        runs = []
        for i in range(args.repeat):
            r = run_loop(one_run(port, args.sessions, args.warmup, args.seconds, args.fps,
                                  args.stagger, args.pause_every, args.pause_for, args.speed,
                                  proc.pid if proc else None, args.workers if args.costs else 0))
            rows = r.pop("costs", None)
            runs.append(r)
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                               for k, v in r.items()), flush=True)
            if rows:
                print_costs(rows)
        if len(runs) > 1:
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "per_worker"}
            print("median: " + ", ".join(f"{k} {v:.1f}" for k, v in med.items()))
    finally:
        if proc is not None:
            stop_server(proc)


if __name__ == "__main__":
    main()
