"""How many image sessions of a process train at full speed, and what the others are told.

The line is per process (per ``Load``): image sessions are heavy, so a worker moves them to its
heavy processes (offload.py; at most ``heavy_processes`` per worker, each about a core), and each
of those applies the cap to the sessions it holds. A worker with 2 heavy processes therefore trains
up to 2 x ``max_image_sessions`` at full speed; with ``heavy_processes = 0`` the worker itself
holds them and the cap is the worker's.

An image session costs a core: one update of the MNIST tutorial's model is milliseconds of BLAS,
far more than a 2D epoch. So a worker trains image sessions worth at most
``Settings.max_image_sessions`` MNIST-sized sessions at full speed (default 1: one worker is one
core); a session counts by its image size, h*w / 784 (a 28 x 28 set 1, the 8x8 digits 64/784, so
twelve of those fit in one). Further running image sessions train at
``Settings.capped_image_speed`` epochs/s (default 10) until the ones before them stop. Sessions
are served in the order they started running; a paused session leaves the line and a session
that plays again joins its end. Capped frames say so (``capped``: a sentence for the page, with
the setting's name); the share slicing of the server applies to every session as before.
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


MNIST_PIXELS = 28 * 28


def weight(session: Any) -> float:
    """What a session counts against the cap: its image's pixels over MNIST's."""
    h, w = session.trainer.image_shape
    return h * w / MNIST_PIXELS


def capped(session: Any) -> bool:
    """Whether the sessions before it in the line and it weigh more than the cap."""
    line = _line(session)
    total = 0.0
    for r in line:
        s = r()
        total += weight(s)
        if s is session:
            return total > session.settings.max_image_sessions + 1e-9
    return False


def pace(session: Any) -> float | None:
    """The epochs/s the session trains at: its own speed, at most the capped speed when it is
    beyond the worker's full-speed image sessions (None = as fast as possible). Asked before
    every training chunk: a 2D session answers without looking at the line."""
    if not is_image(session) or not capped(session):
        return session.speed
    slow = session.settings.capped_image_speed
    return slow if session.speed is None else min(session.speed, slow)


def notice(session: Any) -> str | None:
    """Why the session trains slowly, or None when it does not."""
    if not capped(session):
        return None
    i, s = place(session), session.settings
    n = s.max_image_sessions
    return (f"This server trains image sessions worth {n:g} MNIST-sized session{'s' if n != 1 else ''} "
            f"per worker at full speed (setting max_image_sessions, GANLAB_MAX_IMAGE_SESSIONS; smaller "
            f"images count less); {i} started before yours, so it trains at {s.capped_image_speed:g} "
            f"epochs/s until one of them pauses.")


def frame_extras(session: Any) -> dict:
    """What an image frame's JSON adds: ``image`` [h, w], ``classes`` and ``capped`` (a sentence or
    null). 2D frames add nothing."""
    t = session.trainer
    if getattr(t, "image_shape", None) is None:
        return {}
    return {"image": list(t.image_shape), "classes": t.classes, "capped": notice(session)}


__all__ = ["capped", "frame_extras", "is_image", "notice", "pace", "place"]
