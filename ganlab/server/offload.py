"""Heavy sessions in processes of their own ("a process per heavy session", issue 12).

A worker's sessions share one event loop and one core. A session whose measured cost is far
above a default session's (an update over ``Settings.heavy_update`` CPU seconds, a frame over
``heavy_frame``, or a message over 64 KiB to parse) is moved to a heavy process: the worker
finishes its epoch, sends its state (trainer snapshot, schedule, view, pacing) down a pipe and
from then on only forwards the client's messages to that process and its replies and frames
back. The client sees the same protocol on the same websocket; continuing there is
bit-identical to never having moved (trainer snapshots are exact). The worker's loop and caches
stay with the light sessions, and the OS shares the cores.

Fair share: a worker starts at most ``Settings.heavy_processes`` heavy processes (one per heavy
session up to that, then the least loaded one is shared, with the same in-process fair shares
among its sessions), each at niceness ``heavy_nice``: a heavy process takes a core nobody else
wants, and yields to the workers when the cores are contended. A heavy session's messages are
rate-limited by the worker before they are forwarded, so a flood costs the flooder's process.

Pipe protocol (both directions): a header ``<IB16s`` (payload length, kind, session id), then the
payload. Kinds: ``OPEN`` (worker -> heavy: the pickled session state), ``TEXT`` / ``BYTES`` (a
websocket message either way), ``CLOSE`` (worker -> heavy: the client left; heavy -> worker: the
session ended, JSON ``{"code", "reason"}``), ``SHUTDOWN`` (worker -> heavy: the server is going
away, JSON ``{"code", "reason"}``: the session sends its ``moving`` message and closes, as in the
worker, shutdown.py), ``STATS`` (heavy -> worker, once a second per session: JSON ``{"trained",
"seq", "running"}``, for the worker's /metrics and accounting), ``STATE`` (worker -> heavy,
empty: send the session's binary snapshot now, taken between training chunks at an epoch
boundary; heavy -> worker: ``A`` + that snapshot, empty if the session has ended, or ``F`` + the
snapshot of a lab's session that has just ended, before its ``CLOSE``: a notebook's lab reads
and keeps its page's state wherever the session runs, server/labs.py). A heavy process ignores SIGTERM:
its worker tells it what to do, and it ends when the worker's end of the pipe closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import struct
import sys
from typing import Any

from ganlab.server.procstat import cpu_seconds

log = logging.getLogger("ganlab.server")

HEADER = struct.Struct("<IB16s")
OPEN, TEXT, BYTES, CLOSE, SHUTDOWN, STATS, STATE = 1, 2, 3, 4, 5, 6, 7
ANSWER, FINAL = b"A", b"F"  # the first byte of a STATE from a heavy process
STATS_EVERY = 1.0  # seconds between two reports of a heavy process's session totals
FRAME_HEAD = '{"type":"frame"'


class Link:
    """One end of the pipe pair: framed writes (atomic per message) and reads."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer
        self.lock = asyncio.Lock()

    async def send(self, kind: int, sid: str, payload: bytes) -> None:
        async with self.lock:
            self.writer.write(HEADER.pack(len(payload), kind, sid.encode()) + payload)
            await self.writer.drain()

    async def read(self) -> tuple[int, str, bytes] | None:
        """The next (kind, session id, payload), or None at the end of the pipe."""
        try:
            n, kind, sid = HEADER.unpack(await self.reader.readexactly(HEADER.size))
            return kind, sid.decode(), await self.reader.readexactly(n)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None


# -- the worker's side ---------------------------------------------------------------------------


class Outbox:
    """What a heavy process sent for one client, waiting to go out on the websocket. Latest
    state wins as in the worker: a frame (JSON head and binary body) still waiting when a newer
    one arrives is dropped; replies are never dropped."""

    def __init__(self) -> None:
        self.items: list[tuple[int, bytes]] = []
        self.ready = asyncio.Event()

    def put(self, kind: int, payload: bytes) -> None:
        if kind == TEXT and payload.startswith(FRAME_HEAD.encode()):
            for i, (k, p) in enumerate(self.items):
                if k == TEXT and p.startswith(FRAME_HEAD.encode()):
                    del self.items[i : i + 2]  # the older frame's head and body
                    break
        self.items.append((kind, payload))
        self.ready.set()

    async def get(self) -> tuple[int, bytes]:
        while not self.items:
            self.ready.clear()
            await self.ready.wait()
        return self.items.pop(0)


class HeavyProcess:
    """A heavy process started by this worker, and the sessions it holds for it."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.pid = proc.pid
        self.link = Link(proc.stdout, proc.stdin)
        self.routes: dict[str, Outbox] = {}
        # Who waits for a session's state: any state (a lab's reader) or its final one (its end).
        self.answers: dict[str, list[asyncio.Future]] = {}
        self.finals: dict[str, list[asyncio.Future]] = {}
        self.alive = True  # until its end of the pipe closes
        self.reading = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while (got := await self.link.read()) is not None:
            kind, sid, payload = got
            if kind == STATE:
                final, state = payload[:1] == FINAL, payload[1:] or None
                for fut in self.answers.pop(sid, []) + (self.finals.pop(sid, []) if final else []):
                    if not fut.done():
                        fut.set_result(state)
                if not final:
                    continue
            box = self.routes.get(sid)
            if box is not None:
                box.put(kind, payload[1:] if kind == STATE else payload)
        self.alive = False
        for fut in [f for waiting in (self.answers, self.finals) for fs in waiting.values() for f in fs]:
            if not fut.done():
                fut.set_result(None)
        self.answers.clear()
        self.finals.clear()
        (log.error if self.routes else log.info)("heavy process %d ended; its %d sessions end",
                                                 self.pid, len(self.routes))
        for box in self.routes.values():
            box.put(CLOSE, json.dumps({"code": 1011, "reason": "heavy process ended"}).encode())

    def expect(self, sid: str, final: bool = False) -> asyncio.Future:
        """A future of session ``sid``'s next state (``final``: the one it sends as it ends);
        its result is None if it has none (it ended, or this process did)."""
        fut = asyncio.get_running_loop().create_future()
        if self.alive:
            (self.finals if final else self.answers).setdefault(sid, []).append(fut)
        else:
            fut.set_result(None)
        return fut

    async def state(self, sid: str, seconds: float) -> bytes | None:
        """The binary snapshot of session ``sid`` now, None if it has ended; TimeoutError if the
        process does not answer within ``seconds``."""
        fut = self.expect(sid)
        if not fut.done():
            await self.link.send(STATE, sid, b"")
        try:
            return await asyncio.wait_for(fut, seconds)
        finally:
            with contextlib.suppress(ValueError):
                self.answers.get(sid, []).remove(fut)

    def cpu(self) -> float | None:
        """CPU seconds used by the process so far (Linux /proc), or None."""
        return cpu_seconds(self.pid)


class HeavyPool:
    """A worker's heavy processes, started on demand (at most ``settings.heavy_processes``)."""

    def __init__(self, settings: Any):
        self.settings = settings
        self.procs: list[HeavyProcess] = []
        self.starting = asyncio.Lock()

    async def place(self) -> HeavyProcess:
        """A process for one more heavy session: a new one while under the limit and every
        running one holds a session, else the least loaded."""
        async with self.starting:
            self.procs = [p for p in self.procs if p.alive and p.proc.returncode is None]
            idle = [p for p in self.procs if not p.routes]
            if idle:
                return idle[0]
            if len(self.procs) < self.settings.heavy_processes:
                self.procs.append(await self._start())
                return self.procs[-1]
            return min(self.procs, key=lambda p: len(p.routes))

    async def _start(self) -> HeavyProcess:
        env = {**os.environ, **self.settings.to_env()}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ganlab.server.offload", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env)
        with contextlib.suppress(OSError, AttributeError):  # AttributeError: no niceness here
            os.setpriority(os.PRIO_PROCESS, proc.pid, self.settings.heavy_nice)
        log.info("heavy process %d started", proc.pid)
        return HeavyProcess(proc)

    async def close(self) -> None:
        """Stop the heavy processes (at the worker's shutdown; they also end by themselves when
        the worker's end of their pipe closes)."""
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError):
                p.proc.kill()
        for p in self.procs:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.proc.wait(), 5)


# -- the heavy process's side --------------------------------------------------------------------


class PipeSocket:
    """What a :class:`session.Session` needs of a websocket, over the pipe to the worker."""

    def __init__(self, sid: str, link: Link):
        self.sid, self.link = sid, link
        self.incoming: asyncio.Queue = asyncio.Queue()
        self.closed: dict | None = None

    async def receive(self) -> dict:
        return await self.incoming.get()

    async def send_text(self, text: str) -> None:
        await self._send(TEXT, text.encode())

    async def send_bytes(self, data: bytes) -> None:
        await self._send(BYTES, bytes(data))

    async def _send(self, kind: int, payload: bytes) -> None:
        if self.closed is not None:
            raise ConnectionError("the session's websocket is closed")
        await self.link.send(kind, self.sid, payload)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self.closed is None:
            self.closed = {"code": code, "reason": reason}
            await self.link.send(CLOSE, self.sid, json.dumps(self.closed).encode())


async def _serve_heavy(out_fd: int) -> None:
    from . import snapshots
    from .session import Load, Session
    from .settings import Settings
    from .tuning import trim_soon, tune_malloc

    settings = Settings.from_env()
    tune_malloc()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**31)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        os.fdopen(out_fd, "wb"))
    link = Link(reader, asyncio.StreamWriter(transport, protocol, None, loop))
    load = Load()
    sockets: dict[str, PipeSocket] = {}
    sessions: dict[str, Session] = {}
    tasks: set[asyncio.Task] = set()

    def spawn(coro) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def run(ws: PipeSocket, session: Session) -> None:
        try:
            await session.serve(resume=True)
        except Exception:
            log.exception("heavy session %s failed", ws.sid)
        finally:
            sockets.pop(ws.sid, None)
            sessions.pop(ws.sid, None)
            final = None
            if session.lab is not None:  # a lab's page: its state is the lab's next hand-off
                try:
                    session.settle()
                    final = snapshots.to_bytes(session.trainer)
                except Exception:
                    log.exception("heavy session %s: its lab's state could not be kept", ws.sid)
            del session
            with contextlib.suppress(Exception):
                if final is not None:  # before the CLOSE: the worker then has it at the session's end
                    await link.send(STATE, ws.sid, FINAL + final)
                del final
                await ws.close(1000)
            trim_soon(loop)

    async def report() -> None:
        while True:
            await asyncio.sleep(STATS_EVERY)
            for sid, x in list(sessions.items()):
                with contextlib.suppress(Exception):
                    await link.send(STATS, sid, json.dumps(
                        {"trained": x.trained, "seq": x.seq, "running": x.running}).encode())

    async def answer(sid: str) -> None:
        """The session's state now, taken between training chunks (an empty one if it ended)."""
        state = b""
        if (session := sessions.get(sid)) is not None:
            try:
                async with session.busy:
                    session.settle()
                    state = await asyncio.to_thread(snapshots.to_bytes, session.trainer)
            except Exception:
                log.exception("heavy session %s: its state could not be taken", sid)
            del session
        with contextlib.suppress(Exception):
            await link.send(STATE, sid, ANSWER + state)

    spawn(report())
    while (got := await link.read()) is not None:
        kind, sid, payload = got
        if kind == OPEN:
            ws = sockets[sid] = PipeSocket(sid, link)
            try:
                session = sessions[sid] = Session.resumed(ws, settings, load, pickle.loads(payload))
            except Exception:
                log.exception("heavy session %s could not be resumed", sid)
                sockets.pop(sid, None)
                await ws.close(1011, "could not resume the session")
                continue
            spawn(run(ws, session))
            del session
        elif kind == STATE:
            spawn(answer(sid))
        elif kind == SHUTDOWN and (session := sessions.get(sid)) is not None:
            info = json.loads(payload)
            spawn(session.close_for_shutdown(info["code"], info["reason"]))
            del session
        elif (ws := sockets.get(sid)) is not None:
            if kind == TEXT:
                ws.incoming.put_nowait({"type": "websocket.receive", "text": payload.decode()})
            elif kind == BYTES:
                ws.incoming.put_nowait({"type": "websocket.receive", "bytes": payload})
            elif kind == CLOSE:
                ws.closed = ws.closed or {"code": 1000, "reason": "client left"}
                ws.incoming.put_nowait({"type": "websocket.disconnect"})
    # The worker is gone (its end of the pipe closed): so are its clients.


def main() -> None:
    """Entry point of a heavy process (``python -m ganlab.server.offload``), started by a worker.
    Its stdout is the pipe to the worker, so stray prints go to stderr instead."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the worker drains us (shutdown.py)
    logging.basicConfig(level=logging.WARNING, format="ganlab heavy %(process)d: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_heavy(out_fd))


if __name__ == "__main__":
    main()


__all__ = ["BYTES", "CLOSE", "HeavyPool", "HeavyProcess", "Outbox", "OPEN", "PipeSocket", "SHUTDOWN",
           "STATE", "STATS", "TEXT"]
