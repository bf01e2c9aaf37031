"""A real uvicorn (``ganlab.server.run`` in a subprocess on a free port) and real websockets
clients: sessions isolated from each other under a flood and an abrupt disconnect, snapshot /
restore across connections, origin refusal, server busy, and several worker processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from ganlab import Trainer
from ganlab.server.settings import Settings

pytestmark = pytest.mark.timeout(60)
ROOT = Path(__file__).resolve().parents[1]
MAX_SESSIONS = 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
        return json.loads(r.read())


def start(workers: int = 1, stderr=None, port: int | None = None, **settings) -> tuple[subprocess.Popen, int]:
    """A server subprocess on ``port`` (a free one by default; a fixed one lets a test restart the
    server at the same origin, e.g. to check what the page keeps in the browser)."""
    port = port or free_port()
    kw = ", ".join(f"{k}={v!r}" for k, v in settings.items())
    code = (f"from ganlab.server import run; run(port={port}, open_browser=False, "
            f"workers={workers}, log_level='warning', {kw})")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stderr=stderr,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            healthz(port)
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server():
    proc, port = start(max_sessions=MAX_SESSIONS)
    yield port
    stop(proc)


def wait_sessions(port: int, n: int, seconds: float = 5.0) -> int:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if (got := healthz(port)["sessions"]) == n:
            return got
        time.sleep(0.05)
    return healthz(port)["sessions"]


class Client:
    """A protocol client: replies resolve futures by id; frames are counted."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[dict] = []
        self.errors: list[dict] = []
        self.futures: dict = {}
        self.log: list | None = None  # when set, replies are recorded here instead
        self.next_id = 0
        self.task = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int, **kw) -> Client:
        """Connect as the page does, reconnecting with ?retry=n after a ``rebalance`` refusal."""
        for retry in range(10):
            query = f"?retry={retry}" if retry else ""
            ws = await connect(f"ws://127.0.0.1:{port}/ws{query}", max_size=None, **kw)
            hello = json.loads(await ws.recv())
            if hello.get("code") != "rebalance":
                break
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            assert (e.value.rcvd.code, e.value.rcvd.reason) == (1013, "rebalance")
        assert hello["type"] == "hello"
        c = cls(ws)
        c.hello, c.retries = hello, retry
        return c

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):  # the abruptly dropped client ends here
            await self._read_all()

    async def _read_all(self) -> None:
        async for msg in self.ws:
            if isinstance(msg, bytes):
                continue
            data = json.loads(msg)
            if data["type"] == "frame":
                self.frames.append(data)
            elif data["type"] in ("ack", "error"):
                if data["type"] == "error":
                    self.errors.append(data)
                if self.log is not None:
                    self.log.append(data)
                    continue
                fut = self.futures.pop(data["id"], None)
                if fut is not None:
                    fut.set_result(data)

    async def request(self, type: str, **fields) -> dict:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.futures[self.next_id] = fut
        await self.ws.send(json.dumps({"type": type, "id": self.next_id, **fields}))
        return await asyncio.wait_for(fut, 10)

    async def close(self) -> None:
        await self.ws.close()
        self.task.cancel()


def test_sessions_are_isolated_under_flood_and_abrupt_disconnect(server):
    flood_n = 1000

    async def main():
        normal = [await Client.open(server) for _ in range(2)]
        flooder = await Client.open(server)
        dropper = await Client.open(server)
        assert wait_sessions(server, 4) == 4
        for c in (*normal, dropper):
            await c.request("play")
        await asyncio.sleep(0.3)

        replies: list[dict] = []
        flooder.log = replies  # every reply of the flood, in arrival order

        async def flood():  # as fast as the connection takes them
            for i in range(flood_n):
                await flooder.ws.send(json.dumps({"type": "ping", "id": i}))

        flood_task = asyncio.create_task(flood())
        dropper.ws.transport.abort()  # no close handshake
        counts = [len(c.frames) for c in normal]
        rtts = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.5:
            for c in normal:
                s = time.perf_counter()
                assert (await c.request("pause"))["type"] == "ack"
                rtts.append(time.perf_counter() - s)
                await c.request("play")
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - t0
        fps = [(len(c.frames) - n) / elapsed for c, n in zip(normal, counts, strict=True)]
        assert min(fps) > 5, fps  # default 30 fps; generous for a shared 2-core machine
        assert max(rtts) < 0.5, rtts
        assert all(c.frames[-1]["epoch"] > 0 for c in normal)
        for c in normal:
            await c.request("pause")

        # The abruptly closed session is gone; the flooder's session carries on.
        assert wait_sessions(server, 3) == 3
        await asyncio.wait_for(flood_task, 30)
        end = time.monotonic() + 30
        while len(replies) < flood_n and time.monotonic() < end:
            await asyncio.sleep(0.05)
        assert [r["id"] for r in replies] == list(range(flood_n)), "one reply per message, in order"
        codes = {r.get("code") for r in replies}
        assert "rate_limited" in codes and None in codes
        flooder.log = None
        # The flood emptied the flooder's token bucket: one token comes back every 1 / rate
        # seconds, so after twice that the next message is served, however fast the flood ended.
        await asyncio.sleep(2.0 / Settings().rate_limit)
        assert (await flooder.request("step"))["epoch"] == 1
        for c in (*normal, flooder):
            await c.close()

    asyncio.run(main())
    assert wait_sessions(server, 0) == 0, "no session outlives its connection"


def test_no_tasks_or_sessions_leak(server):
    assert wait_sessions(server, 0) == 0
    before = healthz(server)["tasks"]

    async def main():
        for _ in range(3):
            clients = [await Client.open(server) for _ in range(MAX_SESSIONS)]
            for c in clients[::2]:
                await c.request("play")
            await asyncio.sleep(0.2)
            for i, c in enumerate(clients):
                if i % 2:
                    await c.close()
                else:
                    c.ws.transport.abort()
                    c.task.cancel()
            assert wait_sessions(server, 0) == 0

    asyncio.run(main())
    assert wait_sessions(server, 0) == 0
    h = healthz(server)
    assert h["running"] == 0 and h["tasks"] <= before, (before, h)


def test_a_stalled_client_gets_a_short_backlog_not_seconds_of_frames(server):
    """A client that stops reading for 2 s (30 frames/s of ~22 KB = 1.3 MB) then drains finds
    only a few frames queued: the server stopped sending once ~128 KB were unsent."""

    async def main():
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)  # a slow link, roughly
        sock.connect(("127.0.0.1", server))
        async with connect(f"ws://127.0.0.1:{server}/ws", sock=sock, max_size=None,
                           max_queue=4) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "play", "id": 1}))
            await asyncio.sleep(2.0)  # not reading
            queued, t0 = 0, time.perf_counter()
            while True:  # drain: everything that arrives faster than 20 ms apart was queued
                try:
                    msg = await asyncio.wait_for(ws.recv(), 0.02)
                except TimeoutError:
                    break
                queued += isinstance(msg, str) and msg.startswith('{"type":"frame"')
            await ws.send(json.dumps({"type": "pause", "id": 2}))
            while isinstance(m := await ws.recv(), bytes) or json.loads(m)["type"] != "ack":
                pass
            return queued, time.perf_counter() - t0

    queued, _ = asyncio.run(main())
    assert queued < 25, f"{queued} frames were queued for a stalled client"


def test_snapshot_restore_across_connections(server):
    async def main():
        a = await Client.open(server)
        await a.request("config", changes={"seed": 3, "g_optimizer.kind": "adam"})
        for _ in range(20):
            await a.request("step")
        snap = (await a.request("snapshot"))["snapshot"]
        await a.close()
        b = await Client.open(server)
        ack = await b.request("restore", snapshot=snap)
        assert ack["type"] == "ack" and ack["epoch"] == 20
        await b.request("step")
        after = (await b.request("snapshot"))["snapshot"]
        await b.close()
        return snap, after

    snap, after = asyncio.run(main())
    ref = Trainer.from_snapshot(snap)
    ref.step()
    np.testing.assert_array_equal(np.asarray(after["generator"]), ref.G.params)
    assert after["epoch"] == 21


def test_foreign_origin_is_refused(server):
    async def main():
        async with connect(f"ws://127.0.0.1:{server}/ws", origin="http://evil.example") as ws:
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
            return e.value.rcvd.code

    assert asyncio.run(main()) == 1008
    port_origin = f"http://127.0.0.1:{server}"

    async def allowed():
        c = await Client.open(server, origin=port_origin)
        await c.close()
        return c.hello

    assert asyncio.run(allowed())["type"] == "hello"


def test_server_busy(server):
    assert wait_sessions(server, 0) == 0

    async def main():
        full = [await Client.open(server) for _ in range(MAX_SESSIONS)]
        async with connect(f"ws://127.0.0.1:{server}/ws") as ws:
            msg = json.loads(await ws.recv())
            with pytest.raises(ConnectionClosed) as e:
                await ws.recv()
        for c in full:
            await c.close()
        return msg, e.value.rcvd.code

    msg, code = asyncio.run(main())
    assert msg["type"] == "error" and msg["code"] == "server_busy" and code == 1013


def test_several_workers_read_settings_from_env():
    proc, port = start(workers=2, max_sessions=5, idle_timeout=600)
    try:
        async def main():
            clients = [await Client.open(port) for _ in range(4)]
            for c in clients:
                assert c.hello["limits"]["max_sessions"] == 5
                assert c.hello["limits"]["idle_timeout"] == 600
                assert (await c.request("step"))["epoch"] == 1
            workers = {c.hello["worker"] for c in clients}
            for c in clients:
                await c.close()
            return workers

        assert len(asyncio.run(main())) >= 1
    finally:
        stop(proc)


def test_workers_share_sessions_evenly():
    """Whatever worker the kernel hands a connection to, a worker holding more sessions than the
    other refuses it (``rebalance``) until the client's 4th retry: a client admitted before that
    never leaves its worker more than one session above the other. (A client forced in at its 4th
    retry -- the kernel kept choosing the crowded worker, as it does on a loaded machine -- may
    unbalance the split; the balancer then only has to not make it worse.)"""
    proc, port = start(workers=2, max_sessions=20)
    try:
        # Both workers up (each publishes its count when its app is built), as /healthz tells.
        seen, end = set(), time.monotonic() + 20
        while len(seen) < 2 and time.monotonic() < end:
            seen.add(healthz(port)["worker"])
        assert len(seen) == 2, seen

        async def main():
            clients, admissions = [], []
            for _ in range(12):
                c = await Client.open(port)
                clients.append(c)
                counts = dict.fromkeys(seen, 0)
                for x in clients:
                    counts[x.hello["worker"]] += 1
                mine = counts.pop(c.hello["worker"])
                admissions.append((c.retries, mine, min(counts.values())))
            for c in clients:
                await c.close()
            return admissions

        admissions = asyncio.run(main())
        for retries, mine, other in admissions:
            if retries < 4:
                assert mine <= other + 1, admissions
        if all(r < 4 for r, _, _ in admissions):
            assert sorted(admissions[-1][1:]) == [6, 6], admissions
    finally:
        stop(proc)


def _handshake(port: int, host: str, bind: str = "127.0.0.1") -> str:
    """The status line a websocket handshake naming ``host`` gets (a raw socket: clients
    derive Host from the URL)."""
    with socket.create_connection((bind, port), timeout=5) as s:
        s.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                  f"Origin: http://{host}\r\n\r\n".encode())
        return s.recv(4096).split(b"\r\n", 1)[0].decode()


def _get(port: int, path: str, host: str, bind: str = "127.0.0.1") -> int:
    req = urllib.request.Request(f"http://{bind}:{port}{path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_only_served_hosts_are_answered(server):
    evil = f"evil.example:{server}"
    assert _handshake(server, evil).startswith("HTTP/1.1 400")
    assert _handshake(server, f"127.0.0.1:{server}").startswith("HTTP/1.1 101")
    assert _get(server, "/", evil) == 400 and _get(server, "/api/schema", evil) == 400
    assert _get(server, "/healthz", evil) == 200
    assert _get(server, "/", f"localhost:{server}") == 200


def test_the_host_given_and_allowed_hosts_are_served():
    """`--host 127.0.0.2` serves that name; `--allow-host` adds names (a classroom's)."""
    port = free_port()
    code = (f"from ganlab.server import run; run(host='127.0.0.2', port={port}, "
            "open_browser=False, log_level='warning', allowed_hosts='my-host')")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                if _get(port, "/healthz", "x", bind="127.0.0.2") == 200:
                    break
            time.sleep(0.1)
        assert _get(port, "/", f"127.0.0.2:{port}", bind="127.0.0.2") == 200
        assert _get(port, "/", f"my-host:{port}", bind="127.0.0.2") == 200
        assert _handshake(port, f"my-host:{port}", bind="127.0.0.2").startswith("HTTP/1.1 101")
        assert _get(port, "/", f"evil.example:{port}", bind="127.0.0.2") == 400
    finally:
        stop(proc)


# -- `ganlab serve` --------------------------------------------------------------------------------


def test_serve_help_describes_every_option_with_its_default():
    from ganlab.cli import build_parser

    r = subprocess.run([sys.executable, "-m", "ganlab", "serve", "--help"], capture_output=True,
                       text=True, cwd=ROOT, timeout=30)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    for action in serve._actions:
        if action.dest == "help":
            continue
        assert action.help, action.option_strings
        if action.default not in (None, False):
            assert f"(default: {action.default})" in text, action.option_strings
    assert "Exit status 4" in text


def _serve(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ganlab", "serve", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env or dict(os.environ, PYTHONPATH=str(ROOT)))


def test_serve_on_a_busy_port_says_so_and_exits_4():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve("--port", str(port), "--no-browser")
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 4, (out, err)
    assert err.strip() == (f"ganlab: port {port} on 127.0.0.1 is in use (another ganlab or "
                           f"server?); try --port {port + 1}")


@pytest.mark.parametrize("args,env", [
    (("--no-browser",), None),
    ((), {"PATH": "", "PYTHONPATH": str(ROOT)}),  # no browser to be found (no display, no PATH)
])
def test_serve_without_a_browser_prints_the_address(args, env):
    port = free_port()
    proc = _serve("--port", str(port), *args, env=env)
    try:
        assert proc.stdout.readline().strip() == f"ganlab: open http://127.0.0.1:{port}"
        end = time.monotonic() + 30
        while time.monotonic() < end:
            with contextlib.suppress(OSError):
                assert healthz(port)["status"] == "ok"
                break
            time.sleep(0.1)
        else:
            pytest.fail("the server did not answer")
    finally:
        stop(proc)
        proc.communicate()


def test_invalid_utf8_floods_neither_the_log_nor_the_server(tmp_path):
    """200 text frames with invalid UTF-8 (each closes its connection with 1007, as uvicorn
    does): the log gets one line about them, no traceback, and the server carries on."""
    with open(tmp_path / "server.log", "w") as log:
        proc, port = start(stderr=log)
    try:
        async def main():
            codes = set()
            for _ in range(200):
                async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
                    await ws.recv()  # hello
                    await ws.send(b"\xff\xfe{", text=True)
                    with pytest.raises(ConnectionClosed) as e:
                        while True:
                            await ws.recv()
                    codes.add(e.value.rcvd.code)
            c = await Client.open(port)
            epoch = (await c.request("step"))["epoch"]
            await c.close()
            return codes, epoch

        codes, epoch = asyncio.run(main())
        assert codes == {1007} and epoch == 1
    finally:
        stop(proc)
    text = (tmp_path / "server.log").read_text()
    assert "Traceback" not in text, text[:2000]
    lines = [line for line in text.splitlines() if "UTF-8" in line]
    assert 1 <= len(lines) <= 3, text[:2000]
