"""docs/protocol.md through Starlette's TestClient: every message type and every error code.

TestClient's receive has no timeout, so every test only waits for messages the protocol promises
(each client message gets exactly one reply); pytest-timeout guards against a broken promise.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from ganlab.server.app import create_app
from ganlab.server.balance import Balancer
from ganlab.server.frames import decode
from ganlab.server.settings import Settings

pytestmark = pytest.mark.timeout(30)


def _strict(text: str) -> dict:
    """json.loads that fails on NaN / Infinity (the protocol promises none)."""

    def refuse(name):
        raise AssertionError(f"non-finite number {name} in {text[:200]}")

    return json.loads(text, parse_constant=refuse)


class Conn:
    """A websocket plus the frames, statuses and replies read from it."""

    def __init__(self, ws):
        self.ws = ws
        self.frames: list[tuple[dict, dict]] = []
        self.statuses: list[dict] = []
        self.next_id = 0
        self.hello = self.read()
        assert self.hello["type"] == "hello"

    def read(self) -> dict:
        """Next JSON message; frames are paired with their binary half and recorded."""
        msg = self.ws.receive()
        if msg["type"] == "websocket.close":
            raise WebSocketDisconnect(msg.get("code", 1000))
        assert "text" in msg and msg["text"] is not None, f"unexpected binary message {msg}"
        data = _strict(msg["text"])
        if data["type"] == "frame":
            raw = self.ws.receive()
            assert raw.get("bytes") is not None, "a JSON frame must be followed by its binary half"
            seq, layers = decode(raw["bytes"])
            assert seq == data["seq"]
            assert list(layers) == data["layers"], "the JSON lists the binary's layers in order"
            self.frames.append((data, layers))
        elif data["type"] == "status":
            self.statuses.append(data)
        return data

    def reply(self) -> dict:
        while True:
            data = self.read()
            if data["type"] in ("ack", "error"):
                return data

    def send_raw(self, text: str) -> dict:
        self.ws.send_text(text)
        return self.reply()

    def request(self, type: str, **fields) -> dict:
        self.next_id += 1
        self.ws.send_text(json.dumps({"type": type, "id": self.next_id, **fields}))
        r = self.reply()
        assert r["id"] == self.next_id, r
        return r

    def ok(self, type: str, **fields) -> dict:
        r = self.request(type, **fields)
        assert r["type"] == "ack", r
        return r

    def fail(self, type: str, code: str, **fields) -> dict:
        r = self.request(type, **fields)
        assert r["type"] == "error" and r["code"] == code, r
        assert r["message"]
        return r

    def frame_after(self, seconds: float) -> tuple[dict, dict]:
        """The latest frame after waiting ``seconds`` (pings keep the reads bounded)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            time.sleep(0.02)
            self.ok("ping")
        return self.frames[-1]


def make_client(**settings) -> TestClient:
    """TestClient names the server "testserver": served like a --host given on the command line."""
    settings.setdefault("allowed_hosts", ["testserver"])
    return TestClient(create_app(Settings(**settings)))


@pytest.fixture
def client():
    with make_client() as c:
        yield c


@pytest.fixture
def conn(client):
    with client.websocket_connect("/ws") as ws:
        yield Conn(ws)


# -- HTTP ------------------------------------------------------------------------------------------


def test_healthz_counts_sessions(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["sessions"] == 0 and h["version"]
    with client.websocket_connect("/ws") as ws:
        Conn(ws)
        assert client.get("/healthz").json()["sessions"] == 1
    # The session is destroyed with its connection.
    for _ in range(100):
        if client.get("/healthz").json()["sessions"] == 0:
            break
        time.sleep(0.01)
    assert client.get("/healthz").json()["sessions"] == 0


def test_schema_is_generated_from_the_models(client):
    s = client.get("/api/schema").json()
    fields = {f["path"]: f for f in s["config"]["fields"]}
    assert fields["generator.units"]["restart"] is True
    assert fields["generator.units"]["type"] == "integer"
    assert fields["generator.units"]["maximum"] == 128
    assert fields["d_optimizer.lr"]["restart"] is False
    assert fields["d_optimizer.lr"]["default"] == 0.1 and fields["g_optimizer.lr"]["default"] == 0.03
    assert "adam" in fields["d_optimizer.kind"]["choices"]
    assert "gaussians" in fields["data"]["choices"] and "nonsaturating" in fields["loss"]["choices"]
    dists = {d["name"]: d for d in s["distributions"]}
    assert dists["ring"]["label"] and dists["ring"]["description"] and dists["ring"]["preset"]
    # What {} stands for, so the page's mixture editor starts from the real defaults.
    from ganlab.data.mixture import check_mixture

    assert dists["mixture"]["default_params"] == check_mixture({})
    assert dists["drawn"]["default_params"] is None and dists["ring"]["default_params"] is None
    assert {x["name"] for x in s["losses"]} >= {"nonsaturating", "lsgan"}
    view = {f["path"]: f for f in s["view"]["fields"]}
    assert view["heatmap"]["minimum"] == 30 and view["fps"]["maximum"] == 60
    assert set(s["messages"]) >= {"play", "pause", "step", "reset", "config", "data", "speed",
                                  "slowmo", "view", "snapshot", "restore", "ping"}
    assert len(s["stages"]) == 10


def test_page_and_static(client):
    r = client.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    assert client.get("/static/does-not-exist.js").status_code == 404


# -- connection ------------------------------------------------------------------------------------


def test_hello(conn):
    h = conn.hello
    assert h["protocol"] == 1 and h["epoch"] == 0 and h["running"] is False
    assert len(h["session"]) == 16 and h["config"]["data"] == "gaussians"
    assert h["view"] == {"layers": ["real", "fake", "heatmap", "d_grad"], "heatmap": 50,
                         "samples": 500, "manifold": 20, "fps": 30, "extent": [0.0, 0.0, 1.0, 1.0]}
    assert h["limits"]["max_message_bytes"] == 4 << 20


def test_foreign_origin_is_refused():
    with make_client() as c:
        with pytest.raises(WebSocketDisconnect) as e, \
                c.websocket_connect("/ws", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_text()
        assert e.value.code == 1008
        for origin in ("http://127.0.0.1:5173", "http://localhost:8000", "http://testserver"):
            with c.websocket_connect("/ws", headers={"origin": origin}) as ws:
                assert Conn(ws).hello["type"] == "hello"
    with make_client(allowed_origins="https://lab.example.org") as c, \
            c.websocket_connect("/ws", headers={"origin": "https://lab.example.org"}) as ws:
        assert Conn(ws).hello["type"] == "hello"


def test_server_busy():
    with make_client(max_sessions=1) as c, c.websocket_connect("/ws") as first:
        Conn(first)
        with c.websocket_connect("/ws") as second:
            msg = _strict(second.receive_text())
            assert msg["type"] == "error" and msg["code"] == "server_busy"
            with pytest.raises(WebSocketDisconnect) as e:
                second.receive_text()
            assert e.value.code == 1013


def test_a_worker_with_more_sessions_sends_the_client_elsewhere(tmp_path):
    """The app side of balance.py: refusal with `rebalance` + 1013 before hello, admission on the
    4th retry, and the worker's published count following its sessions."""
    app = create_app(Settings(allowed_hosts=["testserver"]))
    app.state.balancer = Balancer(tmp_path)
    Balancer(tmp_path, pid=os.getppid()).publish(0)  # a live "other worker" with no sessions
    with TestClient(app) as c, c.websocket_connect("/ws") as first:
        Conn(first)  # 0 sessions here, 0 there: admitted
        assert (tmp_path / str(os.getpid())).read_text() == "1"
        for retry in ("", "?retry=3", "?retry=x"):
            with c.websocket_connect("/ws" + retry) as ws:
                msg = _strict(ws.receive_text())
                assert msg["type"] == "error" and msg["code"] == "rebalance"
                with pytest.raises(WebSocketDisconnect) as e:
                    ws.receive_text()
                assert (e.value.code, e.value.reason) == (1013, "rebalance")
        with c.websocket_connect("/ws?retry=4") as ws:
            assert Conn(ws).hello["type"] == "hello"
            assert (tmp_path / str(os.getpid())).read_text() == "2"
    assert (tmp_path / str(os.getpid())).read_text() == "0"


def test_idle_timeout_closes_with_1001():
    with make_client(idle_timeout=0.3) as c, c.websocket_connect("/ws") as ws:
        conn = Conn(ws)
        with pytest.raises(WebSocketDisconnect) as e:
            while True:
                conn.read()
        assert e.value.code == 1001


# -- commands --------------------------------------------------------------------------------------


def test_play_then_pause_stops_at_once(conn):
    assert conn.ok("play")["running"] is True
    frame, layers = conn.frame_after(0.4)
    assert frame["running"] is True and frame["epoch"] > 0
    assert set(layers) == {"real", "fake", "heatmap", "d_grad"}
    assert layers["heatmap"].shape == (50, 50) and layers["fake"].shape == (500, 2)
    assert np.isfinite(frame["losses"]["d"]) and frame["epochs_per_sec"] >= 0
    ack = conn.ok("pause")
    assert ack["running"] is False
    n = len(conn.frames)
    conn.frame_after(0.2)
    assert all(f["epoch"] == ack["epoch"] for f, _ in conn.frames[n:])
    assert conn.ok("ping") == {"type": "ack", "id": conn.next_id}


@pytest.mark.parametrize("mode,de,dd,dg", [("both", 1, 2, 1), ("discriminator", 0, 1, 0),
                                           ("generator", 0, 0, 1)])
def test_step_sends_exactly_one_frame(conn, mode, de, dd, dg):
    conn.ok("ping")  # the first paced frame has been read or is not coming
    time.sleep(0.1)
    conn.ok("ping")
    before = len(conn.frames)
    ack = conn.ok("step", mode=mode)
    assert (ack["epoch"], ack["d_steps"], ack["g_steps"]) == (de, dd, dg)
    data = conn.read()  # the frame follows the ack directly
    assert data["type"] == "frame" and data["epoch"] == de and data["d_steps"] == dd
    assert data["metrics"], "a paused frame carries metrics"
    time.sleep(0.15)  # several frame periods: no second frame for the same state
    conn.ok("ping")
    assert len(conn.frames) == before + 1


def test_reset_keeps_config_and_drawn_data(conn):
    pts = [[0.2 + 0.001 * i, 0.5] for i in range(50)]
    conn.ok("data", name="drawn", params={"points": pts, "spread": 0.01})
    conn.ok("step")
    ack = conn.ok("reset")
    assert ack["epoch"] == 0
    frame, layers = conn.frame_after(0.1)
    assert frame["epoch"] == 0
    real = layers["real"]
    assert np.all(np.abs(real[:, 1] - 0.5) < 0.1), "the drawn data survives a reset"


def test_config_live_and_restart(conn):
    for _ in range(3):
        conn.ok("step")
    ack = conn.ok("config", changes={"d_optimizer": {"lr": 0.01}, "k_d": 3})
    assert ack["restarted"] is False and ack["epoch"] == 3
    assert ack["config"]["d_optimizer"]["lr"] == 0.01 and ack["config"]["k_d"] == 3
    ack = conn.ok("config", changes={"generator.units": 16})
    assert ack["restarted"] is True and ack["epoch"] == 0 and any("restart" in n for n in ack["notes"])
    ack = conn.ok("config", changes={"d_optimizer.kind": "adam"})
    assert ack["notes"], "an optimizer change says its state was reset"


def test_config_errors_name_the_field(conn):
    e = conn.fail("config", "bad_message", changes={"generator.units": 100000})
    assert "generator.units" in e["message"]
    e = conn.fail("config", "bad_message", changes={"no_such_field": 1})
    assert "no_such_field" in e["message"]
    e = conn.fail("config", "bad_message", changes={"loss": "nope"})
    assert "loss" in e["message"]
    conn.fail("config", "bad_message", changes="lr=1")
    # The session is unchanged and alive.
    assert conn.ok("step")["epoch"] == 1


def test_data_presets_drawings_and_errors(conn):
    ack = conn.ok("data", name="ring", apply_preset=True)
    assert ack["config"]["data"] == "ring" and ack["config"]["k_d"] == 3 and ack["restarted"]
    ack = conn.ok("data", name="line")
    assert ack["config"]["data"] == "line" and ack["config"]["k_d"] == 3
    conn.fail("data", "bad_data", name="nope")
    conn.fail("data", "bad_data", name="drawn", params={"points": []})
    conn.fail("data", "bad_data", name="drawn", params={"points": [[2.0, 0.5]]})
    huge = [[0.5, 0.5]] * 20_000
    e = conn.fail("data", "bad_data", name="drawn", params={"points": huge})
    assert "at most" in e["message"] or "more than" in e["message"]
    conn.fail("config", "bad_data", changes={"data": "drawn", "data_params": {"points": [[9, 9]]}})
    assert conn.ok("snapshot")["snapshot"]["config"]["data"] == "line"


def test_speed_paces_training(conn):
    assert conn.ok("speed", epochs_per_sec=20)["speed"] == 20
    t0 = time.monotonic()
    conn.ok("play")
    # Wait for a condition (5 epochs trained), not a fixed time: a starved server trains late.
    while not conn.frames or conn.frames[-1][0]["epoch"] < 5:
        time.sleep(0.02)
        conn.ok("ping")
    epoch = conn.ok("pause")["epoch"]
    elapsed = time.monotonic() - t0
    # Never faster than the pace (plus one frame's slack); unpaced, 5 epochs take milliseconds.
    assert 5 <= epoch <= 20 * elapsed + 2, (epoch, elapsed)
    assert elapsed >= 0.15, f"5 epochs at 20/s took only {elapsed:.3f} s"
    assert conn.ok("speed", epochs_per_sec=None)["speed"] is None
    conn.fail("speed", "bad_message", epochs_per_sec=0)
    conn.fail("speed", "bad_message", epochs_per_sec="fast")
    conn.fail("speed", "bad_message")


def test_slowmo_emits_the_ten_stages_in_order(conn):
    ack = conn.ok("slowmo", on=True, stage_seconds=0.05)
    assert ack["slowmo"] == {"on": True, "stage_seconds": 0.05}
    conn.ok("play")
    while sum(f["stage"] is not None for f, _ in conn.frames) < 12:  # a condition, not a sleep
        time.sleep(0.05)
        conn.ok("ping")
    conn.ok("pause")
    stages = [(f["stage"]["index"], f["stage"]["name"], f["epoch"]) for f, _ in conn.frames
              if f["stage"] is not None]
    assert len(stages) >= 12
    assert [s[0] for s in stages[:12]] == list(range(10)) + [0, 1]
    assert stages[0][1] == "d_sample" and stages[9][1] == "g_update"
    assert stages[8][2] == 0 and stages[9][2] == 1, "the epoch completes at g_update"
    d_steps = [f["d_steps"] for f, _ in conn.frames if f["stage"] is not None][:10]
    assert d_steps[3] == 0 and d_steps[4] == 2, "D's k_d updates land at d_update"
    conn.fail("slowmo", "bad_message", on=True, stage_seconds=100)
    conn.fail("slowmo", "bad_message", on=1)


def test_view_selects_layers_and_sizes(conn):
    ack = conn.ok("view", layers=["real", "fake", "heatmap", "d_grad", "g_grad", "manifold",
                                  "optimal_d", "noise"], heatmap=40, samples=120, manifold=7, fps=60)
    assert ack["view"]["heatmap"] == 40 and ack["view"]["fps"] == 60
    conn.ok("step")
    assert conn.read()["type"] == "frame"  # a step's frame follows its ack
    _, layers = conn.frames[-1]
    shapes = {k: v.shape for k, v in layers.items()}
    assert shapes == {"real": (120, 2), "fake": (120, 2), "heatmap": (40, 40), "d_grad": (120, 2),
                      "g_grad": (120, 2), "manifold": (7, 14), "manifold_area": (6, 6),
                      "optimal_d": (40, 40), "noise": (120, 2)}
    assert layers["heatmap"].min() >= 0 and layers["heatmap"].max() <= 1
    conn.ok("view", layers=["heatmap"])
    conn.ok("step")
    conn.read()
    assert set(conn.frames[-1][1]) == {"heatmap"}
    for bad in ({"heatmap": 10}, {"samples": 10**6}, {"manifold": 61}, {"fps": 0},
                {"layers": ["nope"]}, {"fps": "30"}, {"colour": "red"}):
        e = conn.fail("view", "bad_message", **bad)
        assert "view." in e["message"]


def test_view_extent_moves_the_grids(conn):
    """The page widens the view to show fakes outside the square: the heatmap and D* grids then
    cover that extent (cell centres x0 + w (j + .5) / n, row 0 at y1), and frames say which."""
    from ganlab import Trainer, views

    conn.ok("view", layers=["heatmap", "optimal_d"], heatmap=30)
    conn.ok("step")
    conn.read()
    assert conn.frames[-1][0]["extent"] == [0.0, 0.0, 1.0, 1.0]
    ack = conn.ok("view", extent=[-1, -0.5, 1, 1.5])
    assert ack["view"]["extent"] == [-1, -0.5, 1, 1.5]
    conn.ok("step")
    conn.read()
    meta, layers = conn.frames[-1]
    assert meta["extent"] == [-1, -0.5, 1, 1.5]
    t = Trainer()  # the session's default trainer, replayed: the engine is deterministic
    t.step("both")
    t.step("both")
    c = (np.arange(30) + 0.5) / 30
    x, y = np.meshgrid(-1 + 2 * c, 1.5 - 2 * c)
    want = t.discriminate(np.column_stack([x.ravel(), y.ravel()])).reshape(30, 30)
    assert np.allclose(layers["heatmap"], want, atol=1e-6)
    assert not np.allclose(layers["heatmap"], views.heatmap(t, 30), atol=1e-3)
    # D* histograms over the extent: the fakes near the origin now lie inside it.
    assert layers["optimal_d"].shape == (30, 30) and (layers["optimal_d"] < 0.5).any()
    for bad in ([0, 0, 1], [1, 0, 0, 1], [0, 0, 1, 1e9], [0, 0, "1", 1], [0, 0, 0.001, 1]):
        e = conn.fail("view", "bad_message", extent=bad)
        assert "view.extent" in e["message"]


def test_snapshot_restore_across_two_connections(client):
    with client.websocket_connect("/ws") as wa, client.websocket_connect("/ws") as wb:
        a, b = Conn(wa), Conn(wb)
        a.ok("config", changes={"seed": 7, "d_optimizer.kind": "adam"})
        for _ in range(5):
            a.ok("step")
        snap = a.ok("snapshot")["snapshot"]
        snap = json.loads(json.dumps(snap))  # as it would travel through the page
        ack = b.ok("restore", snapshot=snap)
        assert ack["epoch"] == 5 and ack["config"]["seed"] == 7
        for c in (a, b):
            c.ok("step")
        sa, sb = a.ok("snapshot")["snapshot"], b.ok("snapshot")["snapshot"]
        assert sa["generator"] == sb["generator"] and sa["losses"] == sb["losses"]
        b.fail("restore", "bad_snapshot", snapshot={"format": "nope"})
        broken = dict(snap, generator=[1.0, 2.0])
        b.fail("restore", "bad_snapshot", snapshot=broken)
        b.fail("restore", "bad_message", snapshot=[1, 2])
        assert b.ok("step")["epoch"] == 7, "a refused restore leaves the session as it was"


def test_ping(conn):
    assert conn.ok("ping") == {"type": "ack", "id": 1}
    conn.ws.send_text('{"type": "ping", "id": "abc"}')
    assert conn.reply() == {"type": "ack", "id": "abc"}
    conn.ws.send_text('{"type": "ping"}')
    assert conn.reply() == {"type": "ack", "id": None}


# -- errors ----------------------------------------------------------------------------------------


def test_bad_json_and_bad_messages(conn):
    assert conn.send_raw("{not json")["code"] == "bad_json"
    assert conn.send_raw("")["code"] == "bad_json"
    assert conn.send_raw("[1, 2]")["code"] == "bad_message"
    assert conn.send_raw('"play"')["code"] == "bad_message"
    e = conn.send_raw('{"id": 5}')
    assert e["code"] == "bad_message" and e["id"] == 5
    e = conn.send_raw('{"type": "dance", "id": "x"}')
    assert e["code"] == "bad_message" and e["id"] == "x" and "dance" in e["message"]
    e = conn.send_raw('{"type": "step", "mode": "sideways", "id": 1}')
    assert e["code"] == "bad_message" and "step.mode" in e["message"]
    e = conn.send_raw('{"type": "play", "extra": 1}')
    assert e["code"] == "bad_message" and "extra" in e["message"]
    e = conn.send_raw('{"type": "play", "id": [1]}')
    assert e["code"] == "bad_message" and e["id"] is None
    assert conn.send_raw("[" * 100_000 + "]" * 100_000)["code"] in ("bad_json", "bad_message")
    assert conn.ok("step")["epoch"] == 1


def test_binary_not_allowed(conn):
    conn.ws.send_bytes(b"\x00\x01")
    e = conn.reply()
    assert e["code"] == "binary_not_allowed" and e["id"] is None
    assert conn.ok("ping")


def test_too_large():
    with make_client(max_message_bytes=10_000) as c, c.websocket_connect("/ws") as ws:
        conn = Conn(ws)
        e = conn.send_raw(json.dumps({"type": "ping", "id": 1, "pad": "x" * 20_000}))
        assert e["code"] == "too_large"
        e = conn.send_raw(json.dumps({"type": "ping", "pad": "\u00e9" * 6000}))  # 12 KB as UTF-8
        assert e["code"] == "too_large"
        assert conn.ok("ping")


def test_default_limit_is_4_mib(conn):
    e = conn.send_raw('{"type": "ping", "pad": "' + "x" * (4 << 20) + '"}')
    assert e["code"] == "too_large"


def test_rate_limited_then_recovers():
    with make_client(rate_limit=20, rate_burst=5) as c, c.websocket_connect("/ws") as ws:
        conn = Conn(ws)
        for i in range(15):
            ws.send_text(json.dumps({"type": "ping", "id": i}))
        replies = [conn.reply() for _ in range(15)]
        assert [r["id"] for r in replies] == list(range(15)), "one reply per message, in order"
        codes = [r.get("code") for r in replies]
        assert codes[:5] == [None] * 5 and "rate_limited" in codes
        time.sleep(0.3)
        assert conn.ok("ping")


def test_bytes_are_rate_limited_too():
    """Few but big messages: the message count stays under its limit, the bytes do not (JSON
    parsing costs ~0.1 s of CPU per MB, so megabytes a second would starve the neighbours)."""
    pts = np.random.default_rng(0).random((6000, 2)).round(6).tolist()
    # heavy_processes=0: a big message would move the session to a heavy process first, and
    # starting one takes long enough for the bucket to refill (the worker keeps the buckets).
    with make_client(byte_rate=100_000, max_message_bytes=200_000, heavy_processes=0) as c, \
            c.websocket_connect("/ws") as ws:
        conn = Conn(ws)
        big = [json.dumps({"type": "data", "id": i, "name": "points", "params": {"points": pts}})
               for i in range(2)]
        assert 100_000 < len(big[0]) < 200_000
        for text in big:
            ws.send_text(text)
        first, second = conn.reply(), conn.reply()
        assert first["type"] == "ack" and first["id"] == 0
        assert second["code"] == "rate_limited" and second["id"] is None  # too big to peek at
        assert "MiB per second" in second["message"]
        assert conn.ok("ping"), "small messages go on once the refused message's time has passed"


def test_divergence_reports_status_and_refuses_steps(conn):
    conn.ok("config", changes={"d_optimizer": {"lr": 10.0}, "g_optimizer": {"lr": 10.0},
                               "generator": {"output": "linear"}, "loss": "lsgan"})
    conn.ok("play")
    for _ in range(200):
        if conn.statuses:
            break
        time.sleep(0.02)
        conn.ok("ping")
    assert conn.statuses, "divergence is reported"
    st = conn.statuses[0]
    assert st["state"] == "diverged" and st["running"] is False and st["message"]
    conn.fail("step", "diverged")
    conn.fail("play", "diverged")
    ack = conn.ok("config", changes={"d_optimizer": {"lr": 0.01}, "g_optimizer": {"lr": 0.01}})
    assert ack["notes"]
    assert conn.ok("step")["epoch"] == st["epoch"] + 1


def test_internal_errors_cost_one_reply(conn, monkeypatch):
    from ganlab.server.session import Session

    def boom(self, msg):
        raise RuntimeError("bug")

    monkeypatch.setattr(Session, "on_ping", boom)
    e = conn.fail("ping", "internal")
    assert "bug" in e["message"]
    assert conn.ok("step")["epoch"] == 1


def test_a_failing_view_or_training_bug_keeps_the_session(conn, monkeypatch):
    from ganlab.server.layers import FrameBuilder
    from ganlab.trainer import Trainer

    def broken_build(self, t, with_metrics=True):
        raise RuntimeError("view bug")

    monkeypatch.setattr(FrameBuilder, "build", broken_build)
    assert conn.ok("step")["epoch"] == 1  # no frame follows, but the session answers
    monkeypatch.undo()

    def broken_train(self, epochs, seconds=None):
        raise RuntimeError("engine bug")

    monkeypatch.setattr(Trainer, "train", broken_train)
    conn.ok("play")
    while not conn.statuses:
        conn.ok("ping")
    assert conn.statuses[0]["state"] == "error" and "engine bug" in conn.statuses[0]["message"]
    monkeypatch.undo()
    assert conn.ok("step")["epoch"] == 2


# -- a protocol as strict as its document ----------------------------------------------------------

WRONG = {  # for each schema type: values of every other JSON type (and 7.0 / 1 for the strict ones)
    "integer": ["3", 7.0, True, None, [1], {"a": 1}],
    "number": ["0.5", True, None, [0.5], {"a": 1}],
    "boolean": [1, 0, "true", None, [True], {"a": 1}],
    "string": [3, 0.5, True, None, ["ring"], {"a": 1}],
    "object": ["x", 1, 0.5, True, [1]],
}


def _valid(f: dict):
    """A value the field accepts that is not its default where possible (an integer for a number
    field: JSON integers are numbers)."""
    if f["type"] == "number":
        lo = f.get("minimum", f.get("exclusive_minimum", -1e9))
        hi = f.get("maximum", f.get("exclusive_maximum", 1e9))
        return next(v for v in (1, 0, 10) if lo <= v <= hi and v != f.get("exclusive_minimum")
                    and v != f.get("exclusive_maximum"))
    if f["type"] == "boolean":
        return not f["default"]
    if "choices" in f:
        return next((c for c in f["choices"] if c != f["default"]), f["default"])
    if f["type"] == "integer":
        return f.get("minimum", f["default"])
    return f["default"]


@pytest.fixture
def fast():
    """A connection without the rate limit (tests sending hundreds of messages at once)."""
    with make_client(rate_limit=1e9, rate_burst=1e9) as c, c.websocket_connect("/ws") as ws:
        yield c, Conn(ws)


# Fields whose non-default value is valid only with other fields (the session's data is 2D).
CROSS_FIELD = {"conditional": "needs labelled image data"}


def test_every_config_field_is_strictly_typed(fast):
    """Every field of the schema: each wrong JSON type is refused naming the field, and the
    config stays as it was; a valid value is accepted (a number field takes an integer)."""
    client, conn = fast
    fields = client.get("/api/schema").json()["config"]["fields"]
    assert len(fields) > 20
    before = conn.ok("config", changes={})["config"]
    for f in fields:
        code = "bad_data" if f["path"] in ("data", "data_params") else "bad_message"
        for bad in WRONG[f["type"]]:
            e = conn.fail("config", code, changes={f["path"]: bad})
            assert e["message"].startswith(f"config.{f['path']}:"), (f["path"], bad, e)
            assert conn.ok("config", changes={})["config"] == before, (f["path"], bad)
        good = _valid(f)
        if f["path"] in CROSS_FIELD:  # its other value needs other fields too: refused by name
            e = conn.fail("config", "bad_message", changes={f["path"]: good})
            assert e["message"].startswith(f"config.{f['path']}: {CROSS_FIELD[f['path']]}"), e
            continue
        ack = conn.ok("config", changes={f["path"]: good})
        got = ack["config"]
        for part in f["path"].split("."):
            got = got[part]
        assert got == good and type(got) is type(good) or f["type"] == "number", (f["path"], got)
        before = ack["config"]
    e = conn.fail("config", "bad_message", changes={"batch_size": True, "k_d": "3"})
    assert "config.batch_size: Input should be a valid integer" in e["message"]
    assert "config.k_d" in e["message"]


def test_data_and_restore_configs_are_strict_too(conn):
    e = conn.fail("data", "bad_data", name="drawn", params={"points": [[0.5, 0.5]], "spread": "0.1"})
    assert e["message"].startswith("data.params:")
    snap = conn.ok("snapshot")["snapshot"]
    for path, bad in (("k_d", "3"), ("batch_size", 150.0), ("d_optimizer", {"nesterov": 1})):
        s = json.loads(json.dumps(snap))
        s["config"][path] = bad if path != "d_optimizer" else {**s["config"][path], **bad}
        e = conn.fail("restore", "bad_snapshot", snapshot=s)
        assert e["message"].startswith(f"snapshot.config.{path}"), e
    assert conn.ok("snapshot")["snapshot"] == snap


@pytest.mark.parametrize("raw,field", [
    ('{"type":"config","changes":{"batch_size":1e400}}', "config.batch_size"),
    ('{"type":"config","changes":{"d_optimizer":{"lr":-1e400}}}', "config.d_optimizer.lr"),
    ('{"type":"config","changes":{"gp_weight":NaN}}', "config.gp_weight"),
    ('{"type":"config","changes":{"clip":Infinity}}', "config.clip"),
    ('{"type":"config","changes":{"seed":' + str(10**400) + '}}', "config.seed"),
    ('{"type":"config","changes":{"k_d":' + str(2**64) + '}}', "config.k_d"),
    ('{"type":"data","name":"points","params":{"points":[[0.5,' + str(10**400) + ']]}}',
     "data.params.points.0.1"),
    ('{"type":"data","name":"mixture","params":{"means":[[0.5,0.5]],"weights":[' + str(10**400)
     + ']}}', "data.params.weights.0"),
    ('{"type":"data","name":"drawn","params":{"strokes":[[[0.5,0.5]]],"spread":-Infinity}}',
     "data.params.spread"),
    ('{"type":"speed","epochs_per_sec":1e400}', "speed.epochs_per_sec"),
    ('{"type":"slowmo","on":true,"stage_seconds":NaN}', "slowmo.stage_seconds"),
    ('{"type":"view","fps":' + str(10**400) + '}', "view.fps"),
    ('{"type":"ping","id":' + str(10**400) + '}', "ping.id"),
])
def test_numeric_extremes_are_refused_naming_the_field(conn, raw, field):
    e = conn.send_raw(raw)
    assert e["type"] == "error" and e["code"] in ("bad_message", "bad_data"), e
    assert e["message"].startswith(field + ":"), e
    assert len(e["message"]) < 300
    assert conn.ok("step")["epoch"] == 1


def _surgery(snap: dict, path: str, value) -> dict:
    s = json.loads(json.dumps(snap))
    *head, last = path.split(".")
    d = s
    for p in head:
        d = d[int(p)] if isinstance(d, list) else d[p]
    if value is KeyError:
        del d[last]
    elif isinstance(d, list):
        d[int(last)] = value
    else:
        d[last] = value
    return s


@pytest.mark.parametrize("path,value,field", [
    ("epoch", 1e300, "snapshot.epoch: must be a whole number in 0..2**53"),
    ("epoch", -1, "snapshot.epoch: must be a whole number"),
    ("d_steps", 2.5, "snapshot.d_steps: must be a whole number"),
    ("g_steps", 2**60, "snapshot.g_steps"),
    ("g_steps", True, "snapshot.g_steps: must be a whole number"),
    ("aux_rng.state.state", "-5", "snapshot.aux_rng.state.state"),
    ("aux_rng.state.inc", str(2**128), "snapshot.aux_rng.state.inc"),
    ("sample_rng.state", [1, 2], "snapshot.sample_rng.state"),
    ("sample_rng.bit_generator", "MT19937", "snapshot.sample_rng.bit_generator"),
    ("noise_pool.rng.has_uint32", "2", "snapshot.noise_pool.rng.has_uint32"),
    ("noise_pool.cursor", -5, "snapshot.noise_pool.cursor"),
    ("data_pool.cursor", 10**6, "snapshot.data_pool.cursor"),
    ("d_optimizer.m", [0.0], "snapshot.d_optimizer.m: must be a list of"),
    ("d_optimizer.v.0", -1.0, "snapshot.d_optimizer.v.0"),
    ("d_optimizer.t", "3", "snapshot.d_optimizer.t"),
    ("d_optimizer.kind", "sgd", "snapshot.d_optimizer.kind"),
    ("generator.3", "0.5", "snapshot.generator.3: must be a number"),
    ("generator.3", None, "snapshot.generator.3: must be a number"),
    ("status", "junk", "snapshot.status: must be an object"),
    ("status.state", "exploded", "snapshot.status.state"),
    ("losses.d", "x", "snapshot.losses.d"),
    ("config", "junk", "snapshot.config: must be an object"),
    ("config.generator.units", 10**6, "snapshot.config.generator.units"),
    ("config.nope", 1, "snapshot.config.nope: unknown field"),
    ("discriminator", KeyError, "snapshot.discriminator: missing"),
])
def test_hostile_restore_is_refused_and_changes_nothing(conn, path, value, field):
    conn.ok("config", changes={"d_optimizer.kind": "adam"})
    for _ in range(3):
        conn.ok("step")
    snap = conn.ok("snapshot")["snapshot"]
    e = conn.fail("restore", "bad_snapshot", snapshot=_surgery(snap, path, value))
    assert e["message"].startswith(field), e
    assert conn.ok("snapshot")["snapshot"] == snap, "a refused restore changes nothing"
    assert conn.ok("step")["epoch"] == 4
    conn.ok("view", layers=list(conn.hello["view"]["layers"]) + ["manifold", "g_grad"])
    assert conn.ok("step")["epoch"] == 5


def test_no_reply_echoes_bulk_data(fast):
    """With a 100,000-point set loaded, every reply but `snapshot` stays under 16 KiB: the
    points are acknowledged by count and digest (docs/protocol.md, "Bulk data in replies")."""
    client, conn = fast
    rng = np.random.default_rng(0)
    pts = np.round(rng.random((100_000, 2)), 3).tolist()
    sizes = {}

    def size_of(type, **fields):
        conn.next_id += 1
        conn.ws.send_text(json.dumps({"type": type, "id": conn.next_id, **fields}))
        while True:
            msg = conn.ws.receive()
            if msg.get("bytes") is not None:
                continue
            data = _strict(msg["text"])
            if data["type"] in ("ack", "error"):
                assert data["type"] == "ack", data
                sizes[type] = max(sizes.get(type, 0), len(msg["text"].encode()))
                return data

    ack = size_of("data", name="points", params={"points": pts})
    digest = ack["config"]["data_params"]["points"]
    assert digest["count"] == 100_000 and len(digest["sha256"]) == 64
    snap = size_of("snapshot")["snapshot"]
    assert len(snap["config"]["data_params"]["points"]) == 100_000, "a snapshot is complete"
    for type, fields in [("play", {}), ("pause", {}), ("step", {}), ("reset", {}),
                         ("config", {"changes": {}}), ("config", {"changes": {"k_d": 3}}),
                         ("data", {"name": "points", "params": {"points": pts}, "keep": True}),
                         ("speed", {"epochs_per_sec": 100}), ("slowmo", {"on": False}),
                         ("view", {"samples": 5000}), ("restore", {"snapshot": snap}),
                         ("ping", {}), ("schedule", {"edits": [{"epoch": 9, "changes": {"k_d": 2}}]})]:
        ack = size_of(type, **fields)
        if "config" in ack:
            assert ack["config"]["data_params"]["points"] == digest, type
    strokes = [np.round(rng.random((100, 2)), 3).tolist() for _ in range(100)]
    ack = size_of("data", name="drawn", params={"strokes": strokes})
    assert ack["config"]["data_params"]["strokes"]["count"] == 100
    assert set(sizes) == set(client.get("/api/schema").json()["messages"])
    assert sizes.pop("snapshot") > 1 << 20
    assert max(sizes.values()) < 16 << 10, sizes
    with client.websocket_connect("/ws") as ws:
        assert len(ws.receive_text()) < 16 << 10  # hello


def test_new_data_starts_a_new_experiment_unless_kept(conn):
    conn.ok("data", name="ring8")  # (small default networks: the preset's are 4x the work)
    fresh = conn.ok("snapshot")["snapshot"]
    for _ in range(3):
        conn.ok("step")
    ack = conn.ok("data", name="grid25")  # the same hyperparameters: no config restart
    assert ack["restarted"] is True and ack["epoch"] == 0
    after = conn.ok("snapshot")["snapshot"]
    conn.ok("reset")
    assert after == conn.ok("snapshot")["snapshot"], "exactly what `reset` does"
    assert after["generator"] == fresh["generator"], "networks re-drawn from the seed"
    for _ in range(2):
        conn.ok("step")
    trained = conn.ok("snapshot")["snapshot"]
    ack = conn.ok("data", name="ring8", keep=True)
    assert ack["restarted"] is False and ack["epoch"] == 2
    kept = conn.ok("snapshot")["snapshot"]
    assert kept["generator"] == trained["generator"] and kept["config"]["data"] == "ring8"
    ack = conn.ok("data", name="ring8")  # the same data again: nothing to restart
    assert ack["restarted"] is False and ack["epoch"] == 2
    conn.fail("data", "bad_message", name="ring8", keep=1)


def test_dns_rebinding_hosts_are_refused():
    """Only the served hosts are answered (HTTP and the websocket handshake); the same-host
    origin rule cannot be used by a rebound name; /healthz answers any Host (probes)."""
    from starlette.testclient import WebSocketDenialResponse

    evil = {"host": "evil.example:8000", "origin": "http://evil.example:8000"}
    with make_client(allowed_hosts=[]) as c:
        for path in ("/", "/api/schema", "/static/main.js"):
            r = c.get(path, headers=evil)
            assert r.status_code == 400 and "--allow-host evil.example" in r.text, (path, r.text)
        assert c.get("/healthz", headers=evil).json()["status"] == "ok"
        with pytest.raises(WebSocketDenialResponse) as e, c.websocket_connect("/ws", headers=evil):
            pass
        assert e.value.status_code == 400
        for host in ("127.0.0.1:8000", "localhost:5000", "[::1]:8000", "LOCALHOST", "127.0.0.1"):
            assert c.get("/api/schema", headers={"host": host}).status_code == 200, host
            with c.websocket_connect("/ws", headers={"host": host}) as ws:
                assert Conn(ws).hello["type"] == "hello"
    with make_client(allowed_hosts="lab.example, *.school.example") as c:
        for host, ok in (("lab.example:8000", True), ("a.school.example", True),
                         ("school.example", False), ("evil.example", False)):
            assert (c.get("/", headers={"host": host}).status_code == 200) is ok, host
        with c.websocket_connect("/ws", headers={"host": "lab.example:8000",
                                                 "origin": "http://lab.example:8000"}) as ws:
            assert Conn(ws).hello["type"] == "hello", "the same-host origin rule, for served hosts"
    with make_client(allowed_hosts=["*"]) as c:
        assert c.get("/", headers=evil).status_code == 200
    with pytest.raises(ValueError, match="wildcard"):
        Settings(allowed_hosts=["lab*.example"])


def test_distribution_parameters_are_numbers_not_strings_or_booleans(conn):
    for params, field in (({"points": [[0.5, "0.5"]]}, "data.params.points.0.1"),
                          ({"points": [[0.5, 0.5], [True, 0.5]]}, "data.params.points.1.0")):
        e = conn.fail("data", "bad_data", name="points", params=params)
        assert e["message"].startswith(field + ": must be a number"), e
    e = conn.fail("config", "bad_data", changes={"data": "mixture",
                                                 "data_params": {"means": [[0.5, None]]}})
    assert e["message"].startswith("config.data_params.means.0.1: must be a number"), e
    snap = conn.ok("snapshot")["snapshot"]
    s = json.loads(json.dumps(snap))
    s["config"].update(data="drawn", data_params={"strokes": [[[0.5, False]]]})
    e = conn.fail("restore", "bad_snapshot", snapshot=s)
    assert e["message"].startswith("snapshot.config.data_params.strokes.0.0.1: must be a number")
    assert conn.ok("snapshot")["snapshot"] == snap
