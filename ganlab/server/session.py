"""One live training session per websocket: commands in, frames out (docs/protocol.md).

Each session runs three tasks on the process's event loop, ending together:

- ``_receive``: reads client messages, validates them, applies them and replies (one reply each);
- ``_train``: trains in chunks of about ``chunk_seconds`` inline on the loop, yielding after
  each chunk. Inline rather than in threads: numpy's small operations hold the GIL, so threads
  only add switching cost (measured: 2 threads train 13% fewer epochs than 1, 4 threads 36%),
  while a yield per chunk lets a ``pause`` act before the next chunk. A chunk ends after the
  update that passes its time limit, even inside an epoch (``Trainer.train`` resumes there);
- ``_send_frames``: wakes at ``view.fps`` and sends the current state if it changed, built in
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
import logging
import os
import secrets
import time
from typing import Any

from starlette.websockets import WebSocket

from ganlab import Trainer, __version__

from . import messages as m
from .commands import D_UPDATE, G_UPDATE, STAGES, Commands
from .frames import dumps, dumps_parts, encode
from .layers import DEFAULT_VIEW, FrameBuilder
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


class Share:
    """A session's account of the process's time: CPU seconds used while it wanted the CPU."""

    __slots__ = ("used", "wants")

    def __init__(self) -> None:
        self.used = 0.0
        self.wants = 0  # tasks of the session that have work ready (training, a frame, a message)


class Load:
    """What the sessions of one process share: how many are running (chunks and frame rates
    are divided among them) and the shares of those that want the CPU now."""

    def __init__(self) -> None:
        self.running = 0
        self.active: dict[int, Share] = {}  # id -> share, for shares with wants > 0

    def want(self, share: Share) -> None:
        """A task of ``share``'s session has work ready. A share joining the set starts no lower
        than the least-served member (sleeping earns no credit)."""
        if share.wants == 0:
            floor = self.floor(share)
            if floor is not None and share.used < floor:
                share.used = floor
            self.active[id(share)] = share
        share.wants += 1

    def unwant(self, share: Share) -> None:
        share.wants -= 1
        if share.wants == 0:
            self.active.pop(id(share), None)

    def floor(self, share: Share) -> float | None:
        """The least CPU time used by another share in the set (None if there is none)."""
        return min((s.used for s in self.active.values() if s is not share), default=None)

    def lead(self, share: Share) -> float:
        """How far ``share`` is ahead of the least-served other share that wants the CPU."""
        floor = self.floor(share)
        return 0.0 if floor is None else share.used - floor


class Closed(Exception):
    """The websocket is gone; the session ends."""


class Session(Commands):
    """A trainer, its view and pacing, bound to one websocket."""

    def __init__(self, ws: WebSocket, settings: Settings, load: Load | None = None):
        self.ws, self.settings = ws, settings
        self.load = load or Load()  # shared by this process's sessions
        self.id = secrets.token_hex(8)
        self.trainer = Trainer()
        self.frames = FrameBuilder(view={**DEFAULT_VIEW, "fps": settings.default_fps})
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
        self.frame_cost = 0.0  # CPU seconds the last frame took to build
        self.frame_done = 0.0  # when it was built (time.monotonic)

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
            "view": dict(self.frames.view), "running": self.running, "worker": os.getpid(),
            "limits": {"max_message_bytes": s.max_message_bytes, "rate_limit": s.rate_limit,
                       "byte_rate": s.byte_rate,
                       "idle_timeout": s.idle_timeout, "max_sessions": s.max_sessions},
        }

    async def serve(self) -> None:
        """Run until the client leaves, the session idles out, or sending fails."""
        try:
            await self._send_text(dumps(self.hello()))
        except Closed:
            return
        tasks = [asyncio.create_task(c) for c in (self._receive(), self._train(), self._send_frames())]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if not t.cancelled() and t.exception() and not isinstance(t.exception(), Closed):
                    log.error("session %s failed", self.id, exc_info=t.exception())
        finally:
            self.running = False  # leave the process's count of running sessions
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close_for_shutdown(self, code: int, reason: str) -> None:
        """The server is going away (shutdown.py): stop training at an epoch boundary, send the
        final state (``moving``, docs/protocol.md) and close with ``code``. Both locks are held
        throughout, so no frame saying "paused" slips out: the client resumes where it was."""
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
        # Metrics cost more than all layers together (~1 ms): while running they come at
        # `metrics_hz`; every frame of a paused session or a slow-motion stage carries them.
        now = time.monotonic()
        hz = min(self.settings.metrics_hz, self.settings.metrics_budget / self.running_peers())
        with_metrics = not self.running or stage is not None or now - self.metrics_at >= 1.0 / hz
        if with_metrics:
            self.metrics_at = now
        self.load.want(self.share)  # until the frame is built (no lock or send waits inside)
        used = self.share.used
        extent = list(self.frames.view["extent"])  # what this frame's heatmap / D* grids cover
        try:
            parts = self.frames.parts(t, with_metrics)
            while True:
                with self._charged():
                    try:
                        next(parts)
                    except StopIteration as done:
                        layers, metrics = done.value
                        break
                await self._turn()
            with self._charged():
                self.seq += 1
                head = {
                    "type": "frame", "seq": self.seq, "epoch": t.epoch, "d_steps": t.d_steps,
                    "g_steps": t.g_steps, "running": self.running,
                    "epochs_per_sec": self.epochs_per_sec(), "losses": t.losses,
                    "metrics": metrics, "layers": list(layers), "extent": extent,
                    "stage": None if stage is None else
                    {"index": stage, "name": STAGES[stage][0], "caption": STAGES[stage][1]},
                }
                frame = dumps(head), encode(self.seq, layers), key
            self.frame_cost, self.frame_done = self.share.used - used, time.monotonic()
            return frame
        except Exception:  # a bug in a view must cost frames, not the session
            log.exception("session %s: building a frame failed", self.id)
            self.sent_key = key  # retried when the state changes, not in a hot loop
            return None
        finally:
            self.load.unwant(self.share)

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
            if text is None:
                await self.send(error(None, "binary_not_allowed",
                                      "binary messages are not accepted; send JSON text"))
                continue
            size = len(text) if len(text) * 4 <= s.max_message_bytes else len(text.encode())
            if size > s.max_message_bytes:
                await self.send(error(None, "too_large",
                                      f"message of {size} bytes; the limit is {s.max_message_bytes}"))
                continue
            if not self.bucket.take(1 + size // BIG_MESSAGE) or not self.byte_bucket.take(size):
                mid = m.peek_id(text) if size < 4096 else None
                await self.send(error(mid, "rate_limited",
                                      f"more than {s.rate_limit:g} messages or "
                                      f"{s.byte_rate / MiB:g} MiB per second"))
                # Reading more slowly pushes a flood back onto the sender's TCP buffers
                # instead of spending this process's CPU on it.
                await asyncio.sleep(max(1.0 / s.rate_limit, size / s.byte_rate))
                continue
            # A session ahead of its share reads its next message later; the others handle it
            # at once (no extra loop pass: a pause or play is acted on without delay).
            with self._wanting():
                await self._turn(yield_first=False)
            await self.handle(text)

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
            self.load.unwant(self.share)

    @contextlib.contextmanager
    def _charged(self):
        """Charge the synchronous work inside to this session's share (CPU time of the thread:
        no await may happen inside, or other sessions' work would be charged too)."""
        t0 = time.thread_time()
        try:
            yield
        finally:
            self.share.used += time.thread_time() - t0

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

        def want(on: bool) -> None:
            nonlocal wanting
            if on != wanting:
                (self.load.want if on else self.load.unwant)(self.share)
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
                if self.speed is not None:
                    now = time.monotonic()
                    tokens = min(tokens + (now - last) * self.speed, max(1.0, self.speed * 0.05))
                    last = now
                    if tokens < 1:
                        want(False)
                        await self._nap((1 - tokens) / self.speed)
                        continue
                    n = min(n, int(tokens))
                want(False)  # waiting for the lock is not work ready for the CPU
                async with self.busy:
                    want(True)
                    await self._turn(yield_first=False)  # the loop ran others after the last chunk
                    if not self.running or self.slowmo["on"]:
                        continue  # paused (or slowed) while waiting for the turn
                    t = self.trainer
                    t0 = time.perf_counter()
                    target = t.pause_at
                    failed = None
                    try:
                        with self._charged():
                            done = t.train(n, seconds=chunk)
                    except Exception as e:  # a bug must stop this session's training, not the session
                        log.exception("session %s: training failed", self.id)
                        failed = e
                want(False)
                if failed is not None:
                    self.running = False
                    await self.send({"type": "status", "running": False, "epoch": t.epoch,
                                     "state": "error", "message": f"{type(failed).__name__}: {failed}"})
                    continue
                if done:
                    per_epoch = 0.7 * per_epoch + 0.3 * (time.perf_counter() - t0) / done
                    tokens -= done
                    self.trained += done
                if not t.status.ok:
                    await self.check_status()
                await self.report_schedule(target)
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
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

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

    async def _send_frames(self) -> None:
        s = self.settings
        due = time.monotonic()
        while True:
            now = time.monotonic()
            # Frames share a per-process budget so that under load they cannot starve training.
            fps = self.frames.view["fps"]
            if self.running:
                fps = min(fps, max(1.0, s.frame_budget / self.running_peers()))
            # Never catch up in bursts; and a frame that cost c CPU seconds to build is followed
            # by at least c seconds without one, so a heavy view takes at most half of its
            # session's share and training keeps the rest.
            due = max(due + 1.0 / fps, now, self.frame_done + self.frame_cost)
            await asyncio.sleep(due - now)
            if not self.running and self._key() == self.sent_key:
                # Paused and drawn: sleep until something changes (or it is time to idle out).
                self.dirty.clear()
                left = s.idle_timeout - (time.monotonic() - self.last_message)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.dirty.wait(), max(0.0, left) + 0.01)
                due = time.monotonic()
            if not self.running and time.monotonic() - self.last_message > s.idle_timeout:
                # Already closing is fine: the session ends either way.
                with contextlib.suppress(Exception):
                    await self.ws.close(1001, "idle timeout")
                return
            if self.running and self.slowmo["on"]:
                continue  # stage frames replace paced frames
            await self.send_frame(if_changed=True)

    # -- commands --------------------------------------------------------------------------------

    async def handle(self, text: str) -> None:
        """Apply one client message and send its one reply (plus a frame after a step)."""
        async with self.busy:
            with self._wanting():
                with self._charged():
                    msg = self._parse(text)
                if len(text) > BIG_MESSAGE and not isinstance(msg, dict):
                    await self._turn()  # parsing a big message was one stretch; applying it another
                if isinstance(msg, m.Step) and msg.mode == "both" and not self.slowmo["on"]:
                    await self._step_in_slices()
                with self._charged():
                    msg_type, reply = (None, msg) if isinstance(msg, dict) else self._apply(msg, text)
                out = await self._encode(reply)
            if msg_type is None:  # an error reply
                async with self.send_lock:
                    await self._send_text(out)
                return
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
        async with self.send_lock:
            await self._send_text(out)
        if msg_type in ("config", "data", "restore"):
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

    async def _train_while(self, more) -> None:
        """Single updates while ``more()`` holds, a chunk of ``chunk_seconds`` per loop turn."""
        t, s = self.trainer, self.settings
        while t.status.ok and more():
            end = time.perf_counter() + s.chunk_seconds
            with self._charged():
                while t.status.ok and more() and time.perf_counter() < end:
                    t.train(1, seconds=0)  # exactly one update
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
