"""Image sessions through the protocol: image sets from the data message and the schema, image
frames that decode to the right shapes, binary snapshots both ways, and the cap on full-speed image
sessions told to the capped session (docs/protocol.md, "Image frames", "Snapshots")."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from test_server_live import Client, start, stop
from test_server_protocol import Conn, client  # noqa: F401  (fixture)

from ganlab.server.image_data import image_preset

pytestmark = pytest.mark.timeout(120)


class ImageConn(Conn):
    """A Conn that also takes a binary snapshot after an ack announcing one."""

    def reply(self) -> dict:
        r = super().reply()
        if r["type"] == "ack" and isinstance(r.get("binary"), int):
            raw = self.ws.receive()  # directly after the ack: no frame in between
            assert raw.get("bytes") is not None, "a binary snapshot must follow its ack"
            r["bytes"] = raw["bytes"]
        return r

    def step(self, mode: str = "both") -> tuple[dict, dict]:
        """A step and its one frame (which follows the ack directly)."""
        self.ok("step", mode=mode)
        n = len(self.frames)
        while len(self.frames) == n:
            self.read()
        return self.frames[-1]

    def frame_with(self, pred, since: int = 0, seconds: float = 20.0) -> tuple[dict, dict]:
        """The first frame from index ``since`` on for which ``pred(head, layers)`` holds."""
        end = time.monotonic() + seconds
        seen = since
        while time.monotonic() < end:
            self.ok("ping")
            for head, layers in self.frames[seen:]:
                if pred(head, layers):
                    return head, layers
            seen = len(self.frames)
            time.sleep(0.02)
        raise AssertionError(f"no such frame in {seconds} s; last {self.frames[-1][0] if self.frames else None}")


@pytest.fixture
def iconn(client):  # noqa: F811
    with client.websocket_connect("/ws") as ws:
        yield ImageConn(ws)


def test_the_schema_offers_the_image_sets_with_shapes_classes_and_previews(client):  # noqa: F811
    s = client.get("/api/schema").json()
    by = {d["name"]: d for d in s["distributions"]}
    assert by["ring"]["kind"] == "points"
    for name, side in (("digits8", 8), ("mnist", 28)):
        d = by[name]
        assert d["kind"] == "images" and d["available"] and d["image_shape"] == [side, side]
        assert d["classes"] == [str(i) for i in range(10)]
        assert len(d["preview_images"]) == 4 and all(len(p) == side * side for p in d["preview_images"])
        assert max(max(p) for p in d["preview_images"]) == 255  # scaled to 0..255 (8x8 ink is 16)
    data = next(f for f in s["config"]["fields"] if f["path"] == "data")
    assert {"digits8", "mnist", "fashion"} <= set(data["choices"])


def test_image_frames_carry_the_grids_walk_and_what_d_thinks(iconn):
    c = iconn
    n0 = len(c.frames)
    ack = c.ok("data", name="digits8", apply_preset=True)
    assert ack["config"]["data"] == "digits8" and ack["restarted"]
    head, layers = c.step()  # a paused session's frame carries every layer, and metrics
    assert head["image"] == [8, 8] and head["classes"] == 10 and head["capped"] is None
    assert layers["fakes_grid"].shape == (64, 64) and layers["fakes_grid"].dtype == np.uint8
    # The real grid rides on the data set's first frame: the step's, or the paced frame the new
    # state got first (that one can come before the step's ack).
    reals = [ls["reals_grid"] for _, ls in c.frames[n0:] if "reals_grid" in ls]
    assert len(reals) == 1 and reals[0].shape == (64, 64) and reals[0].dtype == np.uint8
    assert layers["walk"].shape == (20, 64) and layers["walk"].dtype == np.uint8
    assert layers["d_hist"].shape == (2, 20) and (layers["d_hist"].sum(axis=1) == 64).all()
    assert layers["d_grad_image"].shape == (8, 64) and layers["d_grad_image"].dtype == np.float32
    assert 0 <= head["metrics"]["d_real"] <= 1 and 0 <= head["metrics"]["d_fake"] <= 1
    # The real grid is fixed: later frames leave it out until a view message asks again.
    _, layers = c.step()
    assert "reals_grid" not in layers
    walk = layers["walk"]
    n = len(c.frames)
    c.ok("view", walk_seed=12345)
    head, layers = c.frame_with(lambda h, ls: "reals_grid" in ls, since=n)
    assert not np.array_equal(layers["walk"], walk)  # new ends
    # The classifier metrics arrive once the set's reference is built (a thread, once a process).
    # They are computed in a thread and ride on the next frame (a paused session sends one).
    head, _ = c.frame_with(lambda h, ls: "classes_captured" in h["metrics"])
    m = head["metrics"]
    assert 1 <= m["at_epoch"] <= head["epoch"]  # the state it measured, at or before its frame
    assert m["classes_total"] == 10 and len(m["class_counts"]) == 10
    assert 0 <= m["confident"] <= 1 and 1 <= m["digit_score"] <= 10 and m["fd"] >= 0 and m["fd_floor"] > 0


def test_a_conditional_grid_has_one_row_per_class(iconn):
    c = iconn
    c.ok("data", name="digits8", apply_preset=True)
    n = len(c.frames)
    c.ok("config", changes={"conditional": True})
    head, layers = c.step()
    assert layers["fakes_grid"].shape == (80, 64)
    # The real grid comes again after the change, now one row per class. (A frame built before
    # the change may still arrive after its ack, with the old 64-row grid: the first 80-row one
    # counts, not the first grid.)
    _, first = c.frame_with(lambda h, ls: "reals_grid" in ls and ls["reals_grid"].shape[0] == 80, since=n)
    assert first["reals_grid"].shape == (80, 64)


def test_switching_between_points_and_images_resets_the_kind_limited_fields(iconn):
    c = iconn
    c.ok("data", name="mnist", apply_preset=False)
    wide = c.ok("config", changes={"generator.units": 256, "noise_dim": 100})["config"]
    assert wide["generator"]["units"] == 256
    back = c.ok("data", name="ring")["config"]  # 256 units would be refused for 2D data
    assert back["generator"]["units"] == 8 and back["noise_dim"] == 2
    # A preset applies over the kind's defaults (it sets what it names, e.g. the width).
    preset = image_preset("mnist")
    if preset:
        cfg = c.ok("data", name="mnist", apply_preset=True)["config"]
        assert cfg["generator"]["units"] == preset["generator"]["units"] != 8
        assert cfg["noise_dim"] == preset["noise_dim"]
    c.fail("data", "bad_data", name="mnist", params={"x": 1})
    c.fail("data", "bad_data", name="nope")


def test_binary_snapshots_restore_exactly_and_bad_ones_are_refused(client):  # noqa: F811
    with client.websocket_connect("/ws") as wa, client.websocket_connect("/ws") as wb:
        a, b = ImageConn(wa), ImageConn(wb)
        a.ok("data", name="digits8", apply_preset=True)
        for _ in range(3):
            a.step()
        snap = a.ok("snapshot", binary=True)
        assert snap["binary"] == len(snap["bytes"]) and snap["epoch"] == 3
        b.next_id += 1
        b.ws.send_text(json.dumps({"type": "restore", "id": b.next_id, "binary": len(snap["bytes"])}))
        b.ws.send_bytes(snap["bytes"])
        ack = b.reply()
        assert ack["type"] == "ack" and ack["id"] == b.next_id and ack["epoch"] == 3, ack
        assert ack["config"]["data"] == "digits8"
        assert b.ok("snapshot", binary=True)["bytes"] == snap["bytes"]
        assert a.step()[1]["fakes_grid"].tobytes() == b.step()[1]["fakes_grid"].tobytes()

        def restore(payload: bytes, size: int) -> dict:
            b.next_id += 1
            b.ws.send_text(json.dumps({"type": "restore", "id": b.next_id, "binary": size}))
            b.ws.send_bytes(payload)
            r = b.reply()
            assert r["id"] == b.next_id
            return r

        r = restore(snap["bytes"][:-1], len(snap["bytes"]))
        assert r["code"] == "bad_snapshot" and "announced" in r["message"]
        r = restore(b"\x00" * 64, 64)
        assert r["code"] == "bad_snapshot", r
        # A binary message nobody announced, and an announcement followed by text.
        b.ws.send_bytes(b"GLF1")
        assert b.reply()["code"] == "binary_not_allowed"
        b.ws.send_text(json.dumps({"type": "restore", "id": "announce", "binary": 10}))
        b.ws.send_text(json.dumps({"type": "ping", "id": "next"}))
        r = b.reply()
        assert (r["id"], r["code"]) == ("announce", "bad_snapshot") and "text message came" in r["message"]
        assert b.reply() == {"type": "ack", "id": "next"}  # and the text is handled as usual
        assert b.ok("snapshot", binary=True)["epoch"] == 4  # the refusals changed nothing


def test_a_capped_image_session_is_told_why_and_trains_at_the_capped_speed():
    # One 8x8 session (64/784) at full speed per process; one heavy process, so both image
    # sessions move to the same one (each heavy process is a core with its own cap).
    proc, port = start(max_image_sessions=0.1, capped_image_speed=5.0, heavy_processes=1)

    async def run():
        first, second = await Client.open(port), await Client.open(port)
        for c in (first, second):
            await c.request("data", name="digits8", apply_preset=True)
            await c.request("speed", epochs_per_sec=None)
        await first.request("play")
        await second.request("play")

        async def frame(c, pred, seconds=20.0):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                if c.frames and pred(c.frames[-1]):
                    return c.frames[-1]
                await asyncio.sleep(0.02)
            raise AssertionError(f"no such frame: {c.frames[-1] if c.frames else None}")

        capped = await frame(second, lambda f: f.get("capped"))
        assert "max_image_sessions" in capped["capped"] and "5 epochs/s" in capped["capped"]
        # Rates from the latest frames at both ends of a 3 s window (a frame read late counts at
        # both ends alike), not from the "capped" frame, which may have waited in the buffer.
        await frame(second, lambda f: f["epoch"] > capped["epoch"])
        e1, e2, t0 = first.frames[-1]["epoch"], second.frames[-1]["epoch"], time.monotonic()
        await asyncio.sleep(3.0)
        seconds = time.monotonic() - t0
        rate = (second.frames[-1]["epoch"] - e2) / seconds
        assert rate <= 5.0 * 1.5 + 1, rate
        # The uncapped one trains at full speed: far faster than the cap, even on a loaded machine.
        assert first.frames[-1]["capped"] is None
        assert (first.frames[-1]["epoch"] - e1) / seconds > 4 * 5.0, (first.frames[-1]["epoch"] - e1) / seconds
        await first.request("pause")  # the next in line trains at full speed
        free = await frame(second, lambda f: f.get("capped") is None and f["epoch"] > e2 + 400)
        assert free["capped"] is None
        for c in (first, second):
            await c.ws.close()

    try:
        asyncio.run(run())
    finally:
        stop(proc)
