"""Graceful shutdown of a replica: on SIGTERM its sessions move to another replica.

A session lives in its connection and the page holds its state, so any replica can take over
any session (docs/deploy.md). On SIGTERM a worker process:

1. drains: ``/healthz`` answers 503 and a new websocket handshake gets HTTP 503 (nginx, told
   ``proxy_next_upstream ... http_503``, passes it to another replica at once);
2. tells every session to move: the session stops training, sends its final state in a
   ``moving`` message and closes with :data:`MOVE_CODE` (docs/protocol.md); the page
   reconnects at once and restores that state on whichever replica answers;
3. exits, through uvicorn's own shutdown, once no session is left or ``drain_timeout`` seconds
   have passed (uvicorn then closes what is left with 1012).

uvicorn handles SIGTERM itself (``Server.capture_signals``) by closing the listening socket and
every connection at once. We wrap its handler from the app's startup, which runs inside
``capture_signals`` in every worker process, so the same code serves ``--workers 1`` (uvicorn's
``Server`` in our process) and ``--workers N`` (uvicorn's supervisor sends each worker SIGTERM
and waits for it). Further SIGTERMs while draining are ignored (a supervisor and a service
manager may both send one); SIGINT (Ctrl-C) keeps uvicorn's immediate shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ganlab.server")

MOVE_CODE = 4012  # websocket close code: "server going away, reconnect now" (1012's private twin)
MOVE_REASON = "server going away, reconnect now"


class Drain:
    """One worker process's shutdown state: not draining until SIGTERM (or :meth:`begin`)."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self.started: float | None = None  # time.monotonic() when draining began
        self.task: asyncio.Task | None = None
        self._moves: set[asyncio.Task] = set()

    @property
    def draining(self) -> bool:
        return self.started is not None

    def install(self, sessions: dict[str, Any]) -> bool:
        """Drain ``sessions`` on SIGTERM, then hand the signal to the handler that was there
        (uvicorn's). Call from the running loop in the main thread (the app's startup); returns
        False, changing nothing, elsewhere (a test client's thread)."""
        if threading.current_thread() is not threading.main_thread():
            return False
        loop = asyncio.get_running_loop()
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(sig: int, frame: Any) -> None:
            if not self.draining:
                loop.call_soon_threadsafe(self.begin, sessions, lambda: _pass_on(previous, sig))

        signal.signal(signal.SIGTERM, on_term)
        return True

    def begin(self, sessions: dict[str, Any], done: Callable[[], None] = lambda: None) -> None:
        """Start draining (on the loop): refuse new sessions, move the open ones, then ``done()``."""
        if self.draining:
            return
        self.started = time.monotonic()
        log.log(logging.WARNING if sessions else logging.INFO,
                "SIGTERM: moving %d session(s) to other replicas (waiting up to %g s), then "
                "exiting", len(sessions), self.timeout)
        self.task = asyncio.get_running_loop().create_task(self._run(sessions, done))

    async def _run(self, sessions: dict[str, Any], done: Callable[[], None]) -> None:
        told: set[str] = set()
        end = self.started + self.timeout
        try:
            # Sessions admitted just before the drain began join `sessions` a moment later:
            # look again until none is left.
            while sessions and time.monotonic() < end:
                for sid, session in list(sessions.items()):
                    if sid not in told:
                        told.add(sid)
                        task = asyncio.create_task(self._move(session, end))
                        self._moves.add(task)
                        task.add_done_callback(self._moves.discard)
                await asyncio.sleep(0.02)
            if sessions:
                log.warning("drain timeout: %d session(s) still open; closing them", len(sessions))
        finally:
            done()

    @staticmethod
    async def _move(session: Any, end: float) -> None:
        with contextlib.suppress(Exception):  # gone already, or the deadline: uvicorn closes it
            await asyncio.wait_for(session.close_for_shutdown(MOVE_CODE, MOVE_REASON),
                                   max(0.0, end - time.monotonic()))


def _pass_on(previous: Any, sig: int) -> None:
    """Give ``sig`` to the handler that was installed before ours (uvicorn's: a clean exit)."""
    if callable(previous):
        previous(sig, None)
    elif previous == signal.SIG_DFL:
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)


__all__ = ["Drain", "MOVE_CODE", "MOVE_REASON"]
