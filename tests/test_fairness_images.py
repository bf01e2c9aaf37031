"""Image sessions obey the server's slicing: the MNIST tutorial's model trains, sends frames with
the classifier metrics, snapshots and restores in binary, and no callback on the loop is long; the
classifier and FD (hundreds of ms under load) and the binary restore's checks run off the loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from test_fairness import LONGEST, request, serve, timed_server  # noqa: F401  (fixtures)
from websockets.asyncio.client import connect

from ganlab.metrics import images as image_metrics_module
from ganlab.server import snapshots

pytestmark = pytest.mark.timeout(120)

TUTORIAL = {"noise_dim": 100, "batch_size": 100, "k_d": 1, "k_g": 1, "noise": "normal",
            "generator": {"layers": 1, "units": 256, "activation": "leaky_relu"},
            "discriminator": {"layers": 1, "units": 64, "activation": "leaky_relu"}}


def test_an_mnist_session_keeps_its_heavy_work_off_the_loop(timed_server, monkeypatch):  # noqa: F811
    port, timing, _ = timed_server
    where: dict[str, set] = {"measure": set(), "restore": set()}
    measure, restore = image_metrics_module.ImageReference.measure, snapshots.restore_bytes

    def spy_measure(self, *a, **kw):
        where["measure"].add(threading.get_ident())
        return measure(self, *a, **kw)

    def spy_restore(*a, **kw):
        where["restore"].add(threading.get_ident())
        return restore(*a, **kw)

    monkeypatch.setattr(image_metrics_module.ImageReference, "measure", spy_measure)
    monkeypatch.setattr(snapshots, "restore_bytes", spy_restore)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/ws", max_size=None) as ws:
            await ws.recv()
            assert (await request(ws, 1, "data", name="mnist"))["type"] == "ack"
            assert (await request(ws, 2, "config", changes=TUTORIAL))["type"] == "ack"
            await request(ws, 3, "speed", epochs_per_sec=None)
            await request(ws, 4, "play")
            end = time.monotonic() + 90
            metrics = None
            while metrics is None and time.monotonic() < end:
                msg = await ws.recv()
                if isinstance(msg, str) and msg.startswith('{"type":"frame"'):
                    m = json.loads(msg)["metrics"]
                    metrics = m if "fd" in m else None
            await request(ws, 5, "pause")
            await ws.send(json.dumps({"type": "snapshot", "id": 6, "binary": True}))
            while True:  # the ack, then its binary message
                msg = await ws.recv()
                if isinstance(msg, str) and json.loads(msg).get("id") == 6:
                    ack = json.loads(msg)
                    break
            body = await ws.recv()
            await ws.send(json.dumps({"type": "restore", "id": 7, "binary": len(body)}))
            await ws.send(body)
            while True:
                msg = await ws.recv()
                if isinstance(msg, str) and json.loads(msg).get("id") == 7:
                    return metrics, ack, json.loads(msg)

    metrics, snap, restored = asyncio.run(main())
    assert metrics is not None and metrics["classes_total"] == 10 and metrics["fd_floor"] > 0
    assert snap["binary"] > 1_000_000 and restored["type"] == "ack", restored
    assert where["measure"] and timing.thread not in where["measure"], "the metrics ran on the loop"
    assert where["restore"] and timing.thread not in where["restore"], "the restore ran on the loop"
    assert timing.longest < LONGEST, f"{timing.longest * 1000:.0f} ms CPU in one callback: {timing.where}"
