"""A log a client cannot flood: events any client can cause are one line each, repeats counted.

uvicorn logs every text frame with invalid UTF-8 as an ERROR with a traceback (then closes the
connection with 1007), so one script opening connections could fill the log; our own refusals
(foreign origin, foreign host) are client-triggered too. :class:`Repeats` lets the first such
record of each kind through as one line and then only one per ``window`` seconds, saying how
many it stood for: "... (57 more since the last such line)".
"""

from __future__ import annotations

import logging
import time

# Records (by their format string) that a client can cause at will.
CLIENT_EVENTS = {
    "uvicorn.error": ("Invalid UTF-8 sequence received from client.",),
    "ganlab.server": ("websocket from origin %r refused", "request for host %r refused"),
}


class Repeats(logging.Filter):
    """Rate-limit records whose message format is in ``messages``: no traceback, at most one
    line per kind every ``window`` seconds; the line after a quiet stretch counts what it hid."""

    def __init__(self, messages: tuple[str, ...], window: float = 10.0):
        super().__init__()
        self.messages, self.window = set(messages), window
        self.seen: dict[str, tuple[float, int]] = {}  # kind -> (time of last line, hidden since)

    def filter(self, record: logging.LogRecord) -> bool:
        kind = record.msg if isinstance(record.msg, str) else None
        if kind not in self.messages:
            return True
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        now = time.monotonic()
        shown, hidden = self.seen.get(kind, (-self.window, 0))
        if now - shown < self.window:
            self.seen[kind] = (shown, hidden + 1)
            return False
        self.seen[kind] = (now, 0)
        if hidden:
            record.msg = f"{record.getMessage()} ({hidden} more since the last such line)"
            record.args = ()
        return True


def install(window: float = 10.0) -> None:
    """Put a :class:`Repeats` filter on each logger of :data:`CLIENT_EVENTS` (once per process;
    logging.config.dictConfig, which uvicorn runs after the app is built, keeps filters)."""
    for name, messages in CLIENT_EVENTS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, Repeats) for f in logger.filters):
            logger.addFilter(Repeats(messages, window))


__all__ = ["CLIENT_EVENTS", "Repeats", "install"]
