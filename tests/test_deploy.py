"""A class across replicas (docs/deploy.md) with real parts: Debian's nginx, run as this user with
deploy/ganlab.conf in a temporary directory, in front of two ``ganlab serve`` processes on free
loopback ports; real websocket clients that behave as the page does (static/socket.js: restore
the last snapshot after a reconnection, at once after close code 4012); SIGTERM and SIGKILL of a
replica while the sessions train. Also: the drain with several workers, /metrics, and the page's
reconnection in Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_server_live import free_port
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parents[1]
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
if NGINX is None and os.environ.get("GANLAB_REQUIRE_NGINX") == "1":
    pytest.fail("GANLAB_REQUIRE_NGINX=1 but nginx is not installed (apt-get install nginx-light)",
                pytrace=False)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx-light)")
pytestmark = pytest.mark.timeout(120)

SESSIONS = 20
SNAPSHOT_EVERY = 1.0  # the clients' snapshot interval (the page's is 5 s while training)
SPEED = 100  # epochs/s per session: enough to see progress, little CPU for 20 sessions on 2 cores
MOVE_CODE = 4012
DRAIN_TIMEOUT = 30  # long, so that a replica exiting early shows its sessions had moved


def run_async(coro):
    """asyncio.run in a thread of its own: playwright's sync API (the browser fixture) keeps an
    event loop running in the main thread, where asyncio.run refuses to start."""
    out: dict = {}

    def target():
        try:
            out["value"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the test's thread
            out["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def status(url: str) -> int | None:
    """The HTTP status of GET ``url``, or None while nothing answers."""
    try:
        return get(url)[0]
    except OSError:
        return None


def wait_for(cond, seconds: float, what: str, step: float = 0.05):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if value := cond():
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


class Replica:
    """``ganlab serve`` in a subprocess (``ganlab.server.run``, as the CLI calls it)."""

    def __init__(self, workers: int = 1, **settings):
        self.port = free_port()
        kw = "".join(f", {k}={v!r}" for k, v in settings.items())
        code = (f"from ganlab.server import run; run(port={self.port}, open_browser=False, "
                f"workers={workers}, log_level='warning'{kw})")
        self.proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT,
                                     env=dict(os.environ, PYTHONPATH=str(ROOT)))
        self.pids: set[int] = set()

        def up():
            with contextlib.suppress(OSError, ValueError):
                status, body = get(f"http://127.0.0.1:{self.port}/healthz")
                if status == 200:
                    self.pids.add(json.loads(body)["worker"])
            return len(self.pids) >= workers

        wait_for(up, 30, "the replica to start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class Nginx:
    """Debian's nginx with deploy/ganlab.conf, every path in ``tmp``, balancing ``ports``."""

    def __init__(self, tmp: Path, ports: list[int], include: tuple[Path, ...] = ()):
        """``include``: files included in ganlab.conf's server block (deploy/ganlab-prefix.conf)."""
        self.port = free_port()
        conf = (ROOT / "deploy" / "ganlab.conf").read_text()
        if include:
            conf = conf.rstrip()
            assert conf.endswith("}"), "deploy/ganlab.conf: no longer ends with its server block"
            conf = conf[:-1] + "".join(f"    include {p};\n" for p in include) + "}\n"
        servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in ports)
        conf, n = re.subn(r"(    server \S+:8000 [^\n]*\n)+", servers, conf)
        assert n == 1, "deploy/ganlab.conf: the upstream's server lines moved"
        conf, n = re.subn(r"listen 80;", f"listen 127.0.0.1:{self.port};", conf)
        assert n == 1, "deploy/ganlab.conf: the listen line moved"
        (tmp / "ganlab.conf").write_text(conf)
        user = "user root root;\n" if os.geteuid() == 0 else ""  # root's workers would be nobody
        (tmp / "nginx.conf").write_text(
            f"daemon off;\n{user}worker_processes 1;\npid {tmp}/nginx.pid;\n"
            f"error_log {tmp}/error.log info;\nevents {{ worker_connections 512; }}\n"
            f"http {{\n access_log {tmp}/access.log;\n"
            + "".join(f" {k}_temp_path {tmp}/{k};\n" for k in ("client_body", "proxy", "fastcgi",
                                                               "uwsgi", "scgi"))
            + f" include {tmp}/ganlab.conf;\n}}\n")
        self.tmp = tmp
        self.proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf"),
                                      "-e", str(tmp / "error.log")])
        wait_for(lambda: self.proc.poll() is not None or status(self.url("/healthz")) == 200, 10,
                 "nginx to answer")
        assert self.proc.poll() is None, (tmp / "error.log").read_text()

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def cluster(tmp_path):
    """Two single-worker replicas behind nginx."""
    replicas = [Replica(drain_timeout=DRAIN_TIMEOUT), Replica(drain_timeout=DRAIN_TIMEOUT)]
    lb = None
    try:
        lb = Nginx(tmp_path, [r.port for r in replicas])
        yield lb, replicas
    finally:
        if lb is not None:
            lb.stop()
        for r in replicas:
            r.stop()


def backoff(attempt: int) -> float:
    """static/socket.js's backoffDelay, in seconds."""
    return min(2.0, 0.25 * 2 ** attempt) * (0.5 + 0.5 * random.random())


class PageClient:
    """One session as the page runs it: plays, keeps a snapshot every ``SNAPSHOT_EVERY`` s (and
    the final state from ``moving``), and after a drop reconnects (at once on 4012, else with
    the page's backoff), restores the snapshot and plays again."""

    def __init__(self, url: str):
        self.url = url
        self.ws = None
        self.next_id = 0
        self.replies: dict[int, asyncio.Future] = {}
        self.errors: list[dict] = []  # error replies and error statuses: none may come
        self.epoch = 0  # of the last frame
        self.snapshot: dict | None = None
        self.snap_at = 0.0  # when the snapshot was taken (monotonic)
        self.moved: dict | None = None  # the last `moving` message
        self.closes: list[int] = []
        self.drops: list[dict] = []  # per reconnection: what was lost and how long it took
        self.worker = None
        self.trained_since = asyncio.Event()  # a frame beyond the restored epoch came
        self.restored_at: int | None = None

    async def request(self, type_: str, **fields) -> dict:
        self.next_id += 1
        fut = asyncio.get_running_loop().create_future()
        self.replies[self.next_id] = fut
        await self.ws.send(json.dumps({"type": type_, "id": self.next_id, **fields}))
        return await asyncio.wait_for(fut, 15)

    async def open(self) -> None:
        attempt = retry = 0
        give_up = time.monotonic() + 20
        while True:
            assert time.monotonic() < give_up, f"{self.url}: no server answered for 20 s"
            try:
                query = f"?retry={retry}" if retry else ""
                ws = await connect(self.url + query, max_size=None, open_timeout=4)
                hello = json.loads(await asyncio.wait_for(ws.recv(), 4))
            except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
                await asyncio.sleep(backoff(attempt))
                attempt += 1
                continue
            if hello.get("code") != "rebalance":
                break
            retry += 1  # another worker has fewer sessions: straight back (docs/protocol.md)
        assert hello["type"] == "hello", hello
        self.ws = ws  # only now: a snapshot request must not reach the fresh session first
        self.worker = hello["worker"]
        self.reader = asyncio.create_task(self.read())

    async def read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for msg in self.ws:
                if isinstance(msg, bytes):
                    continue
                m = json.loads(msg)
                if m["type"] == "frame":
                    self.epoch = m["epoch"]
                    if self.restored_at is not None and m["epoch"] > self.restored_at:
                        self.trained_since.set()
                elif m["type"] == "moving":
                    self.moved = m
                    self.snapshot, self.snap_at = m["snapshot"], time.monotonic()
                elif m["type"] in ("ack", "error") and m.get("id") in self.replies:
                    self.replies.pop(m["id"]).set_result(m)
                if m["type"] == "error" or (m["type"] == "status" and m["state"] != "ok"):
                    self.errors.append(m)
        self.closes.append(self.ws.close_code)

    async def start(self) -> None:
        await self.open()
        await self.request("view", fps=10)
        await self.request("speed", epochs_per_sec=SPEED)
        assert (await self.request("play"))["running"]

    async def keep_snapshots(self) -> None:
        """The page's periodic snapshot while training (main.js: every 5 s)."""
        while True:
            await asyncio.sleep(SNAPSHOT_EVERY)
            with contextlib.suppress(Exception):
                if self.ws.close_code is None:
                    ack = await self.request("snapshot")
                    if ack["type"] == "ack":
                        self.snapshot, self.snap_at = ack["snapshot"], time.monotonic()

    async def follow(self) -> None:
        """Reconnect after each drop and carry on from the snapshot, as the page does."""
        while True:
            await self.reader
            lost_at, seen, code = time.monotonic(), self.epoch, self.ws.close_code
            snap_age = lost_at - self.snap_at
            if code != MOVE_CODE:
                await asyncio.sleep(backoff(0))
            self.trained_since.clear()
            self.restored_at = None
            await self.open()
            ack = await self.request("restore", snapshot=self.snapshot)
            assert ack["type"] == "ack", ack
            self.restored_at = ack["epoch"]
            await self.request("view", fps=10)
            await self.request("speed", epochs_per_sec=SPEED)
            await self.request("play")
            await self.trained_since.wait()
            self.drops.append({"code": code, "seen": seen, "restored": ack["epoch"],
                               "snapshot_age": snap_age, "back_after": time.monotonic() - lost_at,
                               "trained_at": time.monotonic(), "worker": self.worker})


async def run_class(lb: Nginx, replicas: list[Replica], sig: int) -> tuple[list[PageClient], float]:
    """Open SESSIONS sessions through nginx, let them train, send ``sig`` to the replica holding
    the most sessions, and wait until every moved session trains again."""
    clients = [PageClient(lb.url("/ws", "ws")) for _ in range(SESSIONS)]
    await asyncio.gather(*(c.start() for c in clients))
    tasks = [asyncio.create_task(t()) for c in clients for t in (c.keep_snapshots, c.follow)]
    try:
        # Every session holds a snapshot and has trained beyond it.
        end = time.monotonic() + 30
        while not all(c.snapshot and c.epoch > c.snapshot["epoch"] for c in clients):
            assert time.monotonic() < end, "the sessions did not train"
            await asyncio.sleep(0.05)
        on = {r.pids.copy().pop(): r for r in replicas}
        counts = {pid: sum(c.worker == pid for c in clients) for pid in on}
        assert sum(counts.values()) == SESSIONS and min(counts.values()) >= SESSIONS // 4, counts
        victim_pid = max(counts, key=counts.get)
        victims = [c for c in clients if c.worker == victim_pid]
        t0 = time.monotonic()
        on[victim_pid].proc.send_signal(sig)
        end = t0 + 30
        while not all(c.drops for c in victims):
            assert time.monotonic() < end, [len(c.drops) for c in victims]
            await asyncio.sleep(0.05)
        # The others trained on undisturbed (nobody reconnected them).
        assert all(not c.drops for c in clients if c not in victims)
        return victims, t0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(asyncio.wait_for(c.ws.close(), 2) for c in clients),
                             return_exceptions=True)


@needs_nginx
def test_sigterm_moves_every_session_to_the_other_replica_without_loss(cluster):
    lb, replicas = cluster
    victims, t0 = run_async(asyncio.wait_for(run_class(lb, replicas, signal.SIGTERM), 80))
    survivor = next(r for r in replicas if r.proc.poll() is None)
    for c in victims:
        (d,) = c.drops
        assert d["code"] == MOVE_CODE, d
        assert d["worker"] in survivor.pids, d  # it came back on the other replica
        # It restored the final state that `moving` carried: not one epoch lost.
        assert c.moved is not None and d["restored"] == c.moved["epoch"] >= d["seen"], d
        assert d["trained_at"] - t0 < 10, d  # the bar: training again within 10 s
        assert not c.errors, c.errors
    # The replica exited because its sessions were gone, long before its drain deadline.
    wait_for(lambda: next(r for r in replicas if r is not survivor).proc.poll() is not None,
             DRAIN_TIMEOUT, "the drained replica to exit")
    assert time.monotonic() - t0 < DRAIN_TIMEOUT - 10


@needs_nginx
def test_sigkill_loses_at_most_one_snapshot_interval_and_every_session_trains_within_10_s(cluster):
    lb, replicas = cluster
    victims, t0 = run_async(asyncio.wait_for(run_class(lb, replicas, signal.SIGKILL), 80))
    survivor = next(r for r in replicas if r.proc.poll() is None)
    for c in victims:
        (d,) = c.drops
        assert d["code"] != MOVE_CODE and d["worker"] in survivor.pids, d
        # Restored from the last snapshot the client held, taken within one interval of the
        # kill (plus the snapshot request's own round trip).
        assert d["restored"] <= d["seen"], d
        assert d["snapshot_age"] <= SNAPSHOT_EVERY + 1.0, d
        assert d["seen"] - d["restored"] <= SPEED * (SNAPSHOT_EVERY + 1.0), d
        assert d["trained_at"] - t0 < 10, d  # training again within 10 s of the kill
        assert not c.errors, c.errors


def test_sigterm_with_several_workers_moves_every_session_and_exits():
    """uvicorn's supervisor passes SIGTERM to each worker; each drains its own sessions."""
    replica = Replica(workers=2, drain_timeout=20)
    try:
        async def scenario():
            clients = [PageClient(f"ws://127.0.0.1:{replica.port}/ws") for _ in range(4)]
            for c in clients:
                await c.start()
            wait_metrics = time.monotonic() + 10
            while True:  # /metrics adds the two workers' numbers up
                text = get(f"http://127.0.0.1:{replica.port}/metrics")[1].decode()
                if (metric(text, "ganlab_sessions") == 4 and metric(text, "ganlab_epochs_total") > 0
                        and metric(text, "ganlab_frames_total") > 0
                        and metric(text, "ganlab_running_sessions") == 4
                        and metric(text, "ganlab_epochs_per_second") > 0
                        and metric(text, "ganlab_frames_per_second") > 0):
                    break
                assert time.monotonic() < wait_metrics, text
                await asyncio.sleep(0.1)
            assert len({c.worker for c in clients}) == 2  # both workers hold sessions
            replica.proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(asyncio.gather(*(c.reader for c in clients)), 15)
            for c in clients:
                assert c.closes == [MOVE_CODE] and c.moved["running"] and c.moved["snapshot"]
                assert c.moved["epoch"] >= c.epoch and not c.errors
        run_async(scenario())
        replica.proc.wait(15)  # the supervisor exits once its workers did (long before 20 s)
    finally:
        replica.stop()


def metric(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert m, f"{name}{labels} missing from /metrics:\n{text}"
    return float(m.group(1))


def test_metrics_count_sessions_epochs_frames_and_refusals():
    """One process (no multiprocess directory): a training session shows in the gauges and
    drives the epoch and frame counters; a foreign origin counts as a refusal."""
    from fastapi.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from ganlab.server.app import create_app
    from ganlab.server.settings import Settings

    with TestClient(create_app(Settings(allowed_hosts=["testserver"]))) as client:
        def read(name, labels=""):
            return metric(client.get("/metrics").text, name, labels)

        epochs0, frames0 = read("ganlab_epochs_total"), read("ganlab_frames_total")
        origin0 = read("ganlab_refused_connections_total", '{reason="origin"}')
        with client.websocket_connect("/ws") as ws:
            assert json.loads(ws.receive_text())["type"] == "hello"
            ws.send_text(json.dumps({"type": "play", "id": 1}))
            while True:  # frames (JSON head, then binary) until the play is acknowledged
                msg = ws.receive()
                if msg.get("text") and json.loads(msg["text"])["type"] == "ack":
                    break
            wait_for(lambda: read("ganlab_epochs_total") > epochs0 and read("ganlab_frames_total")
                     > frames0 and read("ganlab_sessions") == 1 and read("ganlab_running_sessions") == 1,
                     10, "the session's numbers in /metrics")
        with pytest.raises(WebSocketDisconnect), \
                client.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
        assert read("ganlab_refused_connections_total", '{reason="origin"}') == origin0 + 1
        wait_for(lambda: read("ganlab_sessions") == 0, 10, "the session to be gone from /metrics")


def test_draining_refuses_new_sessions_and_reports_unhealthy():
    """While draining, /healthz says 503 and a handshake is refused with HTTP 503 (what nginx's
    proxy_next_upstream http_503 passes on), counted in /metrics."""
    from fastapi.testclient import TestClient
    from starlette.testclient import WebSocketDenialResponse

    from ganlab.server.app import create_app

    app = create_app()
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/healthz").status_code == 200
        before = metric(client.get("/metrics").text, "ganlab_refused_connections_total",
                        '{reason="draining"}')
        client.portal.call(lambda: app.state.drain.begin(app.state.sessions))
        health = client.get("/healthz")
        assert (health.status_code, health.json()["status"]) == (503, "draining")
        with pytest.raises(WebSocketDenialResponse) as refused, client.websocket_connect("ws://127.0.0.1:8000/ws"):
            pass
        assert refused.value.status_code == 503
        text = client.get("/metrics", headers={"host": "10.1.2.3:8000"}).text  # any Host
        assert metric(text, "ganlab_refused_connections_total", '{reason="draining"}') == before + 1
        assert metric(text, "ganlab_draining") == 1


# --- the page in Chromium ---------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("GANLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"GANLAB_REQUIRE_BROWSER=1 but no chromium at {CHROMIUM}")
        pytest.skip(f"system chromium not found at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="python playwright is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def open_page(browser, url: str):
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    pg.goto(url)
    pg.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0")
    return context, pg, problems


@needs_nginx
def test_page_moves_to_the_other_replica_at_once_and_loses_nothing(cluster, browser):
    """SIGTERM of the replica serving a training page: the page takes the final state from
    `moving`, reconnects at once on close code 4012 (through nginx, to the other replica),
    restores it and trains on; its epoch never goes back."""
    lb, replicas = cluster
    context, pg, problems = open_page(browser, lb.url("/"))
    try:
        pg.evaluate("""() => {
            const s = window.ganlab.session;
            window.seen = {moved: null, before: 0, after: []};
            s.addEventListener("moving", (e) => { window.seen.moved = e.detail.epoch; });
            s.addEventListener("frame", (e) => {
                if (window.seen.moved === null) window.seen.before = e.detail.meta.epoch;
                else window.seen.after.push(e.detail.meta.epoch);
            });
        }""")
        pg.click("#play")
        pg.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 200")
        worker = pg.evaluate("window.ganlab.session.hello.worker")
        victim = next(r for r in replicas if worker in r.pids)
        survivor = next(r for r in replicas if r is not victim)
        t0 = time.monotonic()
        victim.proc.send_signal(signal.SIGTERM)
        pg.wait_for_function(f"""window.ganlab.session.connected && window.seen.moved !== null &&
            {sorted(survivor.pids)}.includes(window.ganlab.session.hello.worker) &&
            window.ganlab.running && window.seen.after.some((e) => e > window.seen.moved)""",
                             timeout=10_000)
        back = time.monotonic() - t0
        seen = pg.evaluate("window.seen")
        assert seen["moved"] >= seen["before"], seen
        assert min(seen["after"]) >= seen["moved"], seen  # restored the final state, not older
        assert back < 10, back
        assert pg.text_content("#conn") == "connected"
        assert not problems, problems
    finally:
        context.close()


def test_page_reconnects_at_once_on_4012_and_never_waits_more_than_2_s(browser, tmp_path):
    """The page's reconnection policy (static/socket.js) against a socket that always fails:
    every wait is at most 2 s however long no server answers (the old backoff grew to 10 s), and
    a close with 4012 or 1012 is followed at once. Timers run 50x faster than asked."""
    replica = Replica()
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(f"http://127.0.0.1:{replica.port}/static/style.css")  # any page of that origin
        waits = pg.evaluate("""async () => {
            const {Session} = await import("/static/socket.js");
            const realTimeout = window.setTimeout.bind(window);
            window.setTimeout = (fn, ms, ...rest) => realTimeout(fn, (ms || 0) / 50, ...rest);
            let code = 1006;
            class Failing {  // a connection that closes before its handshake completes
                constructor() { realTimeout(() => this.onclose?.({code, reason: ""}), 1); }
                close() {}
            }
            window.WebSocket = Failing;
            const waits = [];
            const s = new Session("ws://unused/ws");
            const next = () => new Promise((done) =>
                s.addEventListener("reconnecting", (e) => done(e.detail.in), {once: true}));
            s.connect();
            for (let i = 0; i < 12; i++) waits.push(["drop", await next()]);
            for (const c of [4012, 1012, 4012]) { code = c; waits.push([c, await next()]); }
            code = 1006;
            waits.push(["drop", await next()]);
            s.close();
            return waits;
        }""")
    finally:
        context.close()
        replica.stop()
    drops = [w for kind, w in waits if kind == "drop"]
    moves = [w for kind, w in waits if kind != "drop"]
    assert max(drops) <= 2000 and min(drops) >= 125, waits
    assert len(set(drops)) > 3, waits  # jittered, not a fixed beat
    assert max(moves) <= 100, waits


def test_a_training_session_keeps_its_snapshot_fresh_without_the_pages_timers(browser):
    """socket.js alone (no main.js and its 5 s timer, which a hidden tab may throttle to once a
    minute) refreshes the snapshot it would restore from as frames of a training session come:
    what a crashed replica costs stays within one snapshot interval."""
    replica = Replica()
    context = browser.new_context()
    try:
        pg = context.new_page()
        pg.goto(f"http://127.0.0.1:{replica.port}/static/style.css")
        got = pg.evaluate("""async (url) => {
            const {Session} = await import("/static/socket.js");
            const s = new Session(url);
            s.snapshotEvery = 300;
            const hello = new Promise((done) => s.addEventListener("hello", done, {once: true}));
            s.connect();
            await hello;
            await s.request("speed", {epochs_per_sec: 200});
            await s.request("play");
            const snaps = [];
            const t0 = performance.now();
            while (performance.now() - t0 < 2500) {
                await new Promise((done) => setTimeout(done, 50));
                const e = s.snapshot?.epoch;
                if (e !== undefined && e !== snaps[snaps.length - 1]) snaps.push(e);
            }
            const age = performance.now() - s.snapshotAt;
            s.close();
            return {snaps, age};
        }""", f"ws://127.0.0.1:{replica.port}/ws")
    finally:
        context.close()
        replica.stop()
    snaps = got["snaps"]
    assert len(snaps) >= 4 and snaps == sorted(snaps) and snaps[-1] > 0, got
    assert got["age"] < 300 + 500, got  # the interval plus a round trip on a busy machine


def test_a_lingering_client_holds_the_drain_only_until_the_deadline():
    """A client that stopped reading while its session trains blocks the session's sends, so the
    `moving` message cannot reach it: the replica refuses new sessions (503) and reports
    unhealthy meanwhile, and exits once ``drain_timeout`` has passed."""
    replica = Replica(drain_timeout=1.5)
    try:
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # frames back up at once
        raw.connect(("127.0.0.1", replica.port))
        raw.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(1)
        assert head.startswith(b"HTTP/1.1 101"), head
        play = b'{"type": "play"}'
        mask = os.urandom(4)
        raw.sendall(bytes([0x81, 0x80 | len(play)]) + mask
                    + bytes(b ^ mask[i % 4] for i, b in enumerate(play)))
        # Frames (~22 KB each, 30 a second) fill the small window; once what waits unread has
        # stopped growing for half a second, the server's send buffer (64 KiB before its
        # writes wait) is full too, and the session's sends block.
        def unread() -> int:
            return struct.unpack("i", fcntl.ioctl(raw, termios.FIONREAD, b"\0\0\0\0"))[0]

        last = [-1, 0.0]  # unread bytes, and since when

        def window_full() -> bool:
            n, now = unread(), time.monotonic()
            if n != last[0]:
                last[:] = [n, now]
            return n > 0 and now - last[1] >= 0.5

        wait_for(window_full, 10, "the client's window to fill")
        wait_for(lambda: json.loads(get(f"http://127.0.0.1:{replica.port}/healthz")[1])["sessions"] == 1,
                 10, "the session")
        t0 = time.monotonic()
        replica.proc.send_signal(signal.SIGTERM)  # from here on the client reads nothing
        assert wait_for(lambda: status(f"http://127.0.0.1:{replica.port}/healthz") == 503, 5,
                        "/healthz to say draining")

        async def handshake() -> int:
            with pytest.raises(InvalidStatus) as refused:
                await connect(f"ws://127.0.0.1:{replica.port}/ws")
            return refused.value.response.status_code

        assert run_async(handshake()) == 503
        replica.proc.wait(15)
        took = time.monotonic() - t0
        assert 1.5 <= took < 12, took  # waited for the session, then gave up on it
        raw.close()
    finally:
        replica.stop()


def record_and_reconnect(pg, held: int, timeout_ms: int) -> None:
    """On a page playing from a snapshot at epoch ``held``: the Record control's span (POST
    api/animate) makes its 3 frames, and a dropped connection comes back as a new session
    restored from the snapshot (no epoch before ``held``) that trains on past ``held`` + 50."""
    frames = pg.evaluate("""import("./static/record.js").then(({recordSpan}) => {
        const snapshot = window.ganlab.session.snapshot;
        return recordSpan({snapshot, to: snapshot.epoch + 20, every: 10, size: 64})
            .then((r) => r.frames); })""")
    assert frames == 3
    before = pg.evaluate("""() => {
        const s = window.ganlab.session;
        window.after = [];
        s.addEventListener("reconnected", () => s.addEventListener("frame",
            (e) => window.after.push(e.detail.meta.epoch)));
        s.drop();
        return s.hello.session;
    }""")
    pg.wait_for_function(f"""window.ganlab.session.connected && window.ganlab.running &&
        window.after.some((e) => e > {held} + 50)""", timeout=timeout_ms)
    assert pg.evaluate("window.ganlab.session.hello.session") != before  # a new session...
    assert min(pg.evaluate("window.after")) >= held  # ...restored from the snapshot


@needs_nginx
def test_the_page_under_a_path_prefix_trains_snapshots_and_reconnects(browser, tmp_path):
    """deploy/ganlab-prefix.conf serves the lab at /ganlab/ (as jupyter-server-proxy serves it at
    /proxy/PORT/ or /ganlab/): every URL the page uses (static modules, api/..., the websocket)
    stays under the prefix, and the page trains, snapshots and comes back after a dropped
    connection. nginx's own `location /` would hide a root-relative URL, so each request is checked."""
    replica = Replica(heavy_nice=0)  # the Record's replay process: not starved on a busy machine
    lb = None
    try:
        lb = Nginx(tmp_path, [replica.port], include=(ROOT / "deploy" / "ganlab-prefix.conf",))
        assert status(lb.url("/ganlab")) == 200  # redirected to /ganlab/ (urllib follows it)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        pg = context.new_page()
        urls: list[str] = []
        pg.on("request", lambda r: urls.append(r.url))
        pg.on("websocket", lambda ws: urls.append(ws.url))
        problems: list[str] = []
        pg.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
        try:
            pg.goto(lb.url("/ganlab/"))
            pg.wait_for_function("window.ganlab && window.ganlab.ready && window.ganlab.frames > 0")
            pg.click("#play")
            pg.wait_for_function("window.ganlab.running && window.ganlab.lastMeta.epoch > 100")
            held = pg.evaluate("window.ganlab.session.refreshSnapshot().then((s) => s.epoch)")
            assert held > 100
            # The Record control's POST api/animate, through the prefix's own location for it.
            record_and_reconnect(pg, held, 20_000)
            assert not problems, problems
            prefix = (lb.url("/ganlab/"), lb.url("/ganlab/", scheme="ws"))
            assert any(u.startswith(prefix[1] + "ws") for u in urls), urls
            assert any("/ganlab/api/schema" in u for u in urls) and any("/ganlab/api/animate" in u for u in urls), urls
            stray = [u for u in urls if not u.startswith(prefix) and not u.startswith(("data:", "blob:"))]
            assert not stray, stray
        finally:
            context.close()
    finally:
        if lb is not None:
            lb.stop()
        replica.stop()

