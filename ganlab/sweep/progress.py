"""A sweep's progress on stderr: one line rewritten in place on a terminal, a line per finished
run otherwise (a log file gets no carriage returns)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """``total`` runs, ``skipped`` of them already finished (a resumed sweep)."""

    def __init__(self, total: int, skipped: int = 0, stream: TextIO | None = None, width: int = 30):
        self.total, self.skipped, self.done, self.failed = total, skipped, 0, 0
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.width = width
        self.start = time.perf_counter()
        if skipped:
            self.stream.write(f"{skipped} of {total} runs already finished: skipped\n")
        self._show()

    def update(self, name: str, status: str, seconds: float) -> None:
        self.done += 1
        self.failed += status not in ("ok",)
        if not self.tty:
            self.stream.write(f"[{self.skipped + self.done}/{self.total}] {name}: {status} ({seconds:.1f} s)\n")
        self._show()

    def _show(self) -> None:
        if not self.tty:
            self.stream.flush()
            return
        n = self.skipped + self.done
        filled = int(self.width * n / max(self.total, 1))
        elapsed = time.perf_counter() - self.start
        todo = self.total - n
        eta = f", ~{_clock(elapsed / self.done * todo)} left" if self.done and todo else ""
        bad = f", {self.failed} not ok" if self.failed else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {n}/{self.total} runs{bad}  "
                          f"{_clock(elapsed)}{eta}   ")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
