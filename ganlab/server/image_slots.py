"""How many image sessions of a worker train at full speed, and what the others are told.

An image session costs a core: one update of the MNIST tutorial's model is ~5 ms of BLAS, 30x a 2D
epoch. So a worker trains at most ``Settings.max_image_sessions`` image sessions at full speed
(default 1: one worker is one core); further running image sessions train at
``Settings.capped_image_speed`` epochs/s (default 10) until one of the first stops. Sessions are
served in the order they started running; a paused session leaves the line and a session that
plays again joins its end. Capped frames say so (``capped``: a sentence for the page, with the
setting's name); the share slicing of the server applies to every session as before.
"""

from __future__ import annotations

import weakref
from typing import Any

_lines: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Load -> [weakref(Session)]


def is_image(session: Any) -> bool:
    return getattr(session.trainer, "image_shape", None) is not None


def _line(session: Any) -> list:
    """The running image sessions of the session's worker, in the order they started running
    (stale entries, sessions that stopped or left image data, are dropped on every look)."""
    line = _lines.setdefault(session.load, [])
    line[:] = [r for r in line if (s := r()) is not None and s.running and is_image(s)]
    if session.running and is_image(session) and not any(r() is session for r in line):
        line.append(weakref.ref(session))
    return line


def place(session: Any) -> int | None:
    """0-based place in the worker's line of running image sessions, or None (not in it)."""
    for i, r in enumerate(_line(session)):
        if r() is session:
            return i
    return None


def capped(session: Any) -> bool:
    i = place(session)
    return i is not None and i >= session.settings.max_image_sessions


def pace(session: Any) -> float | None:
    """The epochs/s the session trains at: its own speed, at most the capped speed when it is
    beyond the worker's full-speed image sessions (None = as fast as possible)."""
    if not capped(session):
        return session.speed
    slow = session.settings.capped_image_speed
    return slow if session.speed is None else min(session.speed, slow)


def notice(session: Any) -> str | None:
    """Why the session trains slowly, or None when it does not."""
    i = place(session)
    s = session.settings
    if i is None or i < s.max_image_sessions:
        return None
    n = s.max_image_sessions
    return (f"This server trains {n} image session{'s' if n != 1 else ''} per worker at full speed "
            f"(setting max_image_sessions, GANLAB_MAX_IMAGE_SESSIONS); {i} started before yours, so it "
            f"trains at {s.capped_image_speed:g} epochs/s until one of them pauses.")


def frame_extras(session: Any) -> dict:
    """What an image frame's JSON adds: ``image`` [h, w], ``classes`` and ``capped`` (a sentence or
    null). 2D frames add nothing."""
    t = session.trainer
    if getattr(t, "image_shape", None) is None:
        return {}
    return {"image": list(t.image_shape), "classes": t.classes, "capped": notice(session)}


__all__ = ["capped", "frame_extras", "is_image", "notice", "pace", "place"]
