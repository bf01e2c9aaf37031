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
    app = create_app(Settings())
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
    conn.ok("play")
    time.sleep(0.5)
    epoch = conn.ok("pause")["epoch"]
    assert 4 <= epoch <= 16, epoch
    assert conn.ok("speed", epochs_per_sec=None)["speed"] is None
    conn.fail("speed", "bad_message", epochs_per_sec=0)
    conn.fail("speed", "bad_message", epochs_per_sec="fast")
    conn.fail("speed", "bad_message")


def test_slowmo_emits_the_ten_stages_in_order(conn):
    ack = conn.ok("slowmo", on=True, stage_seconds=0.05)
    assert ack["slowmo"] == {"on": True, "stage_seconds": 0.05}
    conn.ok("play")
    time.sleep(1.2)
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
