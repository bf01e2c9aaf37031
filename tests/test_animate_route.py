"""POST /api/animate through real HTTP: a span of epochs replayed from its snapshot gives the file
the CLI makes for the same span, byte for byte; every bad request is refused naming the field and
the limit; it is bounded (jobs at once, time) and a neighbour session keeps training meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PIL import Image
from test_deploy import wait_for
from test_server_live import Client, start, stop

from ganlab import Trainer
from ganlab.cli import main
from ganlab.runs import Run
from ganlab.runs.span import MAX_FRAMES, MAX_SPAN_EPOCHS, parse_span

SMALL_IMG = {"data": "digits8", "seed": 3, "generator": {"units": 32}, "discriminator": {"units": 32}}


@pytest.fixture(scope="module")
def server():
    proc, port = start(animate_jobs=1)
    yield port
    stop(proc)


@pytest.fixture
def tight_server():
    """One job at a time, cut at 4 s: the busy and time-limit test relies on both."""
    proc, port = start(animate_jobs=1, animate_seconds=4.0)
    yield port
    stop(proc)


def post(port: int, body: bytes, query: str = "", headers=None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/animate{query}", data=body,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def animate(port: int, snapshot: dict, **fields) -> tuple[int, dict, bytes]:
    return post(port, json.dumps({"snapshot": snapshot, **fields}).encode())


def frames_of(data: bytes) -> tuple[int, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as im:
        return im.n_frames, im.size


def test_a_span_from_epoch_0_is_the_clis_animation_byte_for_byte(server, tmp_path):
    cli_gif = tmp_path / "cli.gif"
    assert main(["train", "--data", "ring8", "--no-preset", "--seed", "0", "--epochs", "500", "--json",
                 "--animate", str(cli_gif), "--every", "100", "--animate-size", "160"]) == 0
    status, headers, data = animate(server, Trainer(data="ring8", seed=0).snapshot(), to=500, every=100,
                                    format="gif", size=160)
    assert status == 200, data
    assert headers["content-type"] == "image/gif" and headers["x-frames"] == "6"
    assert frames_of(data) == (6, (160, 160))
    assert data == cli_gif.read_bytes()


@pytest.mark.parametrize("fmt, suffix", [("webp", ".webp"), ("apng", ".png")])
def test_a_span_with_edits_from_a_runs_snapshot_is_the_clis_continue(server, tmp_path, fmt, suffix):
    """The CLI's `runs continue --set ... --animate` from a recorded snapshot == the page's span
    with the same snapshot and the same edit at its first epoch."""
    assert main(["train", "--data", "ring8", "--no-preset", "--seed", "1", "--epochs", "200", "--report-every", "100",
                 "--json", "--run-dir", str(tmp_path / "a")]) == 0
    out = tmp_path / f"span{suffix}"
    assert main(["runs", "continue", str(tmp_path / "a"), "--from-epoch", "100", "--epochs", "370",
                 "--run-dir", str(tmp_path / "b"), "--set", "d_optimizer.lr=0.05", "--animate", str(out),
                 "--every", "50", "--animate-size", "120", "--view-layers", "heatmap,real,fake,manifold"]) == 0
    snap = json.loads(Run(tmp_path / "a").read("snapshots/000000100.json"))
    status, headers, data = animate(server, snap, to=370, every=50, format=fmt, size=120,
                                    layers=["heatmap", "real", "fake", "manifold"],
                                    edits=[{"epoch": 100, "changes": {"d_optimizer.lr": 0.05}}])
    assert status == 200, data
    assert frames_of(data) == (7, (120, 120)) and headers["x-frames"] == "7"  # 100, 150, ..., 350, 370
    assert data == out.read_bytes()


def test_an_image_span_with_a_binary_snapshot_is_the_clis_sample_grid_movie(server, tmp_path):
    gif = tmp_path / "grid.gif"
    assert main(["train", "--data", "digits8", "--no-preset", "--seed", "3", "--set", "generator.units=32", "--set",
                 "discriminator.units=32", "--epochs", "60", "--json", "--animate", str(gif), "--every", "20",
                 "--animate-grid", "4x6"]) == 0
    head = json.dumps({"to": 60, "every": 20, "format": "gif", "grid": "4x6"}).encode()
    status, headers, data = post(server, head + Trainer(**SMALL_IMG).snapshot_bytes(), f"?split={len(head)}",
                                 {"Content-Type": "application/octet-stream"})
    assert status == 200, data
    assert frames_of(data) == (4, (6 * 64 + 7, 4 * 64 + 5 + 16))
    assert data == gif.read_bytes()


# Refusals that need the snapshot come from the replay process; the others from the worker at once.
NEEDS_SNAPSHOT = [
    ({"to": 0}, "to: must be after the snapshot's epoch 0, got 0"),
    ({"to": 10_000, "every": 10}, f"every: 1,001 frames; an animation holds at most {MAX_FRAMES} (every >= 21"),
    ({"edits": [{"epoch": 50, "changes": {"d_optimizer.lr": -1}}]}, "edits[0].changes.d_optimizer.lr"),
    ({"snapshot": "SNAP-1"}, "snapshot: snapshot.epoch: must be a whole number"),
]


@pytest.mark.parametrize("change, message", NEEDS_SNAPSHOT)
def test_refusals_that_need_the_snapshot_in_process(change, message):
    """The replay process's checks, run in process (the route passes their message on verbatim:
    two of them go through HTTP below)."""
    snap = Trainer(data="ring8", seed=0).snapshot()
    if change.get("snapshot") == "SNAP-1":
        change = {"snapshot": {**snap, "epoch": -1}}
    with pytest.raises(ValueError) as e:
        parse_span({"snapshot": snap, "to": 300, "every": 100, "format": "gif", **change})
    assert message in str(e.value)


def test_bad_requests_are_refused_naming_the_field_and_the_limit(server):
    snap = Trainer(data="ring8", seed=0).snapshot()
    ok = {"snapshot": snap, "to": 300, "every": 100, "format": "gif"}
    cases = [
        ({"every": 0}, "every: must be an integer >= 1, got 0"),
        ({"format": "mp4"}, "format: must be one of gif, webp, apng"),
        ({"to": MAX_SPAN_EPOCHS + 1, "every": 1000},
         f"to: a span of {MAX_SPAN_EPOCHS + 1:,} epochs; at most {MAX_SPAN_EPOCHS:,} epochs are replayed"),
        ({"size": 2000}, "size: must be a whole number in 64..800"),
        ({"fps": 0}, "fps: must be a number in 1..50"),
        ({"layers": ["heatmap", "stars"]}, "layers: must be a list of distinct layers from heatmap, real"),
        ({"legend": "yes"}, "legend: must be true or false"),
        ({"grid": "40x2"}, "grid: expected ROWSxCOLS like 8x8, each 1..32"),
        ({"edits": [{"epoch": 50, "changes": {"generator.layers": 3}}]},
         "edits[0].changes: generator.layers would restart training; a schedule holds live edits only"),
        ({"edits": [{"epoch": 50}, "x"]}, "edits[1]: must be an object"),
        ({"colour": 1}, "request.colour: unknown field"),
    ]
    for change, message in cases:
        status, _, body = post(server, json.dumps({**ok, **change}).encode())
        assert status == 400 and message in json.loads(body)["error"], (change, body)
    status, _, body = post(server, json.dumps({k: v for k, v in ok.items() if k != "snapshot"}).encode())
    assert status == 400 and json.loads(body)["error"].startswith("snapshot: missing")
    status, _, body = post(server, b"{not json")
    assert status == 400 and json.loads(body)["error"].startswith("body: not valid JSON")
    status, _, body = post(server, b'{"to": 1}', "?split=abc")
    assert status == 400 and json.loads(body)["error"].startswith("split: the byte length of the JSON part")
    head = json.dumps({"to": 60, "every": 20, "format": "gif"}).encode()
    damaged = bytearray(Trainer(**SMALL_IMG).snapshot_bytes())
    damaged[-5] ^= 0xFF
    status, _, body = post(server, head + bytes(damaged), f"?split={len(head)}")
    assert status == 400
    assert json.loads(body)["error"] == "snapshot: snapshot file: checksum mismatch: the arrays are damaged"
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=30)  # declared, refused unread
    conn.putrequest("POST", "/api/animate")
    conn.putheader("Content-Length", str(16 * 2**20 + 1))
    conn.endheaders()
    r = conn.getresponse()
    assert r.status == 413 and json.loads(r.read())["error"] == (
        "body: 16,777,217 bytes; the limit is 16,777,216 bytes (16 MiB)")
    conn.close()


def test_busy_and_time_limit_while_a_neighbour_session_keeps_training(tight_server):
    """A long span (it runs into the 4 s limit) holds the one job slot: a second request is
    refused as busy, the first ends with 504 naming the limit, and a session training beside it
    keeps getting frames the whole time."""
    long = json.dumps({"snapshot": Trainer(data="ring8", seed=0).snapshot(), "to": MAX_SPAN_EPOCHS,
                       "every": 500, "format": "apng", "size": 800,
                       "layers": ["heatmap", "real", "fake", "d_grad", "manifold"]}).encode()
    small = json.dumps({"snapshot": Trainer(data="ring8", seed=0).snapshot(), "to": 10, "every": 10,
                        "format": "gif", "size": 64}).encode()
    result: dict = {}

    def first():  # a small request may take the slot first: then the long one asks again
        while (got := post(server, long))[0] == 503:
            pass
        result["long"] = got

    async def watch() -> dict:
        c = await Client.open(server)
        await c.request("play")
        th = threading.Thread(target=first)
        th.start()
        busy = None
        while th.is_alive() and busy is None:  # until the long one holds the slot
            status, _, body = await asyncio.to_thread(post, server, small)
            if status == 503:
                busy = json.loads(body)["error"]
        seen, gaps, last, t = len(c.frames), [], time.monotonic(), time.monotonic()
        while th.is_alive():  # frames keep coming while the animation renders
            await asyncio.sleep(0.25)
            if len(c.frames) > seen:
                seen, last = len(c.frames), time.monotonic()
            gaps.append(time.monotonic() - last)
        await asyncio.to_thread(th.join)
        await c.close()
        return {"busy": busy, "longest_gap": max(gaps, default=0), "watched": time.monotonic() - t}

    server = tight_server
    got = asyncio.run(watch())
    assert got["busy"] == ("busy: this server renders at most 1 animation at once per worker; try again "
                           "when it is done")
    status, _, body = result["long"]
    assert status == 504 and json.loads(body)["error"] == (
        "the animation took longer than the 4 s limit; record a shorter span or fewer frames")
    assert got["watched"] > 2 and got["longest_gap"] < 1.5, got
    status, _, body = post(server, small)  # the slot is free again (the job itself may be slow here)
    assert status in (200, 504), body


def job_processes(port: int) -> dict[int, float]:
    """The server's animation job processes that are still working: pid -> CPU seconds so far
    (from /proc: children of the worker running ``ganlab.server.animate``, zombies left out)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
        worker = json.loads(r.read())["worker"]
    found, tick = {}, os.sysconf("SC_CLK_TCK")
    for d in Path("/proc").glob("[0-9]*"):
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == worker and stat[0] != "Z" and b"ganlab.server.animate" in (d / "cmdline").read_bytes():
                found[int(d.name)] = (int(stat[11]) + int(stat[12])) / tick
        except (OSError, ValueError, IndexError):
            continue
    return found


def debug_running(port: int) -> int:
    """Jobs running on the server's worker now (/debug/sessions)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/debug/sessions", timeout=10) as r:
        return json.loads(r.read())["animate"]["running"]


def dead(pid: int) -> bool:
    """Ended: a zombie or gone (a process that is exiting has no cmdline yet is not a zombie)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


LONG = {"to": MAX_SPAN_EPOCHS, "every": 500, "format": "apng", "size": 800,
        "layers": ["heatmap", "real", "fake", "d_grad", "manifold"]}
SMALL = {"to": 10, "every": 10, "format": "gif", "size": 64}


def test_a_client_that_goes_away_stops_its_job_and_frees_the_slot(server):
    """A long job (a minute or more) whose client closes the connection: its job process stops
    working within about a second, and the worker's one slot is free for the next job."""
    import httpx

    snap = Trainer(data="ring8", seed=0).snapshot()
    assert animate(server, snap, **SMALL)[0] == 200

    async def start_and_leave() -> int:
        before = job_processes(server)
        async with httpx.AsyncClient(timeout=120) as client:
            req = asyncio.create_task(client.post(f"http://127.0.0.1:{server}/api/animate",
                                                  json={"snapshot": snap, **LONG}))

            def working() -> list[int]:  # a job process that has spent 0.3 s of CPU on the job
                return [pid for pid, cpu in job_processes(server).items() if cpu > before.get(pid, 0.0) + 0.3]

            busy = await asyncio.to_thread(wait_for, working, 60, "the long job to start")
            req.cancel()  # httpx closes the connection of a request cancelled mid-way
            with contextlib.suppress(asyncio.CancelledError):
                await req
            return busy[0]

    pid = asyncio.run(start_and_leave())
    left = time.monotonic()
    wait_for(lambda: pid not in job_processes(server), 10, "the job process to stop")
    stopped = time.monotonic() - left
    assert stopped < 1.5, f"the job process stopped {stopped:.2f} s after its client left"
    status, _, data = animate(server, snap, **SMALL)  # the slot is free: accepted and done
    assert status == 200 and frames_of(data) == (2, (64, 64)), data[:200]


def test_a_job_process_that_dies_is_replaced(server):
    """Killed from outside while idle, or during a job (the OOM killer, an operator): that job
    fails with a message, and the next one gets a new job process."""
    import signal

    snap = Trainer(data="ring8", seed=0).snapshot()
    assert animate(server, snap, **SMALL)[0] == 200
    [idle] = job_processes(server)
    os.kill(idle, signal.SIGKILL)
    wait_for(lambda: dead(idle), 10, "the idle job process to die")
    assert animate(server, snap, **SMALL)[0] == 200  # a new one took the job
    [warm] = job_processes(server)
    result: dict = {}
    th = threading.Thread(target=lambda: result.update(long=animate(server, snap, **LONG)))
    th.start()
    before = job_processes(server).get(warm, 0.0)
    wait_for(lambda: job_processes(server).get(warm, 0.0) > before + 0.3, 60, "the long job to start")
    os.kill(warm, signal.SIGKILL)
    th.join(30)
    status, _, body = result["long"]
    assert status == 500 and json.loads(body)["error"] == "the animation process failed"
    status, _, data = animate(server, snap, **SMALL)
    assert status == 200 and frames_of(data) == (2, (64, 64))


def test_an_idle_job_process_ends_and_the_next_job_starts_one():
    """A worker keeps its job process warm for ``idle`` seconds after a job, then ends it (no
    zombie left); the next job starts a new one. Jobs driven in process, with a short idle."""
    import struct

    from ganlab.server.animate import Jobs

    request = struct.pack("<Q", 0) + json.dumps({"snapshot": Trainer(data="ring8", seed=0).snapshot(),
                                                 **SMALL}).encode()

    async def main():
        jobs = Jobs(1, 120, 10, idle=0.5)
        never = asyncio.Event().wait  # a client that stays
        code, reply = await jobs.run(request, never)
        assert code == 0 and reply.startswith(b"OK"), reply[:200]
        [first] = jobs.processes()
        assert not first["busy"]
        end = time.monotonic() + 10
        while jobs.processes() or jobs.tasks:
            assert time.monotonic() < end, "the idle job process was not ended"
            await asyncio.sleep(0.02)
        assert not Path(f"/proc/{first['pid']}").exists()  # ended and reaped
        code, reply = await jobs.run(request, never)
        assert code == 0 and reply.startswith(b"OK")
        [second] = jobs.processes()
        await jobs.close()
        return first["pid"], second["pid"]

    first, second = asyncio.run(main())
    assert first != second and not Path(f"/proc/{second}").exists()


def test_a_job_right_after_an_abandoned_one_takes_its_replacement():
    """The job process of an abandoned job is replaced at once; a job that comes before the
    replacement is up waits for it instead of starting one more: one process per job slot."""
    import struct

    from ganlab.server.animate import Gone, Jobs

    request = struct.pack("<Q", 0) + json.dumps({"snapshot": Trainer(data="ring8", seed=0).snapshot(),
                                                 **SMALL}).encode()

    async def main():
        jobs = Jobs(1, 120, 10)
        with pytest.raises(Gone):
            await jobs.run(request, lambda: asyncio.sleep(0))  # a client gone at once
        code, reply = await jobs.run(request, asyncio.Event().wait)
        assert code == 0 and reply.startswith(b"OK"), reply[:200]
        if pending := getattr(jobs, "warming", set()) | jobs.tasks:  # replacements started, kills reaped
            await asyncio.wait(pending)
        pids = [p["pid"] for p in jobs.processes()]
        await jobs.close()
        return pids

    assert len(asyncio.run(main())) == 1
