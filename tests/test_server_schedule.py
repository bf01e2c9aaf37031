"""The `schedule` message (docs/protocol.md): a link's live edits applied by the server at their
epochs while it trains, exactly as if made by hand, and `pause_at`."""

from __future__ import annotations

import json

import pytest
from test_server_protocol import Conn, client  # noqa: F401  (fixture)
from test_trainer import by_hand

from ganlab import Trainer
from ganlab.server.messages import MAX_EDITS

pytestmark = pytest.mark.timeout(60)

EDITS = [
    {"epoch": 0, "step": "discriminator"},
    {"epoch": 40, "changes": {"d_optimizer.lr": 0.03}},
    {"epoch": 40, "step": "generator"},
    {"epoch": 95, "changes": {"loss": "lsgan", "data": "ring"}},
    {"epoch": 180, "changes": {"k_d": 3}},
]


class Recorder(Conn):
    """A Conn that also keeps the `scheduled` notices."""

    def read(self) -> dict:
        data = super().read()
        if data["type"] == "scheduled":
            self.scheduled.append(data)
        return data

    scheduled: list = []


@pytest.fixture
def conn(client):  # noqa: F811
    Recorder.scheduled = []
    with client.websocket_connect("/ws") as ws:
        yield Recorder(ws)


def test_replay_pauses_at_the_epoch_bit_identical_to_edits_by_hand(conn):
    ack = conn.ok("schedule", edits=EDITS, pause_at=200)
    assert (ack["edits"], ack["applied"], ack["pause_at"], ack["epoch"]) == (5, 1, 200, 0)
    conn.ok("play")
    while not conn.statuses:
        conn.read()
    status = conn.statuses[0]
    assert status == {"type": "status", "running": False, "epoch": 200, "state": "ok",
                      "message": "paused at epoch 200, as scheduled"}
    assert [s["applied"] for s in conn.scheduled] == sorted({s["applied"] for s in conn.scheduled})
    last = conn.scheduled[-1]
    assert last["applied"] == 5 and last["remaining"] == 0 and last["config"]["k_d"] == 3
    assert last["config"]["data"] == "ring" and last["config"]["d_optimizer"]["lr"] == 0.03
    snap = conn.ok("snapshot")["snapshot"]
    t = Trainer()
    by_hand(t, EDITS, 200)
    assert json.dumps(snap, sort_keys=True) == json.dumps(t.snapshot(), sort_keys=True)
    # The pause is spent: play goes on.
    assert conn.ok("play")["running"] is True
    assert conn.ok("pause")["epoch"] >= 200


@pytest.mark.parametrize("fields, code, words", [
    ({"edits": [{"epoch": 3, "step": "both"}]}, "bad_message", "schedule.edits.0.step"),
    ({"edits": [{"epoch": 3}]}, "bad_message", "exactly one of 'changes' and 'step'"),
    ({"edits": [{"epoch": "3", "step": "generator"}]}, "bad_message", "schedule.edits.0.epoch"),
    ({"edits": [{"epoch": 3, "step": "generator", "x": 1}]}, "bad_message", "schedule.edits.0.x: unknown field"),
    ({"edits": [{"epoch": 3, "changes": {"generator.units": 20}}]}, "bad_message",
     "schedule.edits[0].changes: generator.units would restart"),
    ({"edits": [{"epoch": 5, "step": "generator"}, {"epoch": 4, "step": "generator"}]}, "bad_message",
     "schedule.edits[1].epoch"),
    ({"edits": [{"epoch": 3, "changes": {"d_optimizer.lr": -1}}]}, "bad_message",
     "schedule.edits[0].changes.d_optimizer.lr"),
    ({"edits": [{"epoch": 3, "changes": {"data": "nope"}}]}, "bad_data", "schedule.edits[0].changes.data"),
    ({"edits": [{"epoch": i, "step": "generator"} for i in range(MAX_EDITS + 1)]}, "bad_message",
     "schedule.edits"),
    ({"edits": [], "pause_at": -1}, "bad_message", "schedule.pause_at"),
])
def test_bad_schedules_are_refused_and_the_session_goes_on(conn, fields, code, words):
    conn.ok("step")
    err = conn.fail("schedule", code, **fields)
    assert words in err["message"], err["message"]
    assert conn.ok("step")["epoch"] == 2  # nothing was applied or scheduled


@pytest.mark.parametrize("kind, fields", [
    ("config", {"changes": {"d_optimizer.lr": 0.05}}),
    ("pause", {}),
    ("step", {"mode": "generator"}),
    ("snapshot", {}),
])
def test_commands_act_at_an_epoch_boundary(client, kind, fields):  # noqa: F811
    """A time-limited chunk may stop inside an epoch; a command first finishes that epoch, so an
    edit a client records at ack["epoch"] is replayed exactly there."""
    with client.websocket_connect("/ws") as ws:
        conn = Recorder(ws)
        conn.ok("step")
        [session] = client.app.state.sessions.values()
        session.trainer.train(1, seconds=0)  # one D update of epoch 2, then out of time
        assert session.trainer.mid_epoch
        ack = conn.ok(kind, **fields)
        assert not session.trainer.mid_epoch
        snap = conn.ok("snapshot")["snapshot"]
    t = Trainer()
    t.train(2)
    if kind == "config":
        assert ack["epoch"] == 2
        t.update(fields["changes"])
    elif kind == "step":
        assert (ack["epoch"], ack["d_steps"], ack["g_steps"]) == (2, 4, 3)
        t.step("generator")
    assert json.dumps(snap, sort_keys=True) == json.dumps(t.snapshot(), sort_keys=True)
