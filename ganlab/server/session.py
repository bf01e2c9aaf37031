"""One live training session per websocket: commands in, frames out (docs/protocol.md).

Each session runs three tasks on the process's event loop, ending together:

- ``_receive``: reads client messages, validates them, applies them and replies (one reply each);
- ``_train``: trains in chunks of about ``chunk_seconds`` inline on the loop, yielding after
  each chunk. Inline rather than in threads: numpy's small operations hold the GIL, so threads
  only add switching cost (measured: 2 threads train 13% fewer epochs than 1, 4 threads 36%),
  while a yield per chunk gives round-robin fairness across sessions and lets a ``pause`` act
  before the next chunk;
- ``_send_frames``: wakes at ``view.fps`` and sends the current state if it changed. A send that
  blocks (slow client) delays only this session's next frame: latest state wins, no queue.
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
from .frames import dumps, encode
from .layers import DEFAULT_VIEW, FrameBuilder
from .settings import Settings

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


class Load:
    """What the sessions of one process share: how many are running (chunks and frame rates
    are divided among them)."""

    running = 0


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
        self.wake = asyncio.Event()  # runner: play / pause / speed / slow-motion changed
        self.dirty = asyncio.Event()  # frame sender: paused state changed
        self.send_lock = asyncio.Lock()

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
        async with self.send_lock:
            await self._send_frame_locked(stage, if_changed)
        await self.check_status()

    async def _send_frame_locked(self, stage: int | None, if_changed: bool) -> None:
        t = self.trainer
        key = self._key()
        if if_changed and key == self.sent_key:
            return
        # Metrics cost more than all layers together (~1 ms): while running they come at
        # `metrics_hz`; every frame of a paused session or a slow-motion stage carries them.
        now = time.monotonic()
        hz = min(self.settings.metrics_hz, self.settings.metrics_budget / self.running_peers())
        with_metrics = not self.running or stage is not None or now - self.metrics_at >= 1.0 / hz
        if with_metrics:
            self.metrics_at = now
        try:
            layers, metrics = self.frames.build(t, with_metrics)
        except Exception:  # a bug in a view must cost frames, not the session
            log.exception("session %s: building a frame failed", self.id)
            self.sent_key = key  # retried when the state changes, not in a hot loop
            return
        self.seq += 1
        head = {
            "type": "frame", "seq": self.seq, "epoch": t.epoch, "d_steps": t.d_steps,
            "g_steps": t.g_steps, "running": self.running, "epochs_per_sec": self.epochs_per_sec(),
            "losses": t.losses, "metrics": metrics, "layers": list(layers),
            "extent": self.frames.view["extent"],  # what the heatmap / D* grids cover
            "stage": None if stage is None else
            {"index": stage, "name": STAGES[stage][0], "caption": STAGES[stage][1]},
        }
        body = encode(self.seq, layers)
        await self._send_text(dumps(head))
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
            if not self.bucket.take(1 + size // BIG_MESSAGE):
                mid = m.peek_id(text) if size < 4096 else None
                await self.send(error(mid, "rate_limited",
                                      f"more than {s.rate_limit:g} messages per second"))
                # Reading more slowly pushes a flood back onto the sender's TCP buffers
                # instead of spending this process's CPU on it.
                await asyncio.sleep(1.0 / s.rate_limit)
                continue
            await self.handle(text)

    def running_peers(self) -> int:
        return max(1, self.load.running)

    async def _train(self) -> None:
        s = self.settings
        per_epoch = 2e-4  # seconds per epoch, learned as training runs
        tokens, last = 0.0, time.monotonic()
        while True:
            t = self.trainer
            if not self.running:
                self.wake.clear()
                await self.wake.wait()
                tokens, last = 0.0, time.monotonic()
                continue
            if self.slowmo["on"]:
                await self._stage()
                continue
            # All running sessions take one chunk per event-loop pass, so chunks shrink as sessions
            # multiply: a pass (and so the wait of any command) stays near `round_seconds`.
            chunk = min(s.chunk_seconds, s.round_seconds / self.running_peers())
            n = max(1, int(chunk / per_epoch))
            if self.speed is not None:
                now = time.monotonic()
                tokens = min(tokens + (now - last) * self.speed, max(1.0, self.speed * 0.05))
                last = now
                if tokens < 1:
                    await self._nap((1 - tokens) / self.speed)
                    continue
                n = min(n, int(tokens))
            t0 = time.perf_counter()
            try:
                done = t.train(n, seconds=2 * chunk)
            except Exception as e:  # a bug must stop this session's training, not the session
                log.exception("session %s: training failed", self.id)
                self.running = False
                await self.send({"type": "status", "running": False, "epoch": t.epoch,
                                 "state": "error", "message": f"{type(e).__name__}: {e}"})
                continue
            if done:
                per_epoch = 0.7 * per_epoch + 0.3 * (time.perf_counter() - t0) / done
                tokens -= done
                self.trained += done
            if not t.status.ok:
                await self.check_status()
            await asyncio.sleep(0)

    async def _nap(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking early on play / pause / speed / slow-motion changes."""
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def _stage(self) -> None:
        """One slow-motion stage: apply its updates, send its frame, wait ``stage_seconds``."""
        i, t = self.stage, self.trainer
        ok = True
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
            due = max(due + 1.0 / fps, now)  # never catch up in bursts
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
        try:
            msg = m.parse(text)
            reply = getattr(self, "on_" + msg.type)(msg)
        except m.ProtocolError as e:
            await self.send(error(e.id, e.code, e.message))
            return
        except Exception as e:  # a bug must cost one reply, not the session
            log.exception("session %s: message failed", self.id)
            await self.send(error(m.peek_id(text), "internal", f"{type(e).__name__}: {e}"[:500]))
            return
        ack = dumps({"type": "ack", "id": msg.id, **reply})
        if msg.type == "step":
            # The ack and the step's one frame go out back to back under one lock hold, so the
            # paced sender can neither slip a frame in between nor repeat the frame after it.
            async with self.send_lock:
                await self._send_text(ack)
                await self._send_frame_locked(None, if_changed=False)
            await self.check_status()
            return
        async with self.send_lock:
            await self._send_text(ack)
        if msg.type in ("config", "data", "restore"):
            await self.check_status()


def error(mid: Any, code: str, message: str) -> dict:
    return {"type": "error", "id": mid, "code": code, "message": message}


__all__ = ["PROTOCOL", "STAGES", "Session", "TokenBucket"]
