"""One live training session per websocket: commands in, frames out (docs/protocol.md).

Each session runs three tasks on the process's event loop, ending together:

- ``_receive``: reads client messages, validates them, applies them and replies (one reply each);
- ``_train``: trains in chunks of about ``chunk_seconds`` inline on the loop, yielding after
  each chunk. Inline rather than in threads: numpy's small operations hold the GIL, so threads
  only add switching cost (measured: 2 threads train 13% fewer epochs than 1, 4 threads 36%),
  while a yield per chunk lets a ``pause`` act before the next chunk. A chunk ends after the
  update that passes its time limit, even inside an epoch (``Trainer.train`` resumes there);
- ``_send_frames``: wakes at ``view.fps`` (or when the training task, between two chunks, finds
  a frame due) and sends the current state if it changed, built in
  parts (``FrameBuilder.parts``) with a turn of the loop between parts. A send that blocks (slow
  client) delays only this session's next frame: latest state wins, no queue.

Fair shares: every stretch of synchronous work (a training chunk, a frame part, a message) is
charged to its session's :class:`Share` in CPU seconds, and a session whose share is more than
``FAIR_SLACK`` ahead of the least-served session that also wants the CPU waits before its next
stretch. Sessions share the worker's time, not its turns: a session on the largest networks and
views (50 ms updates, frames of hundreds of ms) or one flooding messages gets its share and its
neighbours keep theirs. A session that sleeps (paused, speed-limited, between frames) leaves the
set and comes back at the least-served level, so idling banks no credit.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
import operator
import os
import pickle
import secrets
import time
from typing import Any

from starlette.websockets import WebSocket

from ganlab import Trainer, __version__

from . import messages as m
from . import snapshots
from .commands import D_UPDATE, G_UPDATE, STAGES, Commands
from .frames import dumps, dumps_parts, encode
from .image_slots import frame_extras, pace
from .layers import DEFAULT_VIEW, FrameBuilder
from .offload import BYTES, CLOSE, OPEN, SHUTDOWN, STATE, STATS, TEXT, HeavyPool, HeavyProcess, Outbox
from .settings import MiB, Settings

PROTOCOL = 1
log = logging.getLogger("ganlab.server")

BIG_MESSAGE = 64 * 1024  # a message costs one rate token per started 64 KiB


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float):
        self.rate, self.burst = rate, burst
        self.tokens, self.t = burst, time.monotonic()

    def take(self, n: float = 1.0) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


FAIR_SLACK = 0.05  # CPU seconds a session may run ahead of the least-served one that waits
FAIR_NAP = 0.005  # seconds between two looks at the shares while ahead
REJOIN_GRACE = 1.0  # seconds a share may leave the set (not to sleep) and keep its place


_USED = operator.attrgetter("used")


class Share:
    """A session's account of the process's time: CPU seconds used while it wanted the CPU."""

    __slots__ = ("left", "used", "wants")

    def __init__(self) -> None:
        self.used = 0.0
        self.wants = 0  # tasks of the session that have work ready (training, a frame, a message)
        self.left = -1e9  # when wants last fell to 0 (time.monotonic)


class Load:
    """What the sessions of one process share: how many are running (chunks and frame rates
    are divided among them) and the shares of those that want the CPU now."""

    def __init__(self) -> None:
        self.running = 0
        self.active: dict[int, Share] = {}  # id -> share, for shares with wants > 0

    def want(self, share: Share) -> None:
        """A task of ``share``'s session has work ready. A share joining the set after sleeping
        (``unwant(idle=True)``: paused, speed-limited) or after more than ``REJOIN_GRACE`` away
        starts no lower than the least-served member: sleeping earns no credit. Otherwise it
        keeps its place: a running session passes the trainer from one task to the other (a
        frame built, then the next chunk), away from the set until the loop comes back to it;
        raising it each time made it lose what it was owed (measured: a default session charged
        2.4 s for 1.0 s of CPU while a max-config neighbour used 2.5 s)."""
        if share.wants == 0:
            floor = self.floor(share)
            if floor is not None and share.used < floor and time.monotonic() - share.left > REJOIN_GRACE:
                share.used = floor
            self.active[id(share)] = share
        share.wants += 1

    def unwant(self, share: Share, idle: bool = False) -> None:
        """A task of ``share``'s session has no work ready now; ``idle``: it goes to sleep."""
        share.wants -= 1
        if share.wants == 0:
            self.active.pop(id(share), None)
            share.left = -1e9 if idle else time.monotonic()

    def floor(self, share: Share) -> float | None:
        """The least CPU time used by another share in the set (None if there is none). Asked
        before every stretch of work: scans in C (``min``, and ``nsmallest`` when ``share`` is
        itself the least served), not a generator over the set."""
        least = min(self.active.values(), key=_USED, default=None)
        if least is not share:
            return None if least is None else least.used
        two = heapq.nsmallest(2, self.active.values(), key=_USED)
        return two[1].used if len(two) > 1 else None

    def lead(self, share: Share) -> float:
        """How far ``share`` is ahead of the least-served other share that wants the CPU."""
        floor = self.floor(share)
        return 0.0 if floor is None else share.used - floor


LAB_STATE_SECONDS = 30.0  # at most this long for a heavy process to send a lab session's state
MAX_UNANSWERED = 8  # messages of a moved session in flight to its heavy process
REPLY_HEADS = (b'{"type":"ack"', b'{"type":"error"')  # how a reply begins (dumps: no spaces)

# Messages whose handlers `settle` the epoch first (commands.py).
SETTLING = (m.Pause, m.ConfigChange, m.Data, m.Slowmo, m.Snapshot, m.Schedule)


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` have passed. Not ``asyncio.wait_for``: on
    Python 3.11 it returns normally when the event is set in the same loop pass as the task is
    cancelled, losing the cancellation; a session moving to a heavy process (``_move``) then
    waited forever for its frames task, which went on to wait for the lock ``_move`` held."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


class Charged:
    """``with Charged(session, kind):`` adds the CPU time of the block to the session's share,
    its ``cpu`` and ``cpu_by[kind]``. A plain class rather than a generator context manager: it
    wraps every training chunk and frame, and costs a third as much. The clock is the thread's
    CPU time (a system call, ~0.6-0.9 us here: no vDSO for CPU clocks), read twice per block."""

    __slots__ = ("session", "kind", "t0")

    def __init__(self, session: Session, kind: str):
        self.session, self.kind = session, kind

    def __enter__(self) -> None:
        self.t0 = time.thread_time()

    def __exit__(self, *exc) -> None:
        dt = time.thread_time() - self.t0
        s = self.session
        s.share.used += dt
        s.cpu += dt
        s.cpu_by[self.kind] += dt


def next_frame_due(due: float, now: float, fps: float, not_before: float) -> float:
    """When the frame after the one due at ``due`` is due, at ``fps``, ``now`` being when that
    one went out. The schedule holds through a late wake-up of up to half a period (a turn of a
    busy loop: ~30 ms at 20 sessions a worker, near the 33-40 ms period), so late frames do not
    lower the rate (measured before: 20.7 frames/s at 30); later than that, the schedule starts
    again from ``now``: never a burst of frames to catch up. ``not_before``: a frame that cost c
    CPU seconds is followed by at least c seconds without one, so a heavy view takes at most
    half of its session's share and training keeps the rest."""
    period = 1.0 / fps
    return max(due + period, now - 0.5 * period, not_before)


class Closed(Exception):
    """The websocket is gone; the session ends."""


class Session(Commands):
    """A trainer, its view and pacing, bound to one websocket."""

    def __init__(self, ws: WebSocket, settings: Settings, load: Load | None = None,
                 heavy: HeavyPool | None = None):
        self.ws, self.settings = ws, settings
        self.load = load or Load()  # shared by this process's sessions
        self.heavy = heavy  # where this session moves if it turns out heavy (offload.py)
        self.remote: tuple[HeavyProcess, Outbox] | None = None  # set once it has moved
        self.moving: asyncio.Task | None = None
        self.tasks: dict[str, asyncio.Task] = {}
        self.remote_running = False  # whether it trains there (the heavy process's last report)
        self.unanswered = 0  # messages forwarded to the heavy process and not yet replied to
        self.answered = asyncio.Event()
        self.id = secrets.token_hex(8)
        self.lab: dict | None = None  # a notebook's lab: whether its state was restored (labs.py)
        self.final_state: bytes | None = None  # a moved lab session's state as it ended (labs.py)
        self.trainer = Trainer()
        self.frames = FrameBuilder(view={**DEFAULT_VIEW, "fps": settings.default_fps})
        self.frames.images.on_ready(self.changed)  # image metrics done in their thread: send them
        self._running = False
        self.speed: float | None = None  # target epochs/s; None = as fast as possible
        self.slowmo = {"on": False, "stage_seconds": 1.5}
        self.stage = 0  # next slow-motion stage
        self.version = 0  # bumped by every change that is not training itself
        self.sent_key: tuple | None = None
        self.seq = 0
        self.metrics_at = 0.0
        self.trained = 0  # epochs trained by the runner, for the measured rate
        self.rate = 0.0
        self._rate_mark = (time.monotonic(), 0)
        self.diverged_reported = False
        self.last_message = time.monotonic()
        self.bucket = TokenBucket(settings.rate_limit, settings.rate_burst)
        self.byte_bucket = TokenBucket(settings.byte_rate, max(settings.max_message_bytes, settings.byte_rate))
        self.wake = asyncio.Event()  # runner: play / pause / speed / slow-motion changed
        self.dirty = asyncio.Event()  # frame sender: paused state changed
        self.send_lock = asyncio.Lock()
        # Held while the trainer is in use (a training chunk, a frame across its parts, a
        # message), so a frame built in parts never mixes two states of the trainer.
        self.busy = asyncio.Lock()
        self.share = Share()
        self.cpu = 0.0  # CPU seconds of this session's work (the share's `used` also jumps)
        # The same split by kind of work, and the training chunks run (for /debug/sessions and
        # scripts/load.py --costs: CPU per epoch, per frame, and the rest of the process's time).
        self.cpu_by = {"train": 0.0, "frames": 0.0, "messages": 0.0}
        self.chunks = 0
        self.frame_cost = 0.0  # CPU seconds the last frame took to build
        self.metrics_cost = 0.002  # CPU seconds a frame with metrics takes (moving average)
        self.frame_done = 0.0  # when it was built (time.monotonic)
        self.frame_due = 0.0  # when the next paced frame is due (time.monotonic)
        self.frame_kick = asyncio.Event()  # set by the training task when a frame is due

    @property
    def running(self) -> bool:
        return self._running

    @running.setter
    def running(self, on: bool) -> None:
        if on != self._running:
            self.load.running += 1 if on else -1
            self._running = on
            self.dirty.set()

    # -- lifecycle -------------------------------------------------------------------------------

    def hello(self) -> dict:
        s = self.settings
        return {
            "type": "hello", "protocol": PROTOCOL, "version": __version__, "session": self.id,
            "config": self.config_echo(), "epoch": self.trainer.epoch,
            "d_steps": self.trainer.d_steps, "g_steps": self.trainer.g_steps,
            "view": dict(self.frames.view), "running": self.running, "worker": os.getpid(),
            "limits": {"max_message_bytes": s.max_message_bytes, "rate_limit": s.rate_limit,
                       "byte_rate": s.byte_rate,
                       "idle_timeout": s.idle_timeout, "max_sessions": s.max_sessions,
                       "max_image_sessions": s.max_image_sessions},
            **({"lab": self.lab} if self.lab is not None else {}),
        }

    async def serve(self, resume: bool = False) -> None:
        """Run until the client leaves, the session idles out, or sending fails (``resume``: a
        session moved to a heavy process, whose client already has its hello)."""
        if not resume:
            try:
                await self._send_text(dumps(self.hello()))
            except Closed:
                return
        self.tasks = {name: asyncio.create_task(c) for name, c in (
            ("receive", self._receive()), ("train", self._train()), ("frames", self._send_frames()))}
        try:
            while True:
                done, _ = await asyncio.wait(set(self.tasks.values()), return_when=asyncio.FIRST_COMPLETED)
                if all(t not in self.tasks.values() for t in done):
                    continue  # tasks the move to a heavy process replaced
                for t in done:
                    if not t.cancelled() and t.exception() and not isinstance(t.exception(), Closed):
                        log.error("session %s failed", self.id, exc_info=t.exception())
                break
        finally:
            self.running = False  # leave the process's count of running sessions
            tasks = list(self.tasks.values()) + ([self.moving] if self.moving else [])
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Finished tasks hold their coroutines' frames (and so this session) through their
            # exceptions: dropped here, so that a closed session is freed without the collector.
            self.tasks, self.moving = {}, None
            if self.remote is not None:
                proc, _ = self.remote
                proc.routes.pop(self.id, None)
                # A lab's session that the client ended: its heavy process sends its final state
                # before it lets go (labs.close_lab keeps it for the lab's next page).
                final = proc.expect(self.id, final=True) if self.lab is not None and self.final_state is None else None
                with contextlib.suppress(Exception):  # the heavy process may be gone already
                    await proc.link.send(CLOSE, self.id, b"")
                    if final is not None:
                        self.final_state = await asyncio.wait_for(final, LAB_STATE_SECONDS)

    # -- moving to a heavy process (offload.py) --------------------------------------------------

    def export_state(self) -> dict:
        """Everything a heavy process needs to carry on exactly (the caller holds ``busy``): the
        trainer's snapshot, and what a snapshot leaves out because it is taken at an epoch
        boundary (an epoch a training chunk left unfinished: its position and its fakes) or
        because it belongs to a link (the schedule)."""
        t = self.trainer
        return {
            # The trainer's class travels by reference: any trainer with snapshot / from_snapshot
            # (an image session's too) moves the same way.
            "id": self.id, "trainer": type(t), "snapshot": t.snapshot(), "pos": t._pos,
            "epoch_fakes": t._epoch_fakes,
            "edits": list(t._edits), "pause_at": t.pause_at,
            "edits_applied": t.edits_applied, "view": dict(self.frames.view), "running": self.running,
            "speed": self.speed, "slowmo": dict(self.slowmo), "stage": self.stage,
            "version": self.version, "seq": self.seq, "edits_reported": self.edits_reported,
            "trained": self.trained, "rate": self.rate,
            "diverged_reported": self.diverged_reported,
            "idle": time.monotonic() - self.last_message, "lab": self.lab,
        }

    @classmethod
    def resumed(cls, ws: Any, settings: Settings, load: Load, state: dict) -> Session:
        """The session of ``state`` (``export_state``) in a heavy process. Its messages were
        rate-limited by the worker that forwards them."""
        self = cls(ws, settings, load)
        self.id = state["id"]
        t = self.trainer = state["trainer"].from_snapshot(state["snapshot"])
        t._edits, t.pause_at, t.edits_applied = state["edits"], state["pause_at"], state["edits_applied"]
        t._pos, t._epoch_fakes = state["pos"], state["epoch_fakes"]
        self.frames = FrameBuilder(view=state["view"])
        for k in ("speed", "slowmo", "stage", "version", "seq", "edits_reported", "trained",
                  "rate", "diverged_reported"):
            setattr(self, k, state[k])
        self._rate_mark = (time.monotonic(), self.trained)
        self.last_message = time.monotonic() - state["idle"]
        self.lab = state["lab"]
        self.bucket = self.byte_bucket = TokenBucket(math.inf, math.inf)
        self.running = state["running"]
        return self

    def heavy_soon(self, why: str) -> None:
        """Move this session to a heavy process as soon as its work in progress is done."""
        if self.heavy is not None and self.remote is None and self.moving is None:
            self.moving = asyncio.create_task(self._move(why))

    async def _move(self, why: str) -> None:
        """Hand the session over to a heavy process: stop this worker's training and frames, send
        the state (mid-epoch if so: finishing a max-config epoch here would take seconds at its
        share of the worker), then forward (``_pump``)."""
        async with self.busy, self.send_lock:
            try:
                proc = await self.heavy.place()
            except Exception:  # no heavy process: the session stays, with its fair share
                log.exception("session %s: no heavy process to move to", self.id)
                self.heavy = None
                return
            stopped = [self.tasks.pop(k) for k in ("train", "frames") if k in self.tasks]
            for task in stopped:
                task.cancel()
            await asyncio.gather(*stopped, return_exceptions=True)
            with self._charged():
                state = pickle.dumps(self.export_state(), protocol=pickle.HIGHEST_PROTOCOL)
            box = Outbox()
            proc.routes[self.id] = box
            self.remote = (proc, box)
            await proc.link.send(OPEN, self.id, state)
            self.running = False  # in this worker's count: it trains elsewhere now
            self.tasks["pump"] = asyncio.create_task(self._pump(box))
        log.info("session %s moved to heavy process %d: %s", self.id, proc.pid, why)

    async def _pump(self, box: Outbox) -> None:
        """Send what the heavy process sends for this client, until it ends the session."""
        while True:
            kind, payload = await box.get()
            if kind == STATS:  # its totals, for /metrics and /debug/sessions
                d = json.loads(payload)
                self.trained, self.seq, self.remote_running = d["trained"], d["seq"], d["running"]
                continue
            if kind == STATE:  # a lab's session ended there: its state, for the lab (labs.py)
                self.final_state = payload
                continue
            if kind == CLOSE:
                info = json.loads(payload or b"{}")
                with contextlib.suppress(Exception):
                    await self.ws.close(info.get("code", 1000), info.get("reason", ""))
                return
            if kind == TEXT and payload.startswith(REPLY_HEADS):
                self.unanswered = max(0, self.unanswered - 1)
                self.answered.set()
            async with self.send_lock:
                try:
                    if kind == TEXT:
                        await self.ws.send_text(payload.decode())
                    else:
                        await self.ws.send_bytes(payload)
                except Exception as e:
                    raise Closed() from e

    async def _reply_here(self, msg: dict) -> None:
        """A reply this worker makes itself (a refusal before any parsing). For a session moved to
        a heavy process it waits until every message forwarded before has been answered there, so
        that replies keep the order of their messages (docs/protocol.md)."""
        while self.remote is not None and self.unanswered > 0:
            self.answered.clear()
            await self.answered.wait()
        await self.send(msg)

    async def _forward(self, kind: int, payload: bytes) -> None:
        """Pass a client message on to the heavy process. Every text message gets one reply, so
        at most ``MAX_UNANSWERED`` are in flight: beyond, this connection is read no further and
        a flood waits in its sender's buffers instead of the heavy process's memory."""
        if kind == TEXT:
            while self.unanswered >= MAX_UNANSWERED:
                self.answered.clear()
                await self.answered.wait()
            self.unanswered += 1
        proc, _ = self.remote
        await proc.link.send(kind, self.id, payload)

    async def close_for_shutdown(self, code: int, reason: str) -> None:
        """The server is going away (shutdown.py): stop training at an epoch boundary, send the
        final state (``moving``, docs/protocol.md) and close with ``code``. Both locks are held
        throughout, so no frame saying "paused" slips out: the client resumes where it was. A
        session moved to a heavy process does this there (its trainer is there)."""
        self.heavy = None  # no move may begin now
        if self.moving is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.moving)
        if self.remote is not None:
            proc, _ = self.remote
            await proc.link.send(SHUTDOWN, self.id, json.dumps({"code": code, "reason": reason}).encode())
            return
        async with self.busy, self.send_lock:
            was_running = self.running
            self.running = False
            self.settle()
            t = self.trainer
            await self._send_text(dumps({
                "type": "moving", "running": was_running, "epoch": t.epoch,
                "message": "this server is shutting down; reconnect and restore this snapshot",
                "snapshot": t.snapshot()}))
            with contextlib.suppress(Exception):
                await self.ws.close(code, reason)

    # -- sending ---------------------------------------------------------------------------------

    async def _send_text(self, text: str) -> None:
        try:
            await self.ws.send_text(text)
        except Exception as e:  # disconnect, closed transport, runtime state errors: all "gone"
            raise Closed() from e

    async def send(self, msg: dict) -> None:
        async with self.send_lock:
            await self._send_text(dumps(msg))

    def _key(self) -> tuple:
        t = self.trainer
        return (self.version, t.epoch, t.d_steps, t.g_steps)

    async def send_frame(self, stage: int | None = None, if_changed: bool = False) -> None:
        """Build the current state's frame and send it (JSON, then its binary half)."""
        async with self.busy:
            frame = await self._build_frame(stage, if_changed)
        if frame is not None:
            async with self.send_lock:
                await self._send_built(frame)
        await self.check_status()

    async def _build_frame(self, stage: int | None, if_changed: bool) -> tuple | None:
        """(head JSON, binary body, state key) of the current state, or None when unchanged
        (``if_changed``) or when building failed. The caller holds ``busy``."""
        t = self.trainer
        key = self._key()
        if if_changed and key == self.sent_key:
            return None
        # Metrics cost more than all layers together (~2 ms against ~0.2 ms): while running
        # they come at `metrics_hz`, and the running sessions of a process spend at most
        # `metrics_share` of its time on them (so at most `metrics_share / (cost x sessions)`
        # per second each) and compute at most `metrics_budget` a second; every frame of a
        # paused session or a slow-motion stage carries them.
        now = time.monotonic()
        s, peers = self.settings, self.running_peers()
        hz = min(s.metrics_hz, s.metrics_budget / peers, s.metrics_share / (self.metrics_cost * peers))
        with_metrics = not self.running or stage is not None or now - self.metrics_at >= 1.0 / hz
        if with_metrics:
            self.metrics_at = now
        self.load.want(self.share)  # until the frame is built (no lock or send waits inside)
        used = self.share.used
        extent = list(self.frames.view["extent"])  # what this frame's heatmap / D* grids cover
        try:
            parts = self.frames.parts(t, with_metrics)
            frame = None
            stretch = self.settings.chunk_seconds
            while frame is None:
                # Parts run back to back until a stretch of ``chunk_seconds`` has passed: a
                # default frame (~0.2 ms, ~2.5 ms with metrics) is one stretch, not one per part
                # (each costs two CPU-clock system calls and a loop turn); a heavy frame still
                # gives the loop back after every network pass.
                with self._charged("frames"):
                    end = time.perf_counter() + stretch
                    try:
                        while True:
                            next(parts)
                            if time.perf_counter() >= end:
                                break
                    except StopIteration as done:
                        layers, metrics = done.value
                        self.seq += 1
                        head = {
                            "type": "frame", "seq": self.seq, "epoch": t.epoch, "d_steps": t.d_steps,
                            "g_steps": t.g_steps, "running": self.running,
                            "epochs_per_sec": self.epochs_per_sec(), "losses": t.losses,
                            "metrics": metrics, "layers": list(layers), "extent": extent,
                            "stage": None if stage is None else
                            {"index": stage, "name": STAGES[stage][0], "caption": STAGES[stage][1]},
                            **frame_extras(self),  # image data: shape, classes, capped notice
                        }
                        frame = dumps(head), encode(self.seq, layers), key
                if frame is None:
                    await self._turn()
            self.frame_cost, self.frame_done = self.share.used - used, time.monotonic()
            if with_metrics:
                self.metrics_cost = 0.7 * self.metrics_cost + 0.3 * max(self.frame_cost, 1e-4)
            if self.frame_cost > self.settings.heavy_frame:
                self.heavy_soon(f"{1000 * self.frame_cost:.0f} ms per frame")
            return frame
        except Exception:  # a bug in a view must cost frames, not the session
            log.exception("session %s: building a frame failed", self.id)
            self.sent_key = key  # retried when the state changes, not in a hot loop
            return None
        finally:
            self.load.unwant(self.share, idle=not self.running)  # paused: it sleeps next

    async def _send_built(self, frame: tuple) -> None:
        """Send a built frame; the caller holds ``send_lock``."""
        head, body, key = frame
        await self._send_text(head)
        try:
            await self.ws.send_bytes(body)
        except Exception as e:
            raise Closed() from e
        self.sent_key = key

    async def check_status(self) -> None:
        """Report divergence once, when training stops by itself."""
        t = self.trainer
        if t.status.ok:
            self.diverged_reported = False
        elif not self.diverged_reported:
            self.diverged_reported = True
            self.running = False
            await self.send({"type": "status", "running": False, "epoch": t.epoch,
                             "state": t.status.state, "message": t.status.message})

    def epochs_per_sec(self) -> float:
        """Epochs trained per second over the last ~0.5 s (0 while paused)."""
        now = time.monotonic()
        t0, e0 = self._rate_mark
        if now - t0 >= 0.5:
            self.rate = (self.trained - e0) / (now - t0)
            self._rate_mark = (now, self.trained)
        return round(self.rate, 1) if self.running else 0.0

    # -- the three tasks -------------------------------------------------------------------------

    async def _receive(self) -> None:
        ws, s = self.ws, self.settings
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
            self.last_message = time.monotonic()
            text = msg.get("text")
            if text is None and self.remote is not None:
                data = msg.get("bytes") or b""
                if self.bucket.take(1 + len(data) // BIG_MESSAGE) and self.byte_bucket.take(len(data)):
                    await self._forward(BYTES, data)
                    continue
                await self.send(error(None, "rate_limited", f"more than {s.rate_limit:g} messages or "
                                      f"{s.byte_rate / MiB:g} MiB per second"))
                await asyncio.sleep(max(1.0 / s.rate_limit, len(data) / s.byte_rate))
                continue
            if text is None:
                if self.incoming is not None and self.bucket.take(1):
                    await self.handle_bytes(msg.get("bytes") or b"")  # an announced binary restore
                    continue
                await self._reply_here(error(None, "binary_not_allowed",
                                      "binary messages are accepted only as an announced binary "
                                      "restore; send JSON text"))
                continue
            if self.incoming is not None:  # the announced binary snapshot did not come
                mid, size = self.incoming
                self.incoming = None
                await self._reply_here(error(mid, "bad_snapshot", f"restore.binary: a binary message of "
                                      f"{size} bytes was announced; a text message came instead"))
            size = len(text) if len(text) * 4 <= s.max_message_bytes else len(text.encode())
            if size > s.max_message_bytes:
                await self._reply_here(error(None, "too_large",
                                      f"message of {size} bytes; the limit is {s.max_message_bytes}"))
                continue
            if not self.bucket.take(1 + size // BIG_MESSAGE) or not self.byte_bucket.take(size):
                mid = m.peek_id(text) if size < 4096 else None
                await self._reply_here(error(mid, "rate_limited",
                                      f"more than {s.rate_limit:g} messages or "
                                      f"{s.byte_rate / MiB:g} MiB per second"))
                # Reading more slowly pushes a flood back onto the sender's TCP buffers
                # instead of spending this process's CPU on it.
                await asyncio.sleep(max(1.0 / s.rate_limit, size / s.byte_rate))
                continue
            if size > BIG_MESSAGE and self.remote is None and self.heavy is not None:
                # Parsing and applying a big message costs ~100 ms of CPU per MB: the session
                # moves first, and that work is done in its heavy process.
                self.heavy_soon(f"a message of {size} bytes")
            if self.moving is not None:
                await asyncio.shield(self.moving)
            if self.remote is not None:
                await self._forward(TEXT, text.encode())
                continue
            # A session ahead of its share reads its next message later; the others handle it
            # at once (no extra loop pass: a pause or play is acted on without delay).
            with self._wanting():
                await self._turn(yield_first=False)
            await self.handle(text)

    def usage(self) -> dict:
        """What this session has cost its process so far (``/debug/sessions``); a session moved
        to a heavy process names it (its own accounting is there)."""
        return {"session": self.id, "cpu": round(self.cpu, 4), "epochs": self.trained,
                "frames": self.seq, "running": self.running, "chunks": self.chunks,
                "cpu_by": {k: round(v, 4) for k, v in self.cpu_by.items()},
                "process": self.remote[0].pid if self.remote else os.getpid()}

    def running_peers(self) -> int:
        return max(1, self.load.running)

    @contextlib.contextmanager
    def _wanting(self):
        """This session has work ready for the CPU inside (compute and fair-share waits only:
        a session waiting for a lock or a send must not hold the least-served level down, or
        everyone ahead of it would wait for it)."""
        self.load.want(self.share)
        try:
            yield
        finally:
            self.load.unwant(self.share, idle=not self.running)  # paused: it sleeps next

    def _charged(self, kind: str = "messages") -> Charged:
        """Charge the synchronous work inside (a ``with`` block) to this session's share (CPU
        time of the thread: no await may happen inside, or other sessions' work would be charged
        too), and to its ``kind`` of work (``cpu_by``)."""
        return Charged(self, kind)

    async def _turn(self, yield_first: bool = True) -> None:
        """Let the loop run others once (``yield_first``), then wait while this session is more
        than ``FAIR_SLACK`` CPU seconds ahead of the least-served session that wants the CPU."""
        if yield_first:
            await asyncio.sleep(0)
        while (lead := self.load.lead(self.share)) > FAIR_SLACK:
            await asyncio.sleep(min(lead, FAIR_NAP))

    async def _train(self) -> None:
        s = self.settings
        per_epoch = 2e-4  # seconds per epoch, learned as training runs
        tokens, last = 0.0, time.monotonic()
        wanting = False  # whether the training task counts in this session's wants

        def want(on: bool, idle: bool = True) -> None:
            nonlocal wanting
            if on != wanting:
                if on:
                    self.load.want(self.share)
                else:
                    self.load.unwant(self.share, idle)
                wanting = on

        try:
            while True:
                t = self.trainer
                if not self.running:
                    want(False)
                    self.wake.clear()
                    await self.wake.wait()
                    tokens, last = 0.0, time.monotonic()
                    continue
                if self.slowmo["on"]:
                    want(False)
                    await self._stage()
                    continue
                # All running sessions take one chunk per event-loop pass, so chunks shrink as
                # sessions multiply: a pass (and so the wait of any command) stays near
                # `round_seconds`. A chunk stops after the update that passes its time limit.
                chunk = min(s.chunk_seconds, s.round_seconds / self.running_peers())
                n = max(1, int(chunk / per_epoch))
                speed = pace(self)  # the session's speed; capped for image sessions past the limit
                if speed is not None:
                    now = time.monotonic()
                    tokens = min(tokens + (now - last) * speed, max(1.0, speed * 0.05))
                    last = now
                    if tokens < 1:
                        want(False)
                        await self._nap((1 - tokens) / speed)
                        continue
                    n = min(n, int(tokens))
                if self.busy.locked():
                    # Waiting for the lock (a frame or a message of this session, which may be
                    # blocked on a slow client's send) is not work ready for the CPU. A free lock
                    # is taken without a turn of the loop, so the session keeps wanting from one
                    # chunk to the next: a running session that only left the set between its
                    # chunks would rejoin at the least-served level each time and lose what it
                    # is owed, and a heavy neighbour would never wait (measured: a max-config
                    # session took 49% of the worker beside six default sessions at 7% each).
                    want(False, idle=False)
                async with self.busy:
                    want(True)
                    await self._turn(yield_first=False)  # the loop ran others after the last chunk
                    if not self.running or self.slowmo["on"]:
                        continue  # paused (or slowed) while waiting for the turn
                    t = self.trainer
                    t0 = time.perf_counter()
                    target = t.pause_at
                    failed = None
                    updates, cpu = t.d_steps + t.g_steps, self.cpu
                    try:
                        with self._charged("train"):
                            done = t.train(n, seconds=chunk)
                        self.chunks += 1
                    except Exception as e:  # a bug must stop this session's training, not the session
                        log.exception("session %s: training failed", self.id)
                        failed = e
                if failed is not None:
                    want(False)
                    self.running = False
                    await self.send({"type": "status", "running": False, "epoch": t.epoch,
                                     "state": "error", "message": f"{type(failed).__name__}: {failed}"})
                    continue
                updates = t.d_steps + t.g_steps - updates
                if updates and (self.cpu - cpu) / updates > s.heavy_update:
                    self.heavy_soon(f"{1000 * (self.cpu - cpu) / updates:.1f} ms per update")
                elif getattr(t, "image_shape", None) is not None:
                    self.heavy_soon("an image session")  # a core each at full speed (issue 10)
                if done:
                    per_epoch = 0.7 * per_epoch + 0.3 * (time.perf_counter() - t0) / done
                    tokens -= done
                    self.trained += done
                if not t.status.ok:
                    await self.check_status()
                await self.report_schedule(target)
                if (self.running and not self.slowmo["on"] and time.monotonic() >= self.frame_due
                        and self.settings.frame_kick):
                    self.frame_kick.set()
                await asyncio.sleep(0)  # every other ready session runs before our next chunk
        finally:
            want(False)

    async def report_schedule(self, target: int | None = None) -> None:
        """Tell the client about scheduled edits just applied (``scheduled``, with the config now
        in force) and about reaching the schedule's ``pause_at`` (a ``status``)."""
        t = self.trainer
        if t.edits_applied > self.edits_reported:
            self.edits_reported = t.edits_applied
            await self.send({"type": "scheduled", "epoch": t.epoch, "applied": t.edits_applied,
                             "remaining": t.edits_pending, "config": self.config_echo()})
        if target is not None and t.pause_at is None and self.running:
            self.running = False
            await self.send({"type": "status", "running": False, "epoch": t.epoch, "state": "ok",
                             "message": f"paused at epoch {t.epoch}, as scheduled"})

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early on play / pause / speed / slow-motion changes."""
        self.wake.clear()
        await wait_event(self.wake, seconds)

    async def _stage(self) -> None:
        """One slow-motion stage: apply its updates, send its frame, wait ``stage_seconds``."""
        i, t = self.stage, self.trainer
        ok = True
        async with self.busy:
            if i == D_UPDATE:
                ok = all(t.step("discriminator") for _ in range(t.config.k_d))
            elif i == G_UPDATE:
                ok = all(t.step("generator") for _ in range(t.config.k_g))
                if ok:
                    t.epoch += 1
                    self.trained += 1
        if not ok:
            await self.check_status()
            return
        self.stage = (i + 1) % len(STAGES)
        await self.send_frame(stage=i)
        await self._nap(self.slowmo["stage_seconds"])

    def _fps(self) -> float:
        """The view's frame rate, within the process's frame budget while running."""
        fps = self.frames.view["fps"]
        if self.running:  # frames share a per-process budget so that they cannot starve training
            fps = min(fps, max(1.0, self.settings.frame_budget / self.running_peers()))
        return fps

    async def _send_frames(self) -> None:
        """Paced frames: at ``_fps()``, woken by the timer or, while training runs, by the
        training task between two chunks (``frame_kick``), whichever comes first. The timer's
        wake-up alone comes one to two passes of the loop late (an expired timer runs after the
        callbacks already queued: every other running session's chunk), 45 ms at 20 sessions a
        worker, which held the 26 frames/s asked for to 21.6; a kick is at most a pass late,
        which the schedule absorbs (``next_frame_due``). The frame is still built and sent here,
        so a slow client's send holds up its frames, never its training."""
        s = self.settings
        # The first frame one period after the hello, as every later one: a client's first
        # message (a restore after a reconnection, a data or step) is answered before a frame of
        # the fresh state goes out (with none, such a frame came first on a slow machine).
        self.frame_due = time.monotonic() + 1.0 / self._fps()
        while True:
            self.frame_kick.clear()
            await wait_event(self.frame_kick, self.frame_due - time.monotonic())
            if not self.running and self._key() == self.sent_key:
                # Paused and drawn: sleep until something changes (or it is time to idle out).
                self.dirty.clear()
                left = s.idle_timeout - (time.monotonic() - self.last_message)
                await wait_event(self.dirty, max(0.0, left) + 0.01)
                self.frame_due = time.monotonic()
            if not self.running and time.monotonic() - self.last_message > s.idle_timeout:
                # Already closing is fine: the session ends either way.
                with contextlib.suppress(Exception):
                    await self.ws.close(1001, "idle timeout")
                return
            if not (self.running and self.slowmo["on"]):  # stage frames replace paced frames
                await self.send_frame(if_changed=True)
            self.frame_due = next_frame_due(self.frame_due, time.monotonic(), self._fps(),
                                            self.frame_done + self.frame_cost)

    # -- commands --------------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Apply one client message and send its one reply (plus a frame after a step)."""
        async with self.busy:
            if self.remote is not None:  # moved while this message waited
                await self._forward(TEXT, text.encode())
                return
            with self._wanting():
                with self._charged():
                    msg = self._parse(text)
                if len(text) > BIG_MESSAGE and not isinstance(msg, dict):
                    await self._turn()  # parsing a big message was one stretch; applying it another
                if isinstance(msg, m.Step) and msg.mode == "both" and not self.slowmo["on"]:
                    await self._step_in_slices()
                elif isinstance(msg, SETTLING):
                    # What `settle` would do in one stretch (up to a whole epoch: ~0.6 s on the
                    # maximum config, measured under a flood of `config` messages), in slices.
                    await self._train_while(lambda: self.trainer.mid_epoch, last_turn=False)
                with self._charged():
                    msg_type, reply = (None, msg) if isinstance(msg, dict) else self._apply(msg, text)
                out = await self._encode(reply)
            if msg_type == "step":
                # The ack and the step's one frame go out back to back under one lock hold, so
                # the paced sender can neither slip a frame in between nor repeat the frame
                # after it.
                frame = await self._build_frame(None, if_changed=False)
                async with self.send_lock:
                    await self._send_text(out)
                    if frame is not None:
                        await self._send_built(frame)
                await self.check_status()
                await self.report_schedule()
                return
        if msg_type == "restore" and self.incoming is not None:
            return  # a binary restore: its reply follows the binary message (handle_bytes)
        async with self.send_lock:
            await self._send_text(out)
            if self.outgoing is not None:  # a binary snapshot follows its ack directly
                body, self.outgoing = self.outgoing, None
                try:
                    await self.ws.send_bytes(body)
                except Exception as e:
                    raise Closed() from e
        if msg_type in ("config", "data", "restore"):
            await self.check_status()

    async def handle_bytes(self, data: bytes) -> None:
        """The binary message of an announced restore: restore it and send the one reply."""
        async with self.busy:
            with self._wanting():
                try:
                    mid = self.take_incoming(data)
                    # Decoding and checking megabytes of state takes 0.1-0.3 s: in a thread, with
                    # the trainer held (busy) so that nothing else touches it meanwhile.
                    try:
                        await asyncio.to_thread(snapshots.restore_bytes, self.trainer, data)
                        failed = None
                    except ValueError as e:
                        failed = e
                    with self._charged():
                        out = dumps({"type": "ack", "id": mid, **self.restored(mid, failed)})
                except m.ProtocolError as e:
                    out = dumps(error(e.id, e.code, e.message))
                except Exception as e:  # a bug must cost one reply, not the session
                    log.exception("session %s: binary restore failed", self.id)
                    out = dumps(error(None, "internal", f"{type(e).__name__}: {e}"[:500]))
        async with self.send_lock:
            await self._send_text(out)
        await self.check_status()

    async def _step_in_slices(self) -> None:
        """A ``step``'s work before ``on_step``, in chunks with turns of the loop between (one
        epoch of the maximum config is ~0.65 s of CPU): first the rest of an epoch that a
        training chunk left unfinished (what ``settle`` does in one stretch), then all but the
        last update of the step's own epoch; ``on_step`` applies that last one. Sliced training
        is bit-identical to unsliced, so the step's result is unchanged."""
        t = self.trainer
        self.running = False
        await self._train_while(lambda: t.mid_epoch)
        await self._train_while(lambda: t.updates_left > 1)
        self.step_begun = t.mid_epoch  # on_step must finish this epoch, not settle it and add one

    async def _train_while(self, more, last_turn: bool = True) -> None:
        """Single updates while ``more()`` holds, a chunk of ``chunk_seconds`` per loop turn;
        without ``last_turn``, no turn after the last chunk: the rest of a default epoch (a few
        updates) that a ``pause`` settles fits one chunk, and its ack then leaves without waiting
        for another pass of the loop over every running session (~20 ms at 20 a worker)."""
        t, s = self.trainer, self.settings
        while t.status.ok and more():
            end = time.perf_counter() + s.chunk_seconds
            with self._charged():
                while t.status.ok and more() and time.perf_counter() < end:
                    t.train(1, seconds=0)  # exactly one update
            if last_turn or (t.status.ok and more()):
                await self._turn()

    def _parse(self, text: str) -> m.Message | dict:
        """The validated message, or the error reply as a dict."""
        try:
            return m.parse(text)
        except m.ProtocolError as e:
            return error(e.id, e.code, e.message)
        except Exception as e:  # a bug must cost one reply, not the session
            log.exception("session %s: parsing a message failed", self.id)
            return error(m.peek_id(text), "internal", f"{type(e).__name__}: {e}"[:500])

    def _apply(self, msg: m.Message, text: str) -> tuple[str | None, dict]:
        """Apply a message: (its type, the ack), or (None, the error reply)."""
        try:
            reply = getattr(self, "on_" + msg.type)(msg)
        except m.ProtocolError as e:
            return None, error(e.id, e.code, e.message)
        except Exception as e:  # a bug must cost one reply, not the session
            log.exception("session %s: message failed", self.id)
            return None, error(m.peek_id(text), "internal", f"{type(e).__name__}: {e}"[:500])
        return msg.type, {"type": "ack", "id": msg.id, **reply}

    async def _encode(self, msg: dict) -> str:
        """JSON text of a reply, encoded in parts (an ack echoing an uploaded point set is long),
        each charged to this session, with a turn of the loop between parts."""
        parts = dumps_parts(msg)
        while True:
            with self._charged():
                try:
                    next(parts)
                except StopIteration as done:
                    return done.value
            await self._turn()


def error(mid: Any, code: str, message: str) -> dict:
    return {"type": "error", "id": mid, "code": code, "message": message}


__all__ = ["PROTOCOL", "STAGES", "Session", "TokenBucket"]
