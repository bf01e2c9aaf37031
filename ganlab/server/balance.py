"""Even numbers of sessions across worker processes (``ganlab serve --workers N``).

The workers share one listening socket and the kernel gives each new connection to whichever
worker accepts first: with 40 sessions on 2 workers we measured splits from 19/21 to 13/27, and a
session on the crowded worker of a 13/27 split trains half as fast as one on the other. Each
worker therefore publishes its session count in a shared directory (one small file per worker
process), and a worker that already holds ``slack`` (default 1) more sessions than the least
loaded live worker turns a new connection away with close code 1013, reason ``rebalance``. The
client reconnects at once with ``?retry=n``; the kernel picks a worker afresh, and after
``max_retries`` tries any worker admits it, so a client is never bounced for long.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

BALANCE_ENV = "GANLAB_BALANCE_DIR"
REBALANCE_REASON = "rebalance"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or someone else's process by that pid
        return False
    return True


class Balancer:
    """This worker's view of the shared table: ``<dir>/<pid>`` holds that worker's session count."""

    def __init__(self, directory: str | os.PathLike, slack: int = 1, max_retries: int = 4,
                 pid: int | None = None):
        self.dir = Path(directory)
        self.slack, self.max_retries = slack, max_retries
        self.pid = os.getpid() if pid is None else pid
        self.mine = 0
        self.publish(0)

    def publish(self, sessions: int) -> None:
        """Record this worker's session count (write-then-rename: readers never see half)."""
        self.mine = sessions
        tmp = self.dir / f".{self.pid}.tmp"
        tmp.write_text(str(sessions))
        os.replace(tmp, self.dir / str(self.pid))

    def others(self) -> dict[int, int]:
        """Session counts of the other live workers (files of dead workers are removed)."""
        out: dict[int, int] = {}
        with contextlib.suppress(FileNotFoundError):
            for f in self.dir.iterdir():
                if not f.name.isdigit() or int(f.name) == self.pid:
                    continue
                pid = int(f.name)
                if not _alive(pid):
                    with contextlib.suppress(OSError):
                        f.unlink()
                    continue
                with contextlib.suppress(OSError, ValueError):
                    out[pid] = int(f.read_text())
        return out

    def admit(self, retry: int) -> bool:
        """Whether this worker should take a new session (the ``retry``-th attempt of a client)."""
        if retry >= self.max_retries:
            return True
        others = self.others()
        return not others or self.mine < min(others.values()) + self.slack

    def close(self) -> None:
        with contextlib.suppress(OSError):
            (self.dir / str(self.pid)).unlink()


def from_env() -> Balancer | None:
    """The balancer of a worker started by ``run(workers > 1)``, or None (a single process)."""
    d = os.environ.get(BALANCE_ENV)
    if not d or not Path(d).is_dir():
        return None
    return Balancer(d)


__all__ = ["BALANCE_ENV", "REBALANCE_REASON", "Balancer", "from_env"]
