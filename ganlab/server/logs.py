"""A log a client cannot flood: events any client can cause are one line each, repeats counted;
and a log that holds no Jupyter token.

uvicorn logs every text frame with invalid UTF-8 as an ERROR with a traceback (then closes the
connection with 1007), so one script opening connections could fill the log; our own refusals
(foreign origin, foreign host) are client-triggered too. :class:`Repeats` lets the first such
record of each kind through as one line and then only one per ``window`` seconds, saying how
many it stood for: "... (57 more since the last such line)".

Behind jupyter-server-proxy the page can be opened with Jupyter's sign-in link
(``<jupyter>/ganlab/?token=...``), whose query reaches this server and its access log, which the
proxy's Jupyter writes into its own: :class:`Secrets` writes such a token as ``[secret]``, as
Jupyter does in its lines. A notebook's lab is opened at ``?lab=<token>`` (labs.py): whoever
holds that token can open the notebook's experiment, so it is written as ``[secret]`` too.
"""

from __future__ import annotations

import logging
import re
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


SECRET_QUERY = re.compile(r"([?&](?:token|lab)=)[^&#\s\"]*")
# uvicorn's lines with a request's path and query: HTTP requests, websocket handshakes.
PATH_LOGGERS = ("uvicorn.access", "uvicorn.error")


class Secrets(logging.Filter):
    """Write the value of a ``token`` or ``lab`` query parameter in a record's arguments as
    ``[secret]``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and ("token=" in a or "lab=" in a) for a in args):
            record.args = tuple(SECRET_QUERY.sub(r"\1[secret]", a) if isinstance(a, str) else a for a in args)
        return True


def install(window: float = 10.0) -> None:
    """Put a :class:`Repeats` filter on each logger of :data:`CLIENT_EVENTS` and a
    :class:`Secrets` filter on uvicorn's (once per process; logging.config.dictConfig, which
    uvicorn runs after the app is built, keeps filters)."""
    for name, messages in CLIENT_EVENTS.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, Repeats) for f in logger.filters):
            logger.addFilter(Repeats(messages, window))
    for name in PATH_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Secrets) for f in logger.filters):
            logger.addFilter(Secrets())


__all__ = ["CLIENT_EVENTS", "Repeats", "Secrets", "install"]
