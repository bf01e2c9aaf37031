"""Heavy sessions move to processes of their own (server/offload.py), transparently: the client
keeps its websocket and protocol, and training carries on bit-identically."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import urllib.request
import weakref

import numpy as np
import pytest
import test_fairness
from test_fairness import MAX_CONFIG, request
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ganlab import Trainer
from ganlab.server.app import create_app
from ganlab.server.frames import decode
from ganlab.server.settings import Settings

pytestmark = pytest.mark.timeout(120)
serve = test_fairness.serve  # the fixture: a server in a thread, its loop timed


def process_of(app, sid: str) -> int:
    return app.state.sessions[sid].usage()["process"]


async def wait_for(cond, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < end, "timed out"
        await asyncio.sleep(0.05)


CONFIG = {"seed": 7, "k_d": 3, "batch_size": 512, "generator": {"units": 64, "layers": 3},
          "discriminator": {"units": 64, "layers": 3}, "d_optimizer": {"kind": "adam", "lr": 0.01}}


async def drain(ws) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


def test_a_moved_session_carries_on_exactly(serve):
    """Every session is 'heavy' here: it moves at its first training chunk, which ends inside an
    epoch (an update of this config takes longer than a chunk), and what it trains there equals
    what one Trainer trains in this process."""
    port, _, app = serve(Settings(heavy_update=1e-9))

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            assert (await request(ws, 1, "config", changes=CONFIG))["type"] == "ack"
            await request(ws, 2, "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            left = app.state.sessions[sid].trainer  # the worker's copy, as it was when it moved
            assert left.mid_epoch and left.epoch == 0
            frames = []
            while len(frames) < 2:  # frames keep coming, the binary half after its head
                msg = await ws.recv()
                if isinstance(msg, str) and msg.startswith('{"type":"frame"'):
                    head = json.loads(msg)
                    seq, layers = decode(await ws.recv())
                    assert seq == head["seq"] and layers["fake"].shape == (500, 2)
                    frames.append(head["epoch"])
            paused = await request(ws, 3, "pause")
            stepped = await request(ws, 4, "step")
            snap = (await request(ws, 5, "snapshot"))["snapshot"]
            return sid, paused, stepped, snap

    sid, paused, stepped, snap = asyncio.run(main())
    assert paused["epoch"] > 0 and stepped["epoch"] == paused["epoch"] + 1
    t = Trainer(CONFIG)
    t.train(stepped["epoch"])
    assert snap["epoch"] == t.epoch
    assert np.array_equal(snap["generator"], t.G.params) and np.array_equal(snap["discriminator"], t.D.params)
    assert snap["d_optimizer"] == json.loads(json.dumps(t.d_opt.state()))


def test_a_heavy_session_moves_and_its_neighbour_stays(serve):
    port, _, app = serve(Settings())

    async def main():
        url = f"ws://127.0.0.1:{port}/ws"
        async with connect(url, max_size=None) as heavy, connect(url, max_size=None) as light:
            ids = [json.loads(await ws.recv())["session"] for ws in (heavy, light)]
            assert (await request(heavy, 1, "config", changes=MAX_CONFIG))["type"] == "ack"
            await request(heavy, 2, "play")
            await request(light, 2, "play")
            await wait_for(lambda: process_of(app, ids[0]) != os.getpid())
            pinged = await request(heavy, 3, "ping")  # replies come from the heavy process
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/sessions") as r:
                usage = json.loads(r.read())
            assert {s["session"]: s["process"] for s in usage["sessions"]} == {
                ids[0]: usage["heavy"][0]["pid"], ids[1]: os.getpid()}
            # No frames left unread, so that the websockets close at once (pausing the heavy one
            # would first finish its epoch, seconds of CPU for a niced process on a busy machine).
            await request(light, 4, "pause")
            asyncio.create_task(drain(heavy))
            return [process_of(app, i) for i in ids], pinged

    (heavy_pid, light_pid), pinged = asyncio.run(main())
    assert pinged == {"type": "ack", "id": 3}
    assert light_pid == os.getpid() and heavy_pid != os.getpid()
    assert [p.pid for p in app.state.heavy.procs] == [heavy_pid]


def test_a_big_message_is_parsed_in_the_heavy_process(serve):
    """A 100,000-point upload (~150 ms to parse, ~100 ms to apply) moves its session before it
    is parsed: the worker's loop never runs that work."""
    port, timing, app = serve(Settings())
    pts = np.random.default_rng(0).random((100_000, 2)).round(6).tolist()

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            timing.longest = 0.0
            ack = await request(ws, 1, "data", name="points", params={"points": pts})
            return process_of(app, sid), ack, timing.longest

    pid, ack, longest = asyncio.run(main())
    assert ack["type"] == "ack" and ack["config"]["data_params"]["points"]["count"] == 100_000, ack
    assert pid != os.getpid()
    assert longest < 0.06, f"{longest * 1000:.0f} ms CPU in one callback of the worker"


def test_a_moved_session_that_ends_is_freed_in_both_processes(serve):
    from test_leak import no_gc

    port, _, app = serve(Settings(heavy_update=1e-9))

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            ref = weakref.ref(app.state.sessions[sid])
            await request(ws, 1, "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            await request(ws, 2, "pause")
        [proc] = app.state.heavy.procs
        await wait_for(lambda: not app.state.sessions and ref() is None and not proc.routes)
        # The heavy process ended its copy too: it answers for a new session at once.
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            await ws.recv()
            await request(ws, 1, "play")
            await request(ws, 2, "pause")
            return proc, [p.pid for p in app.state.heavy.procs]

    with no_gc():
        proc, pids = asyncio.run(main())
    assert pids == [proc.pid], "an idle heavy process is used again"


def test_the_accounting_route_answers_loopback_clients_only():
    from fastapi.testclient import TestClient

    with TestClient(create_app(Settings(allowed_hosts=["testserver"]))) as c:
        r = c.get("/debug/sessions")  # TestClient's peer is "testclient", not a loopback address
        assert r.status_code == 403 and "loopback" in r.json()["error"]


def test_a_heavy_process_that_dies_ends_its_sessions_not_the_worker(serve):
    port, _, app = serve(Settings(heavy_update=1e-9))

    async def main():
        url = f"ws://127.0.0.1:{port}/ws"
        async with connect(url, max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            await request(ws, 1, "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            [proc] = app.state.heavy.procs
            proc.proc.kill()
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass
            code = ws.close_code
        await wait_for(lambda: not app.state.sessions)
        async with connect(url, max_size=None) as ws:  # the worker serves on, with a new one
            sid2 = json.loads(await ws.recv())["session"]
            await request(ws, 1, "play")
            await wait_for(lambda: process_of(app, sid2) not in (os.getpid(), proc.pid))
            stepped = await request(ws, 2, "pause")
        return code, stepped

    code, paused = asyncio.run(main())
    assert code == 1011 and paused["type"] == "ack"


def test_a_moved_flood_waits_in_its_senders_buffers(serve):
    """While its heavy process does not answer (stopped here), the worker forwards a moved
    session's messages only up to MAX_UNANSWERED and reads no further; then every one is
    answered, in order."""
    import signal

    from ganlab.server.session import MAX_UNANSWERED

    port, _, app = serve(Settings(heavy_update=1e-9))

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            await request(ws, 1, "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            await request(ws, 2, "pause")
            session, [proc] = app.state.sessions[sid], app.state.heavy.procs
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                for i in range(40):
                    await ws.send(json.dumps({"type": "ping", "id": 100 + i}))
                await wait_for(lambda: session.unanswered == MAX_UNANSWERED)
                await asyncio.sleep(0.3)
                held = session.unanswered
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            ids = []
            while len(ids) < 40:
                msg = await ws.recv()
                if isinstance(msg, str) and msg.startswith('{"type":"ack"'):
                    ids.append(json.loads(msg)["id"])
            return held, ids, session.unanswered

    held, ids, left = asyncio.run(main())
    assert held == MAX_UNANSWERED and ids == list(range(100, 140)) and left == 0


def test_an_image_session_is_heavy_by_nature(serve):
    """Image sessions (issue 10: a trainer with ``image_shape``) cost a core each at full speed:
    they move at their first chunk whatever their update costs."""
    port, _, app = serve(Settings())

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            app.state.sessions[sid].trainer.image_shape = (8, 8)  # what an image trainer says
            await request(ws, 1, "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            return await request(ws, 2, "pause")

    assert asyncio.run(main())["type"] == "ack"


def test_a_moved_session_moves_on_at_shutdown_with_its_exact_state(serve):
    """SIGTERM (shutdown.py) sends each session its state in a ``moving`` message and closes
    with 4012; a session in a heavy process does that there, from its live trainer, not from the
    worker's stale copy. Its snapshot equals a Trainer trained as many epochs here."""
    from ganlab.server.shutdown import MOVE_CODE, MOVE_REASON

    port, _, app = serve(Settings(heavy_update=1e-9))

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            await request(ws, 1, "config", changes=CONFIG)
            await request(ws, 2, "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            session = app.state.sessions[sid]
            await wait_for(lambda: session.trained >= 3)  # reported by the heavy process
            asyncio.run_coroutine_threadsafe(session.close_for_shutdown(MOVE_CODE, MOVE_REASON),
                                             session.tasks["receive"].get_loop())
            moving = None
            with contextlib.suppress(ConnectionClosed):
                async for msg in ws:
                    if isinstance(msg, str) and msg.startswith('{"type":"moving"'):
                        moving = json.loads(msg)
            return moving, ws.close_code

    moving, code = asyncio.run(main())
    assert code == MOVE_CODE and moving["running"] is True and moving["epoch"] >= 3
    t = Trainer(CONFIG)
    t.train(moving["epoch"])
    snap = moving["snapshot"]
    assert np.array_equal(snap["generator"], t.G.params) and np.array_equal(snap["discriminator"], t.D.params)


def test_a_moved_sessions_replies_keep_the_order_of_its_messages(serve):
    """The worker refuses a flood itself (rate_limited) while the accepted messages are answered
    by the heavy process: a refusal waits for the replies to the messages before it, so replies
    come one per message, in order, as for a session that never moved (failed before: the
    worker's refusals overtook the heavy process's acks)."""
    port, _, app = serve(Settings(heavy_update=1e-9, rate_limit=20, rate_burst=5))

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            sid = json.loads(await ws.recv())["session"]
            await request(ws, "play", "play")
            await wait_for(lambda: process_of(app, sid) != os.getpid())
            await request(ws, "pause", "pause")
            await asyncio.sleep(0.5)  # the bucket refills (rate 20/s, burst 5)
            for i in range(15):
                await ws.send(json.dumps({"type": "ping", "id": i}))
            replies = []
            while len(replies) < 15:
                msg = await ws.recv()
                if isinstance(msg, str) and not msg.startswith('{"type":"frame"'):
                    replies.append(json.loads(msg))
            return replies

    replies = asyncio.run(main())
    assert [r["id"] for r in replies] == list(range(15)), replies
    assert [r.get("code") for r in replies][:5] == [None] * 5
    assert "rate_limited" in [r.get("code") for r in replies]
