"""Labs: one experiment shared by a notebook and the page it displays (``ganlab.show``).

A notebook hands a trainer's state over with ``POST /api/labs`` and gets a lab token; the page
opened at ``?lab=<token>`` connects to ``ws?lab=<token>`` and its session starts from that state
(the hand-off is taken once). ``GET /api/labs/<token>/snapshot`` gives back the state of the page's
session now. When a lab's page goes away (an iframe reloaded, a notebook closed), its last state
becomes the lab's hand-off again, so the next page of the lab carries on where it was.

Only the process that started the server knows its lab key (``GANLAB_LAB_KEY``, set by
``ganlab.notebook``); without a key the routes answer 404 and ``?lab=`` is ignored, so a
classroom server has no labs. The hand-offs are bounded in count and bytes and expire.
The hand-offs and the lab table live in the worker, so a server with labs runs one worker; a
lab's session may move to one of its heavy processes (server/offload.py): its state is then
asked of that process over the pipe (``STATE``), now for ``lab.trainer()`` and at its end for
the next page.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from . import snapshots

if TYPE_CHECKING:
    from .session import Session

KEY_HEADER = "x-ganlab-lab-key"
TOKEN = re.compile(r"[0-9a-f]{32}")
MAX_LABS = 16  # hand-offs held at once; the oldest goes first
MAX_BYTES = 64 << 20  # their bytes in all (an MNIST model with Adam is ~3.3 MB)
TTL = 3600.0  # seconds a hand-off waits for its page
STATE_SECONDS = 30.0  # for a heavy process to give a moved lab session's state


class Labs:
    """Hand-offs waiting for their page, and the live session of each lab."""

    def __init__(self, max_labs: int = MAX_LABS, max_bytes: int = MAX_BYTES, ttl: float = TTL):
        self.max_labs, self.max_bytes, self.ttl = max_labs, max_bytes, ttl
        self.handoffs: OrderedDict[str, tuple[bytes, float]] = OrderedDict()  # token -> (state, expiry)
        self.known: OrderedDict[str, float] = OrderedDict()  # every lab token -> last use
        self.live: dict[str, Session] = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for token, (_, until) in list(self.handoffs.items()):
            if until < now:
                del self.handoffs[token]
        for token, used in list(self.known.items()):
            if used + self.ttl < now and token not in self.live:
                del self.known[token]

    def create(self, state: bytes) -> str:
        """A new lab whose first page starts from ``state`` (b"": from the server's default)."""
        token = secrets.token_hex(16)
        self.known[token] = time.monotonic()
        for old in list(self.known):  # tokens are small; still bounded (a lab with a page stays)
            if len(self.known) <= 4 * self.max_labs:
                break
            if old not in self.live:
                del self.known[old]
        self.put(token, state)
        return token

    def put(self, token: str, state: bytes) -> bool:
        """Hold ``state`` for the lab's next page; False if it is larger than the whole budget."""
        self._expire()
        self.handoffs.pop(token, None)
        if len(state) > self.max_bytes:
            return False
        self.handoffs[token] = (state, time.monotonic() + self.ttl)
        while len(self.handoffs) > self.max_labs or sum(len(s) for s, _ in self.handoffs.values()) > self.max_bytes:
            self.handoffs.popitem(last=False)
        return True

    def take(self, token: str) -> bytes | None:
        """The lab's hand-off, once."""
        self._expire()
        held = self.handoffs.pop(token, None)
        return held[0] if held else None

    def attach(self, token: str, session: Session) -> None:
        self.known[token] = time.monotonic()
        self.known.move_to_end(token)
        self.live[token] = session  # the newest page of a lab is the one the notebook reads

    def detach(self, token: str, session: Session, state: bytes | None) -> None:
        """The lab's page went away: its last ``state`` waits for the lab's next page."""
        if self.live.get(token) is session:
            del self.live[token]
            if state is not None:
                self.put(token, state)


def lab_token(app: FastAPI, query: str | None) -> str | None:
    """The lab a websocket names (``?lab=``), if this server has labs and knows it."""
    labs: Labs | None = app.state.labs
    if labs is None or not query or not TOKEN.fullmatch(query) or query not in labs.known:
        return None
    return query


async def open_lab(labs: Labs, token: str, session: Session) -> dict:
    """Start ``session`` from its lab's hand-off (before its hello); the hello's ``lab`` field."""
    labs.attach(token, session)
    state = labs.take(token)
    if state is None:
        return {"restored": False, "message": "this lab's state was taken by another page; "
                                              "this page starts afresh"}
    if not state:  # a lab of the server's default experiment
        return {"restored": False, "message": None}
    try:
        await asyncio.to_thread(snapshots.restore_bytes, session.trainer, state)
    except ValueError as e:  # checked when it was handed over: a bug, but never a dead session
        return {"restored": False, "message": f"could not open the lab's state: {e}"}
    session.restored(None)  # what a client's `restore` does besides loading the state
    return {"restored": True, "message": None}


def close_lab(labs: Labs, token: str, session: Session) -> None:
    """Keep the state of a lab's page that went away for the lab's next page. Without an await:
    the session's tasks are over, so nothing else touches its trainer, and a cancellation (a
    server shutting down) cannot leave the lab pointing at a dead session. (An image model's
    snapshot takes ~20-40 ms, once per page.) A session that moved to a heavy process holds no
    trainer here: its process sent its final state as it ended (``Session.final_state``; None if
    that process died, and then the lab's next page starts afresh, saying so)."""
    if session.remote is None:
        session.settle()
        state = snapshots.to_bytes(session.trainer)
    else:
        state = session.final_state
    labs.detach(token, session, state)


async def live_state(session: Session, seconds: float = STATE_SECONDS) -> bytes | None:
    """The binary snapshot of a lab's session now, at an epoch boundary between training chunks,
    wherever the session runs (None: it has ended). A session that moves to a heavy process while
    this waits for it is asked there."""
    while session.remote is None:
        async with session.busy:  # between training chunks, as a client's `snapshot` is
            if session.remote is None:
                session.settle()
                return await asyncio.to_thread(snapshots.to_bytes, session.trainer)
    proc, _ = session.remote
    return await proc.state(session.id, seconds)


def register(app: FastAPI, key: str) -> None:
    """The labs routes, answered only to a request that carries ``key``."""
    app.state.labs = Labs() if key else None

    def refused(request: Request) -> Response | None:
        given = request.headers.get(KEY_HEADER, "")
        if not key or not secrets.compare_digest(given.encode(), key.encode()):
            return JSONResponse({"error": "not_found", "message": "this server has no labs"}, 404)
        return None

    @app.post("/api/labs")
    async def create(request: Request):
        if (no := refused(request)) is not None:
            return no
        state = await request.body()
        if len(state) > MAX_BYTES:
            return JSONResponse({"error": "too_large", "message": f"the state is {len(state)} "
                                 f"bytes; a lab holds at most {MAX_BYTES}"}, 413)
        if state:
            try:  # refused here, naming what is wrong, rather than in a page later
                await asyncio.to_thread(check_state, state)
            except ValueError as e:
                return JSONResponse({"error": "bad_snapshot", "message": str(e)}, 400)
        return {"lab": app.state.labs.create(state)}

    @app.get("/api/labs/{token}/snapshot")
    async def snapshot(token: str, request: Request):
        if (no := refused(request)) is not None:
            return no
        labs: Labs = app.state.labs
        session = labs.live.get(token)
        if session is None:
            return JSONResponse({"error": "not_found", "message": "no page of this lab is open: "
                                 "display the lab first (or again)"}, 404)
        try:
            data = await live_state(session)
        except TimeoutError:
            return JSONResponse({"error": "timeout", "message": f"the lab's session did not give its "
                                 f"state within {STATE_SECONDS:g} s; try again"}, 503)
        if data is None:
            return JSONResponse({"error": "not_found", "message": "this lab's page has just closed: "
                                 "display the lab again"}, 404)
        return Response(data, media_type="application/octet-stream")


def check_state(state: bytes) -> None:
    """ValueError naming what is wrong unless ``state`` is a binary snapshot a trainer restores."""
    from ganlab import Trainer

    snapshots.restore_bytes(Trainer.__new__(Trainer), state)  # restore builds what it needs


__all__ = ["KEY_HEADER", "Labs", "close_lab", "lab_token", "live_state", "open_lab", "register"]
