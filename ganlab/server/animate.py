"""POST /api/animate: an animation of a span of epochs for the page's Record control.

The server stays stateless: the page sends what reproduces the span (the snapshot at its first
epoch, the live edits made in it, its last epoch, the frame interval, the format and the view;
:mod:`ganlab.runs.span`), and gets the file: the span replayed deterministically, drawn by the one
renderer (ganlab/render) and encoded by Pillow, the bytes ``ganlab train --animate`` writes for
the same span.

Body: the request as JSON (``Content-Type: application/json``) with the JSON snapshot in it; or,
for an image model's binary snapshot, ``?split=<bytes of the JSON part>`` and the binary snapshot
after the JSON (as POST /api/images splits its two files).

Replaying and encoding take seconds of CPU: they run in a job process of their own (``python -m
ganlab.server.animate``, at the heavy processes' niceness, so the worker's sessions keep their
core and the OS shares the rest), at most ``Settings.animate_jobs`` at once per worker (more are
refused with 503 "busy"), killed after ``Settings.animate_seconds`` or as soon as the client goes
away. A job process is kept warm between jobs (:class:`Jobs`): starting Python and importing
numpy, Pillow and ganlab cost ~0.5 s of CPU quiet and several seconds on a loaded machine, which a
fresh process per job paid before its first frame. Replies: 200 the file (``X-Frames``: its frame
count); 400 ``{"error"}`` naming the field and the limit; 413 a body over the limit; 503 busy; 504
over the time limit (499, unread, to a client that went away).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import struct
import sys

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ganlab.runs.span import MIME, check_request
from ganlab.server.procstat import cpu_seconds

MiB = 1 << 20
MAX_JSON = 16 * MiB  # the largest 2D snapshot is ~10 MB of JSON
MAX_BINARY = 16 * MiB  # as a binary `restore` takes (docs/protocol.md)
MAX_HEADER = 1 * MiB  # the JSON beside a binary snapshot: edits and options
PRECHECK_BYTES = 256 << 10  # a request this small is parsed and checked in the worker (< 5 ms)
OK, ERROR = b"OK", b"ER"
_LEN = struct.Struct("<Q")
IDLE_SECONDS = 600.0  # a job process waits this long for its next job, then ends
# A job process still holding more after a job leaves (~70 MiB warm; ~120 MiB after a 400-frame APNG).
MAX_RSS = 256 * MiB
KEEP, RETIRE = b"K", b"R"  # the first byte of a job process's reply: whether it stays
log = logging.getLogger("ganlab.server")


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _body(request: Request, limit: int) -> bytes | JSONResponse:
    """The body, read no further than ``limit`` (a declared length over it is refused unread)."""
    declared = request.headers.get("content-length")
    words = f"the limit is {limit:,} bytes ({limit // MiB} MiB)"
    if declared and declared.isdigit() and int(declared) > limit:
        return _error(f"body: {int(declared):,} bytes; {words}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return _error(f"body: over {limit:,} bytes; {words}", 413)
        chunks.append(chunk)
    return b"".join(chunks)


class Gone(Exception):
    """The client went away before its animation was done."""


class JobProcess:
    """A job process (``python -m ganlab.server.animate``): it imports the replay, the renderer
    and the encoders once, then takes jobs one at a time over its stdin (``<Q`` length, then the
    request) and replies on its stdout (``<Q`` length, then :func:`job`'s reply)."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc, self.pid = proc, proc.pid
        self.idle_timer: asyncio.TimerHandle | None = None

    @property
    def alive(self) -> bool:
        """Not ended, as far as is known: asyncio learns of an exit only when it reaps the process,
        so a zombie (killed, not yet reaped) counts as ended too (Linux /proc)."""
        if self.proc.returncode is not None:
            return False
        try:
            with open(f"/proc/{self.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except (OSError, IndexError):  # no /proc here, or gone and reaped meanwhile
            return self.proc.returncode is None and not os.path.isdir("/proc/self")

    async def run(self, request: bytes) -> tuple[bool, bytes]:
        """(whether the process stays for another job, its reply to ``request``);
        ``asyncio.IncompleteReadError`` if the process ended first."""
        self.proc.stdin.write(_LEN.pack(len(request)) + request)
        await self.proc.stdin.drain()
        (n,) = _LEN.unpack(await self.proc.stdout.readexactly(_LEN.size))
        reply = await self.proc.stdout.readexactly(n)
        return reply[:1] == KEEP, reply[1:]

    def cpu(self) -> float | None:
        """CPU seconds used so far (Linux /proc), or None."""
        return cpu_seconds(self.pid)


class Jobs:
    """The animation job processes of one worker: at most ``limit`` jobs at once, each in a job
    process of its own, kept warm between jobs.

    A job process is started on the first job (not at server start: a worker that never renders
    has none), kept for the next job, and ended after ``idle`` seconds without one. One that
    takes too long (``seconds``), whose client went away or that died is killed and replaced at
    once, so that the next job finds a warm one; so is one that still holds more than
    ``MAX_RSS`` after a job (it says so with its reply, and leaves). Python's start and imports
    (~0.5 s of CPU on a quiet machine, seconds under load) are paid once per process instead of
    once per job."""

    def __init__(self, limit: int, seconds: float, nice: int, idle: float = IDLE_SECONDS):
        self.limit, self.seconds, self.nice, self.idle_seconds = limit, seconds, nice, idle
        self.running = 0
        self.busy_procs: list[JobProcess] = []
        self.idle: list[JobProcess] = []  # warm, waiting for a job
        self.tasks: set[asyncio.Task] = set()  # killed processes being reaped
        self.warming: set[asyncio.Task] = set()  # replacements starting
        self.closed = False

    def busy(self) -> JSONResponse:
        return _error(f"busy: this server renders at most {self.limit} animation{'s' if self.limit > 1 else ''} "
                      "at once per worker; try again when it is done", 503)

    def processes(self) -> list[dict]:
        """The job processes now (``/debug/sessions``)."""
        return [{"pid": p.pid, "cpu": p.cpu(), "busy": busy}
                for busy, procs in ((True, self.busy_procs), (False, self.idle)) for p in procs]

    async def _start(self) -> JobProcess:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ganlab.server.animate", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no niceness here
            os.setpriority(os.PRIO_PROCESS, proc.pid, self.nice)
        return JobProcess(proc)

    async def _take(self) -> JobProcess:
        """A warm job process, else the replacement on its way (starting another beside it would
        leave one more process than jobs), else a new one."""
        while True:
            while self.idle:
                p = self.idle.pop()
                if p.idle_timer is not None:
                    p.idle_timer.cancel()
                if p.alive:
                    return p
                self._end(p)
            if not self.warming:
                return await self._start()
            await asyncio.wait(set(self.warming))

    def _keep(self, p: JobProcess) -> None:
        """A job process ready for the next job, ended after ``idle_seconds`` without one."""
        if self.closed:
            self._end(p)
            return
        self.idle.append(p)
        p.idle_timer = asyncio.get_running_loop().call_later(self.idle_seconds, self._retire, p)

    def _retire(self, p: JobProcess) -> None:
        if p in self.idle:
            self.idle.remove(p)
            self._end(p)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _end(self, p: JobProcess) -> None:
        """Kill ``p`` and reap it in the background (no zombie is left)."""
        with contextlib.suppress(ProcessLookupError):
            p.proc.kill()
        with contextlib.suppress(Exception):
            p.proc.stdin.close()
        self._spawn(p.proc.wait())

    def _replace(self, p: JobProcess) -> None:
        """Kill ``p`` and start a warm one in its place for the next job."""
        self._end(p)

        async def start() -> None:
            with contextlib.suppress(OSError):
                self._keep(await self._start())

        if not self.closed:
            task = asyncio.create_task(start())
            self.warming.add(task)
            task.add_done_callback(self.warming.discard)

    async def run(self, request: bytes, gone) -> tuple[int, bytes]:
        """(0, reply) of a job process fed ``request``, or (1, b"") if it died meanwhile.
        TimeoutError past ``seconds``, :class:`Gone` when ``gone()`` (the client's disconnect)
        returns first; the job process is killed then, and replaced."""
        p = await self._take()
        self.busy_procs.append(p)
        job, left = asyncio.create_task(p.run(request)), asyncio.create_task(gone())
        try:
            done, _ = await asyncio.wait({job, left}, timeout=self.seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the handler was cancelled (the server is shutting down)
            done = set()
            raise
        finally:
            self.busy_procs.remove(p)
            for t in (job, left):
                t.cancel()
            await asyncio.gather(job, left, return_exceptions=True)
            if job in done and not job.cancelled() and job.exception() is None and job.result()[0]:
                self._keep(p)  # the one way back to the idle list
            else:
                self._replace(p)
        if job in done:
            if job.exception() is not None:  # the process died (killed, out of memory, a crash)
                log.error("animation process %d ended during a job (status %s)", p.pid, p.proc.returncode)
                return 1, b""
            return 0, job.result()[1]
        raise Gone() if left in done else TimeoutError()

    async def close(self) -> None:
        """End every job process (at the worker's shutdown; they also end when their stdin closes)."""
        self.closed = True
        for p in self.idle + self.busy_procs:
            self._end(p)
        self.idle = []
        if self.warming:  # a replacement that started meanwhile ends itself (_keep)
            await asyncio.wait(list(self.warming), timeout=5)
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)


async def _disconnected(request: Request) -> None:
    """Return when the client has gone away (the body has been read: the next ASGI message is
    the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def register(app: FastAPI) -> None:
    s = app.state.settings
    jobs = app.state.animate = Jobs(s.animate_jobs, s.animate_seconds, s.heavy_nice)

    @app.post("/api/animate")
    async def animate(request: Request):
        split = request.query_params.get("split")
        if split is not None and not (split.isdigit() and 0 < int(split) <= MAX_HEADER):
            return _error(f"split: the byte length of the JSON part, 1..{MAX_HEADER:,}")
        limit = MAX_JSON if split is None else int(split) + MAX_BINARY
        if jobs.limit < 1:
            return _error("animations are turned off on this server (animate_jobs is 0)", 503)
        if jobs.running >= jobs.limit:  # before reading megabytes that would be refused anyway
            return jobs.busy()
        body = await _body(request, limit)
        if isinstance(body, JSONResponse):
            return body
        if split is not None and int(split) >= len(body):
            return _error("split: the byte length of the JSON part, within the body (the binary snapshot follows it)")
        head = body if split is None else body[: int(split)]
        if len(head) <= PRECHECK_BYTES:  # a bad field is refused at once, without a process
            try:
                check_request(_request(head), split is not None)
            except ValueError as e:
                return _error(str(e))
        if jobs.running >= jobs.limit:
            return jobs.busy()
        jobs.running += 1
        try:
            code, out = await jobs.run(_LEN.pack(int(split or 0)) + body, lambda: _disconnected(request))
        except TimeoutError:
            return _error(f"the animation took longer than the {jobs.seconds:g} s limit; record a shorter "
                          "span or fewer frames", 504)
        except Gone:  # nobody reads the answer; the job process was stopped
            return _error("the client went away", 499)
        finally:
            jobs.running -= 1
        if code == 0 and out.startswith(OK):
            frames, = struct.unpack_from("<I", out, 2)
            fmt = out[6:10].decode().strip()
            return Response(out[10:], media_type=MIME[fmt], headers={"X-Frames": str(frames)})
        if out.startswith(ERROR):
            return _error(json.loads(out[2:])["error"])
        return _error("the animation process failed", 500)


# -- the job process -------------------------------------------------------------------------------


def job(data: bytes) -> bytes:
    """One request (``<Q`` split, then the body) to the job's reply: ``OK`` + frames (``<I``) +
    the format (4 bytes) + the file, or ``ER`` + ``{"error"}``."""
    from ganlab.runs.span import parse_span, render_span

    from . import image_uploads

    (split,) = _LEN.unpack_from(data)
    body = data[_LEN.size:]
    head, binary = (body, None) if not split else (body[:split], body[split:])
    try:
        req = _request(head)
        if isinstance(req, dict) and isinstance(req.get("snapshot"), dict):
            image_uploads.ensure((req["snapshot"].get("config") or {}).get("data"))
        elif binary is not None:
            _ensure_upload(binary)
        span = parse_span(req, binary)
        out, frames = render_span(span)
    except ValueError as e:
        return ERROR + json.dumps({"error": str(e)}).encode()
    return OK + struct.pack("<I", frames) + span.format.ljust(4).encode() + out


def _request(head: bytes):
    try:
        return json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"body: not valid JSON ({str(e)[:80]})") from None


def _ensure_upload(binary: bytes) -> None:
    """Register the uploaded image set a binary snapshot names (it may be another worker's)."""
    from ganlab import snapshot_bin

    from . import image_uploads

    with contextlib.suppress(ValueError, AttributeError):
        image_uploads.ensure(snapshot_bin.decode(binary)["config"].get("data"))


def _rss() -> int:
    """This process's resident bytes (Linux /proc), 0 if unknown."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _warm_up() -> None:
    """Import and exercise what a job uses (the replay, the renderer, each encoder), so that the
    first job costs what every later one does."""
    from ganlab import Trainer
    from ganlab.runs.span import parse_span, render_span

    snap = Trainer(data="ring8", seed=0).snapshot()
    for fmt in MIME:
        render_span(parse_span({"snapshot": snap, "to": 2, "every": 1, "format": fmt, "size": 64}))


def main() -> None:
    """A job process: warm up, then answer jobs from stdin until it closes. Its stdout is the
    reply pipe, so stray prints go to stderr instead."""
    from .tuning import trim_heap

    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the terminal is the worker's to act on
    try:
        _warm_up()
    except Exception:  # only a head start: a job meets the same problem and names it
        logging.getLogger("ganlab.server").exception("animation process: warming up failed")
    trim_heap(force=True)
    read = sys.stdin.buffer.read
    while len(head := read(_LEN.size)) == _LEN.size:
        (n,) = _LEN.unpack(head)
        data = read(n)
        if len(data) < n:
            break
        reply = job(data)
        del data
        trim_heap(force=True)  # the job's frames are freed: give their pages back
        stay = _rss() - len(reply) <= MAX_RSS
        out.write(_LEN.pack(len(reply) + 1) + (KEEP if stay else RETIRE) + reply)
        out.flush()
        del reply
        if not stay:
            break


if __name__ == "__main__":
    main()


__all__ = ["Gone", "JobProcess", "Jobs", "job", "register"]
