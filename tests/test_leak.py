"""A finished trainer or session is freed at once, by reference counting alone.

Every test runs with the garbage collector disabled: an object kept alive only by a reference
cycle stays alive, so a weakref that is still alive after the last reference went shows the
cycle (with the collector on, such objects wait for an occasional full collection, and the heap
they fragmented does not shrink afterwards: a server that grew with every closed session).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import threading
import time
import weakref
from pathlib import Path

import pytest
import uvicorn
from test_deploy import wait_for
from test_server_live import free_port, start, stop
from websockets.asyncio.client import connect

from ganlab import Trainer
from ganlab.server.app import create_app
from ganlab.server.layers import FrameBuilder
from ganlab.server.settings import Settings

pytestmark = pytest.mark.timeout(60)

ALL_LAYERS = ["real", "fake", "heatmap", "d_grad", "g_grad", "manifold", "optimal_d", "noise"]


@contextlib.contextmanager
def no_gc():
    was = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@pytest.mark.parametrize("config", [
    {},
    {"loss": "wgan-gp", "d_optimizer": {"kind": "adam"}, "g_ema": 0.99, "r1": 0.1},
    {"data": "ring", "precision": "float32", "noise": "gaussian"},
    {"data": "mixture", "loss": "wgan", "g_optimizer": {"kind": "rmsprop"}},
])
def test_a_dropped_trainer_is_freed_without_the_collector(config):
    with no_gc():
        t = Trainer(config)
        t.train(20)
        t.update({"batch_size": 64, "d_optimizer.lr": 0.01})
        t.update({"generator.units": 9})  # a restart rebuilds every part
        t.train(3)
        fb = FrameBuilder(view={"layers": ALL_LAYERS, "heatmap": 30, "samples": 100,
                                "manifold": 10, "fps": 30})
        fb.build(t)
        t.restore(t.snapshot())
        fb.build(t)
        refs = [weakref.ref(x) for x in (t, fb, t.G, t.D, t.noise_pool, t.data_pool)]
        del t, fb
        assert [r() is None for r in refs] == [True] * len(refs)


@pytest.fixture
def inprocess_server():
    """uvicorn in a thread of this process, so the test can hold weakrefs to its sessions."""
    app = create_app(Settings())
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws_per_message_deflate=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.02)
    assert server.started
    yield app, port
    server.should_exit = True
    thread.join(10)


def test_a_closed_session_is_freed_without_the_collector(inprocess_server):
    app, port = inprocess_server
    sessions = app.state.sessions

    async def one(how: str, play: bool, view: bool) -> list[weakref.ref]:
        ws = await connect(f"ws://127.0.0.1:{port}/ws", max_size=None)
        hello = json.loads(await ws.recv())
        s = sessions[hello["session"]]
        refs = [weakref.ref(x) for x in (s, s.trainer, s.frames)]
        del s
        if view:
            await ws.send(json.dumps({"type": "view", "id": 1, "layers": ALL_LAYERS}))
        if play:
            await ws.send(json.dumps({"type": "play", "id": 2}))
        await ws.send(json.dumps({"type": "step", "id": 3}))
        await ws.send(json.dumps({"type": "nonsense", "id": 4}))
        await ws.send("{not json")
        while True:  # up to the last reply: every task of the session has run
            msg = await ws.recv()
            if isinstance(msg, str) and json.loads(msg).get("code") == "bad_message":
                break
        await asyncio.sleep(0.1)  # a few frames
        if how == "close":
            await ws.close()
        else:
            ws.transport.abort()
        return refs

    async def gone(refs, seconds=10.0) -> bool:
        # The session's end runs on the server's thread: wait until it has left the table, then
        # give its handler a moment to return (no collector runs: only refcounts can free it).
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if not sessions and all(r() is None for r in refs):
                return True
            await asyncio.sleep(0.02)
        return False

    async def main():
        for how, play, view in [("close", False, False), ("close", True, True),
                                ("abort", True, False), ("abort", False, True)]:
            refs = await one(how, play, view)
            assert await gone(refs), (how, play, view, [r() is None for r in refs])

    with no_gc():
        asyncio.run(main())


# --- animation jobs (server/animate.py) -----------------------------------------------------------

def _tree(pid: int) -> dict[int, tuple[str, int]]:
    """Process ``pid`` and its descendants: pid -> (state, resident bytes), from /proc."""
    procs, page = {}, os.sysconf("SC_PAGE_SIZE")
    for d in Path("/proc").glob("[0-9]*"):
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            procs[int(d.name)] = (int(stat[1]), stat[0], int(stat[21]) * page)  # ppid, state, rss
        except (OSError, ValueError, IndexError):
            continue
    keep = {pid}
    for _ in range(3):
        keep |= {p for p, (ppid, _, _) in procs.items() if ppid in keep}
    return {p: procs[p][1:] for p in keep if p in procs}


@pytest.mark.timeout(240)
def test_fifty_animation_jobs_some_abandoned_leave_no_process_or_memory_behind():
    """50 jobs through a real server, every tenth abandoned by its client mid-job (its job
    process is killed and replaced): afterwards the server has as many processes as before (its
    worker and one warm job process, no zombie) and holds no more memory than a little noise."""
    from test_animate_route import LONG, SMALL, animate, debug_running

    proc, port = start(animate_jobs=1)
    snap = Trainer(data="ring8", seed=0).snapshot()
    long_body = json.dumps({"snapshot": snap, **LONG}).encode()

    def abandon() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"POST /api/animate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(long_body) + long_body)
            wait_for(lambda: debug_running(port) == 1, 30, "the abandoned job to start")
        wait_for(lambda: debug_running(port) == 0, 30, "the abandoned job to stop")

    def small() -> None:
        status, _, body = animate(port, snap, **SMALL)
        assert status == 200, body

    try:
        small()
        abandon()
        small()  # both paths have run once: caches and pools are as full as they get

        def settled(count: int | None = None) -> dict | None:
            now = _tree(proc.pid)
            ok = all(st != "Z" for st, _ in now.values()) and count in (None, len(now))
            return now if ok else None

        before = wait_for(settled, 30, "no zombie")
        assert len(before) == 2, before  # the worker and its warm job process
        for i in range(50):
            abandon() if i % 10 == 5 else small()
        after = wait_for(lambda: settled(len(before)), 30, f"the server's processes to be back to {len(before)}")
    finally:
        stop(proc)
    grown = {p: (after[p][1] - before[p][1]) / 2**20 for p in before if p in after}
    assert proc.pid in grown, (before, after)
    worker = grown[proc.pid]
    jobs = (sum(r for p, (_, r) in after.items() if p != proc.pid)
            - sum(r for p, (_, r) in before.items() if p != proc.pid)) / 2**20
    print(f"processes {len(before)} -> {len(after)}; the worker grew {worker:+.1f} MiB, its job processes "
          f"{jobs:+.1f} MiB")
    assert worker < 8 and jobs < 32, f"the worker grew {worker:.1f} MiB, its job processes {jobs:.1f} MiB"
