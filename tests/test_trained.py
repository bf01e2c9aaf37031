"""Shipped trained states: the loader, GET /api/trained/<name>, the schema flag, and that a
restored state is trained (every mode captured)."""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient

from ganlab import Trainer
from ganlab.data import modes_of, trained_names, trained_snapshot
from ganlab.metrics import mode_coverage
from ganlab.server.app import create_app
from ganlab.server.settings import Settings


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings(allowed_hosts=["testserver"]))) as c:  # TestClient's host name
        yield c


def test_the_slow_presets_ship_a_trained_state():
    assert {"ring8", "grid25"} <= set(trained_names())
    assert trained_snapshot("gaussians") is None and trained_snapshot("../trained/grid25") is None


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_a_restored_trained_state_captures_every_mode(client, name):
    r = client.get(f"/api/trained/{name}")  # TestClient accepts gzip: the stored bytes, decoded
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    snap = r.json()
    assert snap == trained_snapshot(name)
    t = Trainer.from_snapshot(snap)
    assert t.config.data == name and t.epoch >= 10_000
    z = np.random.default_rng(0).standard_normal((2500, t.config.noise_dim))
    m = mode_coverage(t.sample(noise=z), *modes_of(name))
    assert m["modes_captured"] == m["modes_total"] and m["high_quality"] >= 0.7
    t.train(5)  # it carries on training from there
    assert t.status.ok and t.epoch == snap["epoch"] + 5


def test_without_gzip_the_route_sends_plain_json(client):
    r = client.get("/api/trained/ring8", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in r.headers and json.loads(r.content)["config"]["data"] == "ring8"


def test_an_unknown_name_is_a_404_naming_the_known_ones(client):
    r = client.get("/api/trained/gaussians")
    assert r.status_code == 404
    msg = r.json()["message"]
    assert "'gaussians'" in msg and "grid25" in msg and "ring8" in msg


def test_the_schema_says_which_distributions_have_one(client):
    flags = {d["name"]: d["trained"] for d in client.get("/api/schema").json()["distributions"]}
    assert flags["grid25"] is True and flags["ring8"] is True and flags["gaussians"] is False


def test_the_page_can_restore_it_over_the_websocket(client):
    snap = client.get("/api/trained/ring8").json()
    with client.websocket_connect("/ws") as ws:
        assert json.loads(ws.receive_text())["type"] == "hello"
        ws.send_text(json.dumps({"type": "restore", "id": 1, "snapshot": snap}))
        while True:
            msg = ws.receive()
            if msg.get("text") and json.loads(msg["text"])["type"] in ("ack", "error"):
                ack = json.loads(msg["text"])
                break
    assert ack["type"] == "ack" and ack["epoch"] == snap["epoch"] and ack["config"]["data"] == "ring8"
