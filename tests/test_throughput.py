"""What a worker spends per session (issue 9 #18): work the server does not repeat, passes of the
event loop a command does not wait for, and the server's own CPU accounting by kind of work."""

from __future__ import annotations

import dataclasses

import pytest
from test_server_protocol import Conn, client  # noqa: F401  (fixture)

pytestmark = pytest.mark.timeout(60)


def test_a_pause_mid_epoch_is_acknowledged_without_another_pass_of_the_loop(client):  # noqa: F811
    """A pause settles the epoch a chunk left unfinished (a few updates), then acks at once: at 20
    sessions a worker, each pass of the loop is ~20 ms of the others' chunks, and a turn after the
    settle made a pause wait for one more (pause p99 74 ms against the 55 ms bar)."""
    with client.websocket_connect("/ws") as ws:
        conn = Conn(ws)
        conn.ok("step")
        [session] = client.app.state.sessions.values()
        # A slice long enough for the epoch's last updates even if this machine stalls the
        # server between two of them (the default is 1 ms of wall time).
        session.settings = dataclasses.replace(session.settings, chunk_seconds=5.0)
        session.trainer.train(1, seconds=0)  # one D update of epoch 2, then out of time
        assert session.trainer.mid_epoch
        turns = []
        plain = session._turn

        async def counted(yield_first: bool = True):
            turns.append(yield_first)
            await plain(yield_first)

        session._turn = counted
        ack = conn.ok("pause")
        assert ack["epoch"] == 2 and not session.trainer.mid_epoch
        assert True not in turns, f"the pause waited for {turns.count(True)} pass(es) of the loop"


def test_the_histogram_puts_every_point_in_its_cell_and_the_rest_outside():
    """The divergences' histogram (binned column by column for speed) against a count point by
    point: cell (i, j) for y in [i/b, (i+1)/b), x in [j/b, (j+1)/b) (1 in the last cell), every
    other point (outside, NaN, infinite, huge) in the outside bin."""
    import math

    import numpy as np

    from ganlab.metrics.divergence import histogram

    def by_point(points, b):
        counts = [0.0] * (b * b + 1)
        for x, y in points:
            if 0 <= x <= 1 and 0 <= y <= 1:
                counts[min(math.floor(y * b), b - 1) * b + min(math.floor(x * b), b - 1)] += 1
            else:
                counts[-1] += 1
        return counts

    rng = np.random.default_rng(7)
    for n in (0, 1, 500, 3000):
        p = rng.normal(0.5, 0.6, (n, 2))
        if n:
            k = rng.integers(0, n, 8)
            p[k[0], 0], p[k[1], 1], p[k[2], 0], p[k[3]] = np.nan, np.inf, -np.inf, (1.0, 1.0)
            p[k[4]], p[k[5], 0], p[k[6], 1], p[k[7]] = (0.0, 0.0), 1e300, -0.0, (1 + 2**-52, 0.5)
        for b in (1, 3, 20):
            assert histogram(p, b).tolist() == by_point(p.tolist(), b), (n, b)


def test_frame_hints_come_from_the_kept_real_side_as_from_the_points():
    """Live metrics keep the fixed real set's box and spread (RealSide) instead of recomputing
    them every frame: the hints are those of the points themselves, on a run that trips all
    three of saturated D, collapsed G and fakes outside."""
    from ganlab import Trainer
    from ganlab.metrics import frame_metrics
    from ganlab.metrics.health import RealSide, health_hints
    from ganlab.metrics.training import _reference, divergence_samples

    t = Trainer()
    t.update({"g_optimizer.lr": 3.0})
    t.train(800)
    ref = _reference(t)
    fakes = t.G_out(t.viz_noise(divergence_samples(t)))
    hints = health_hints(t, ref.points, fakes)
    assert {h["code"] for h in hints} == {"d_saturated", "g_collapsed", "fakes_outside"}
    assert health_hints(t, RealSide(ref.points), fakes) == hints
    assert frame_metrics(t)["hints"] == hints


def test_frames_keep_their_rate_when_the_loop_wakes_them_late():
    """A busy worker wakes a session's frame task at the first pass of its loop after the frame
    is due; passes of 0.6 to 1.4 frame periods (metrics frames, message bursts) made a frame
    late by more than a period now and then, and each such frame moved the whole schedule back.
    The schedule now holds through up to half a period of delay, and much later it restarts
    from then instead of sending a burst to catch up."""
    import random

    from ganlab.server.session import next_frame_due

    def frames_per_second(fps: float) -> float:
        rng, now, due, sent = random.Random(1), 0.0, 0.0, 0
        while now < 100.0:
            now += rng.uniform(0.6, 1.4) / fps  # one pass of the loop
            if now >= due:
                sent += 1
                due = next_frame_due(due, now, fps, not_before=0.0)
        return sent / now

    assert frames_per_second(26.0) >= 25.3  # 25.1 when every late frame restarted the schedule
    # Two seconds late: the next frame is due at once, the one after a period later.
    fps = 26.0
    due = next_frame_due(1.0, 3.0, fps, not_before=0.0)
    assert due == pytest.approx(3.0 - 0.5 / fps)
    assert next_frame_due(due, 3.0, fps, not_before=0.0) == pytest.approx(due + 1 / fps)
    # A frame that cost 0.2 s of CPU is followed by 0.2 s without one.
    assert next_frame_due(1.0, 1.0, fps, not_before=1.2) == 1.2


def test_running_sessions_get_their_frame_rate_when_passes_of_the_loop_are_long():
    """A running session's frame task is woken by its training task between two chunks when a
    frame is due, not by a timer alone: an expired timer runs after every callback already
    queued (the other sessions' chunks), one to two passes of the loop late, and each frame then
    took two passes. 20 sessions a worker (passes of ~22 ms) gave 21.6 of 26 frames/s. Here 8
    sessions share passes of ~20 ms (2.5 ms chunks) at 30 frames/s asked, once with the wake-up
    and once with the timer alone (``frame_kick=False``), in the same run: on one machine the
    slowest session got 28.7-29.3 against 23.3; on a slower one (CI) the wake-up gave 26.3, so
    the bar is the gain over the timer on the same machine, not a fixed rate."""
    import asyncio
    import json
    import time

    from test_server_live import start, stop
    from websockets.asyncio.client import connect

    def slowest(kick: bool) -> list[float]:
        proc, port = start(chunk_seconds=0.0025, round_seconds=0.02, default_fps=30, frame_budget=10_000.0,
                           heavy_processes=0, frame_kick=kick)
        try:
            async def main() -> list[float]:
                wss = [await connect(f"ws://127.0.0.1:{port}/ws", max_size=None) for _ in range(8)]
                for ws in wss:
                    await ws.recv()  # hello
                    await ws.send(json.dumps({"type": "play", "id": 1}))
                counts = [0] * len(wss)
                counting = False

                async def count(i, ws):
                    async for msg in ws:
                        if counting and isinstance(msg, str) and msg.startswith('{"type":"frame"'):
                            counts[i] += 1

                tasks = [asyncio.create_task(count(i, ws)) for i, ws in enumerate(wss)]
                await asyncio.sleep(1.0)  # every session running, the loop at its pace
                counting, t0 = True, time.monotonic()
                await asyncio.sleep(3.0)
                counting, seconds = False, time.monotonic() - t0
                for t in tasks:
                    t.cancel()
                for ws in wss:
                    await ws.close()
                return [c / seconds for c in counts]

            return asyncio.run(main())
        finally:
            stop(proc)

    timer, kick = slowest(False), slowest(True)
    shown = {"timer": [round(r, 1) for r in timer], "kick": [round(r, 1) for r in kick]}
    # Gains measured: 5.4 frames/s on the faster machine, 6.4-7.4 on the slower (timer 17.3-18.3
    # and wake-up 24.7-26.7 there, quiet).
    assert min(kick) >= min(timer) + 3.0, shown
    assert min(kick) >= 21.0, shown  # of the 30 asked


def test_a_session_accounts_its_cpu_by_kind_of_work(client):  # noqa: F811
    """/debug/sessions (scripts/load.py --costs) splits a session's CPU into training, frames and
    messages, and counts its training chunks: CPU per epoch and per frame, measured in the
    server, where a busy machine does not move them as it moves rates."""
    import time

    with client.websocket_connect("/ws") as ws:
        conn = Conn(ws)
        conn.ok("play")
        [session] = client.app.state.sessions.values()
        end = time.monotonic() + 30
        while time.monotonic() < end and not (session.chunks >= 3 and session.seq >= 3):
            conn.read()
        conn.ok("pause")
    while time.monotonic() < end and client.app.state.sessions:
        time.sleep(0.01)  # closed: its accounting is final (read while it runs, it may move)
    use = session.usage()
    assert use["chunks"] >= 3 and use["epochs"] > 0 and use["frames"] >= 3
    by = use["cpu_by"]
    assert set(by) == {"train", "frames", "messages"} and by["train"] > 0 and by["frames"] > 0
    assert sum(by.values()) == pytest.approx(use["cpu"], abs=1e-3)  # each rounded to 0.1 ms


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_loss_values_and_the_display_squash_are_numpys_formulas_bit_for_bit(dtype):
    """softplus and sigmoid work in one or two buffers and mean skips np.mean's Python wrapper (a
    frame's loss values cost 22 -> 15 us): the numbers the page shows must not move by one bit."""
    import numpy as np

    from ganlab import losses

    rng = np.random.default_rng(3)
    for n in (1, 2, 150, 300, 2500):
        for scale in (1e-3, 1.0, 40.0, 1e3):
            x = (rng.standard_normal(n) * scale).astype(dtype)
            x[0] = -0.0 if n > 1 else x[0]
            softplus = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
            sigmoid = 0.5 + 0.5 * np.tanh(0.5 * np.asarray(x, dtype=float))
            for got, want in ((losses.softplus(x), softplus), (losses.sigmoid(x), sigmoid)):
                assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
            got, want = losses.mean(x), np.mean(x)
            assert type(got) is type(want) and got.tobytes() == want.tobytes()
    assert losses.sigmoid(0.3) == 0.5 + 0.5 * np.tanh(0.15) and np.ndim(losses.sigmoid(0.3)) == 0


def test_all_finite_sees_every_nan_and_infinity():
    import numpy as np

    from ganlab.rawnp import all_finite

    a = np.linspace(-1e300, 1e300, 1001)
    assert all_finite(a) and all_finite(a[:0]) and all_finite((a * 1e-270).astype(np.float32)[::7])
    for bad in (np.nan, np.inf, -np.inf):
        for i in (0, 500, 1000):
            b = a.copy()
            b[i] = bad
            assert not all_finite(b) and not all_finite(b.reshape(7, 143))
