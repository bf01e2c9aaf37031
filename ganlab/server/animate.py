"""POST /api/animate: an animation of a span of epochs for the page's Record control.

The server stays stateless: the page sends what reproduces the span (the snapshot at its first
epoch, the live edits made in it, its last epoch, the frame interval, the format and the view;
:mod:`ganlab.runs.span`), and gets the file: the span replayed deterministically, drawn by the one
renderer (ganlab/render) and encoded by Pillow, the bytes ``ganlab train --animate`` writes for
the same span.

Body: the request as JSON (``Content-Type: application/json``) with the JSON snapshot in it; or,
for an image model's binary snapshot, ``?split=<bytes of the JSON part>`` and the binary snapshot
after the JSON (as POST /api/images splits its two files).

Replaying and encoding take seconds of CPU: they run in a process of their own (``python -m
ganlab.server.animate``, at the heavy processes' niceness, so the worker's sessions keep their
core and the OS shares the rest), at most ``Settings.animate_jobs`` at once per worker (more are
refused with 503 "busy"), killed after ``Settings.animate_seconds``. Replies: 200 the file
(``X-Frames``: its frame count); 400 ``{"error"}`` naming the field and the limit; 413 a body over
the limit; 503 busy; 504 over the time limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import struct
import sys

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ganlab.runs.span import MIME, check_request

MiB = 1 << 20
MAX_JSON = 16 * MiB  # the largest 2D snapshot is ~10 MB of JSON
MAX_BINARY = 16 * MiB  # as a binary `restore` takes (docs/protocol.md)
MAX_HEADER = 1 * MiB  # the JSON beside a binary snapshot: edits and options
PRECHECK_BYTES = 256 << 10  # a request this small is parsed and checked in the worker (< 5 ms)
OK, ERROR = b"OK", b"ER"
_LEN = struct.Struct("<Q")


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


class Jobs:
    """The animation processes of one worker: at most ``limit`` at once."""

    def __init__(self, limit: int, seconds: float, nice: int):
        self.limit, self.seconds, self.nice = limit, seconds, nice
        self.running = 0

    def busy(self) -> JSONResponse:
        return _error(f"busy: this server renders at most {self.limit} animation{'s' if self.limit > 1 else ''} "
                      "at once per worker; try again when it is done", 503)

    async def run(self, payload: bytes) -> tuple[int, bytes]:
        """(exit status, stdout) of a job process fed ``payload``; TimeoutError past the limit."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ganlab.server.animate", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, proc.pid, self.nice)
        try:
            out, _ = await asyncio.wait_for(proc.communicate(payload), self.seconds)
        except (TimeoutError, asyncio.CancelledError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return proc.returncode, out


def register(app: FastAPI) -> None:
    s = app.state.settings
    jobs = Jobs(s.animate_jobs, s.animate_seconds, s.heavy_nice)

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
            code, out = await jobs.run(_LEN.pack(int(split or 0)) + body)
        except TimeoutError:
            return _error(f"the animation took longer than the {jobs.seconds:g} s limit; record a shorter "
                          "span or fewer frames", 504)
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


def main() -> None:
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints must not corrupt the reply
    reply = job(sys.stdin.buffer.read())
    out.write(reply)
    out.flush()


if __name__ == "__main__":
    main()


__all__ = ["Jobs", "job", "register"]
