"""Fuzzing the protocol through real websocket connections: every message type and every field
(walked from messages.MESSAGES and the config schema), every config field, the distributions'
parameters, and snapshot surgery (each leaf of a real snapshot replaced or deleted), with
numeric extremes (as raw JSON: 1e400, NaN, 10**400, ...) and wrong types.

Asserted for every message: exactly one reply, an ``ack`` or an ``error`` whose code is never
``internal``; after every refused ``restore`` the session's snapshot is exactly the one before;
at the end the session still steps and answers pings. Seeded. ``GANLAB_FUZZ_N`` (default 1)
multiplies the values tried per field (6 per field; all of them from N = 6), ``GANLAB_FUZZ_SEED`` picks
them: ``GANLAB_FUZZ_N=10 pytest tests/test_fuzz.py`` for a long local run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random

import pytest
from fastapi.testclient import TestClient

from ganlab import Trainer
from ganlab.config import flat_fields
from ganlab.server.app import create_app
from ganlab.server.messages import MESSAGES
from ganlab.server.replies import MAX_REPLY_BYTES
from ganlab.server.settings import Settings

N = int(os.environ.get("GANLAB_FUZZ_N", "1"))
SEED = int(os.environ.get("GANLAB_FUZZ_SEED", "0"))
PER_FIELD = 6 * N  # values tried per field

EXTREMES = ["0", "-0.0", "-1", "1", "1e308", "-1e308", "1e400", "-1e400", "NaN", "Infinity",
            "-Infinity", str(2**53 + 1), str(2**63), str(2**64), str(10**400), "1.5", "5e-324"]
WRONG = ['"x"', '""', '"3"', "true", "false", "null", "[]", "[1, 2]", "[[0.5, 0.5]]", "{}",
         '{"a": 1}', "[" * 300 + "]" * 300, '{"a":' * 200 + "1" + "}" * 200,
         '"' + "x" * 50_000 + '"', '"\\ud800"', '"\\u0000"', '"' + "é" * 1000 + '"']
VALUES = EXTREMES + WRONG
DELETE = object()  # snapshot surgery: remove the key

# A valid message of each type, for the fields that are not being fuzzed.
BASE = {"play": {}, "pause": {}, "step": {}, "reset": {}, "config": {"changes": {}},
        "data": {"name": "gaussians"}, "speed": {"epochs_per_sec": 100}, "slowmo": {"on": False},
        "view": {}, "snapshot": {}, "restore": {}, "ping": {}, "schedule": {"edits": []}}
PARAMS = {  # a template per distribution taking params; "@" marks the fuzzed value
    "drawn": [{"strokes": "@"}, {"strokes": [["@"]]}, {"strokes": [[["@", 0.5]]]},
              {"strokes": [[[0.5, 0.5]]], "spread": "@"}, {"points": "@"}, {"points": [["@", 0.5]]}],
    "points": [{"points": "@"}, {"points": [[0.5, "@"]]}, {"points": [[0.5, 0.5]], "spread": "@"}],
    "mixture": [{"means": "@"}, {"means": [["@", 0.5]]}, {"means": [[0.5, 0.5]], "weights": "@"},
                {"means": [[0.5, 0.5]], "weights": ["@"]}, {"means": [[0.5, 0.5]], "sds": [["@", 0.1]]},
                {"means": [[0.5, 0.5]], "covs": [[["@", 0], [0, 0.01]]]},
                {"means": [[0.5, 0.5]], "sds": [[0.1, 0.1]], "covs": "@"}],
}
MARK = "\x00@fuzz@\x00"


def raw(message: dict, value: str) -> str:
    """JSON text of ``message`` with the marker ``"@"`` (anywhere inside) replaced by the raw
    JSON text ``value`` (so 1e400, NaN and 10**400 travel exactly as written)."""
    def mark(x):
        if x == "@":
            return MARK
        if isinstance(x, dict):
            return {k: mark(v) for k, v in x.items()}
        if isinstance(x, list):
            return [mark(v) for v in x]
        return x

    return json.dumps(mark(message)).replace(json.dumps(MARK), value)


def field_messages(rng: random.Random) -> list[tuple[str, str]]:
    """(label, raw text) for every message type x field, config field and data parameter."""
    out = []

    def some(values):
        return values if len(values) <= PER_FIELD else rng.sample(values, PER_FIELD)

    for kind, model in MESSAGES.items():
        for field in [f for f in model.model_fields if f != "type"] + ["bogus"]:
            for v in some(VALUES):
                out.append((f"{kind}.{field}={v[:20]}", raw({"type": kind, **BASE[kind], field: "@"}, v)))
    for path, _ in flat_fields():
        for v in some(VALUES):
            out.append((f"config.{path}={v[:20]}", raw({"type": "config", "changes": {path: "@"}}, v)))
        out.append((f"config.nested.{path}", raw({"type": "config", "changes": _nested(path)}, "1.5")))
    for name, templates in PARAMS.items():
        for t in templates:
            for v in some(VALUES):
                out.append((f"data.{name}.{t}={v[:20]}", raw({"type": "data", "name": name, "params": t}, v)))
    for edit in ({"epoch": "@", "step": "generator"}, {"epoch": 3, "step": "@"}, {"epoch": 3, "changes": "@"},
                 {"epoch": 3, "changes": {"d_optimizer.lr": "@"}}, {"epoch": 3, "changes": {"data": "@"}}):
        for v in some(VALUES):
            out.append((f"schedule.edits.{edit}={v[:20]}", raw({"type": "schedule", "edits": [edit]}, v)))
    for v in some(VALUES):
        out.append((f"type={v[:20]}", raw({"type": "@"}, v)))
        out.append((f"message={v[:20]}", v))
    rng.shuffle(out)
    return out


def _nested(path: str) -> dict:
    head, _, rest = path.partition(".")
    return {head: {rest: "@"}} if rest else {head: "@"}


def leaf_paths(x, path=()) -> list[tuple]:
    """Every key path of a snapshot: dict entries, and for a list its first and last element
    (a list of numbers is also a leaf itself)."""
    out = [path] if path else []
    if isinstance(x, dict):
        for k, v in x.items():
            out += leaf_paths(v, (*path, k))
    elif isinstance(x, list) and x:
        for i in sorted({0, len(x) - 1}):
            out += leaf_paths(x[i], (*path, i))
    return out


def surgery(snap: dict, path: tuple, value) -> str:
    s = json.loads(json.dumps(snap))
    d = s
    for p in path[:-1]:
        d = d[p]
    if value is DELETE:
        if isinstance(d, list):
            del d[path[-1]]
        else:
            del d[path[-1]]
        return json.dumps({"type": "restore", "snapshot": s})
    d[path[-1]] = "@"
    return raw({"type": "restore", "snapshot": s}, value)


class Fuzzer:
    """One connection; ``send`` returns the one reply to a raw message and proves it was one."""

    def __init__(self, ws):
        self.ws = ws
        self.n = 0
        hello = json.loads(ws.receive_text())
        assert hello["type"] == "hello"

    def _reply(self) -> tuple[dict, int]:
        while True:
            msg = self.ws.receive()
            if msg.get("text") is None:
                continue  # a frame's binary half
            data = json.loads(msg["text"], parse_constant=lambda c: pytest.fail(f"{c} in a reply"))
            if data["type"] in ("ack", "error"):
                return data, len(msg["text"].encode())

    def send(self, label: str, text: str) -> dict:
        self.n += 1
        self.ws.send_text(text)
        reply, size = self._reply()
        assert reply.get("code") != "internal", (label, text[:300], reply)
        assert reply["type"] == "error" or "snapshot" in reply or size <= MAX_REPLY_BYTES, label
        # Exactly one reply: the next reply is the ping's.
        self.ws.send_text(json.dumps({"type": "ping", "id": f"p{self.n}"}))
        after, _ = self._reply()
        assert after == {"type": "ack", "id": f"p{self.n}"}, (label, text[:300], reply, after)
        if reply["type"] == "ack" and "running" in reply and reply["running"]:
            self.ask({"type": "pause"})  # a fuzzed `play` that was valid: keep the state still
        return reply

    def ask(self, msg: dict) -> dict:
        reply = self.send(msg["type"], json.dumps(msg))
        assert reply["type"] == "ack", reply
        return reply

    def snapshot(self) -> dict:
        return self.ask({"type": "snapshot"})["snapshot"]


@pytest.fixture
def fuzz():
    # No rate limits: the fuzzer sends as fast as replies come (the limits have tests of their own).
    app = create_app(Settings(rate_limit=1e9, rate_burst=1e9, byte_rate=1e12, allowed_hosts=["testserver"]))
    with TestClient(app) as c, c.websocket_connect("/ws") as ws:
        yield Fuzzer(ws)


@pytest.mark.timeout(120 * N)
def test_fuzz_every_message_and_field(fuzz):
    rng = random.Random(SEED)
    messages = field_messages(rng)
    assert len(messages) > 500
    for label, text in messages:
        fuzz.send(label, text)
    assert fuzz.ask({"type": "step"})["epoch"] >= 1


@pytest.mark.timeout(120 * N)
def test_fuzz_snapshot_surgery(fuzz):
    rng = random.Random(SEED + 1)
    fuzz.ask({"type": "config", "changes": {"d_optimizer.kind": "adam", "g_ema": 0.9}})
    for _ in range(3):
        fuzz.ask({"type": "step"})
    snap = fuzz.snapshot()
    paths = leaf_paths(snap)
    assert len(paths) > 80
    refused = 0
    for path in paths:
        for v in [DELETE, *rng.sample(VALUES, min(len(VALUES), PER_FIELD // 2))]:
            label = ".".join(map(str, path)) + f"={'<delete>' if v is DELETE else v[:20]}"
            reply = fuzz.send(label, surgery(snap, path, v))
            if reply["type"] == "error":
                refused += 1
                assert reply["code"] in ("bad_snapshot", "bad_message"), (label, reply)
                assert fuzz.snapshot() == snap, f"{label}: a refused restore changed the session"
            else:  # a value that is valid there (e.g. 0 for a count): back to the original
                fuzz.ask({"type": "restore", "snapshot": snap})
    assert refused > len(paths)
    assert fuzz.ask({"type": "step"})["epoch"] == 4
    # The engine refuses the same surgery itself (the API, without the wire's checks).
    t = Trainer.from_snapshot(snap)
    for path in rng.sample(paths, 20):
        s = json.loads(surgery(snap, path, "-1e400").replace("-1e400", '"x"'))["snapshot"]
        try:
            t.restore(s)
        except ValueError as e:
            assert str(e).startswith("snapshot"), e
    t.restore(snap)
    assert t.snapshot() == snap


@pytest.mark.timeout(120 * N)
def test_fuzz_against_a_live_server():
    """A smaller sample of the same messages through uvicorn and the websockets client."""
    from test_server_live import start, stop
    from websockets.asyncio.client import connect

    proc, port = start(rate_limit=1e9, rate_burst=1e9, byte_rate=1e12)
    rng = random.Random(SEED + 2)
    sample = rng.sample(field_messages(rng), 100 * N)
    try:
        async def main():
            async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
                assert json.loads(await ws.recv())["type"] == "hello"
                async def replies(n):
                    out = []
                    while len(out) < n:
                        msg = await asyncio.wait_for(ws.recv(), 10)
                        if isinstance(msg, str) and json.loads(msg)["type"] in ("ack", "error"):
                            out.append(json.loads(msg))
                    return out

                for i, (label, text) in enumerate(sample):
                    await ws.send(text)
                    await ws.send(json.dumps({"type": "ping", "id": f"p{i}"}))
                    got = await replies(2)
                    assert got[0].get("code") != "internal", (label, got[0])
                    assert got[1] == {"type": "ack", "id": f"p{i}"}, (label, got)
                    if got[0].get("running"):  # a fuzzed `play` that was valid
                        await ws.send(json.dumps({"type": "pause", "id": f"pause{i}"}))
                        assert (await replies(1))[0]["id"] == f"pause{i}"
                await ws.send(json.dumps({"type": "step", "id": "last"}))
                while True:
                    msg = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(msg, str) and json.loads(msg).get("id") == "last":
                        return json.loads(msg)

        assert asyncio.run(main())["type"] == "ack"
    finally:
        stop(proc)
