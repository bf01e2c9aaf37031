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
import threading
import time
import weakref

import pytest
import uvicorn
from test_server_live import free_port
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
