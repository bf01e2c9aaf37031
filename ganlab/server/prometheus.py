"""``GET /metrics``: a replica's sessions and throughput in the Prometheus text format.

One scrape describes the whole replica. With ``--workers N`` each worker process writes its
numbers to files in a shared directory (prometheus_client's multiprocess mode: ``run`` sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start) and whichever worker answers the scrape
adds them up; counters of a worker that died stay counted, its gauges are dropped.

Epochs and frames are read off the sessions (``Session.trained``, ``Session.seq``) once a second
and at every scrape and session end, not counted in the training loop. Rates: the gauges
``ganlab_epochs_per_second`` and ``ganlab_frames_per_second`` (over the last second or more, for
a glance with curl), or ``rate(ganlab_epochs_total[1m])`` in PromQL.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)

disable_created_metrics()  # no `*_created` series: they double the text and nobody graphs them

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
REFUSALS = ("origin", "busy", "rebalance", "draining")  # label values of refused connections

SESSIONS = Gauge("ganlab_sessions", "Open training sessions (websockets)",
                 multiprocess_mode="livesum")
RUNNING = Gauge("ganlab_running_sessions", "Sessions training now", multiprocess_mode="livesum")
DRAINING = Gauge("ganlab_draining", "1 while the replica is shutting down (SIGTERM)",
                 multiprocess_mode="livemax")
REFUSED = Counter("ganlab_refused_connections", "Websockets refused, by reason", ["reason"])
EPOCHS = Counter("ganlab_epochs", "Epochs trained by all sessions")
FRAMES = Counter("ganlab_frames", "Frames built for all sessions")
EPOCHS_RATE = Gauge("ganlab_epochs_per_second", "Epochs trained per second by all sessions, over "
                    "the last second or more", multiprocess_mode="livesum")
FRAMES_RATE = Gauge("ganlab_frames_per_second", "Frames built per second for all sessions, over "
                    "the last second or more", multiprocess_mode="livesum")
SESSIONS_OPENED = Counter("ganlab_sessions_opened", "Sessions admitted")
for _reason in REFUSALS:
    REFUSED.labels(_reason)  # every reason shows from the start, at 0


class Recorder:
    """Turns the sessions' running totals into counter increments (one per worker process)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[int, int]] = {}  # session id -> (epochs, frames) counted
        self.epochs = self.frames = 0  # counted by this process
        self.mark = (time.monotonic(), 0, 0)  # (when, epochs, frames) the rates were last set

    def observe(self, sessions: dict[str, Any], running: int, draining: bool) -> None:
        """Count what each open session trained and sent since the last look."""
        for sid, s in sessions.items():
            self._count(sid, s)
        SESSIONS.set(len(sessions))
        RUNNING.set(running)
        DRAINING.set(1 if draining else 0)
        now = time.monotonic()
        t0, e0, f0 = self.mark
        if now - t0 >= 1.0:
            EPOCHS_RATE.set((self.epochs - e0) / (now - t0))
            FRAMES_RATE.set((self.frames - f0) / (now - t0))
            self.mark = (now, self.epochs, self.frames)

    def ended(self, sid: str, session: Any) -> None:
        """A session is over: count its last epochs and frames and forget it."""
        self._count(sid, session)
        self.seen.pop(sid, None)

    def _count(self, sid: str, s: Any) -> None:
        epochs, frames = self.seen.get(sid, (0, 0))
        if s.trained > epochs:
            EPOCHS.inc(s.trained - epochs)
            self.epochs += s.trained - epochs
        if s.seq > frames:
            FRAMES.inc(s.seq - frames)
            self.frames += s.seq - frames
        self.seen[sid] = (max(epochs, s.trained), max(frames, s.seq))


def refused(reason: str) -> None:
    REFUSED.labels(reason).inc()


def exposition() -> tuple[bytes, str]:
    """(body, content type) of a scrape: this process's metrics, or every worker's added up."""
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    _forget_dead(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def _forget_dead(path: str) -> None:
    """Drop the gauges of worker processes that died (uvicorn restarts them under new pids)."""
    pids = set()
    with contextlib.suppress(OSError):
        for name in os.listdir(path):
            if m := re.search(r"_(\d+)\.db$", name):
                pids.add(int(m.group(1)))
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, path)
        except PermissionError:
            pass


__all__ = ["MULTIPROC_ENV", "REFUSALS", "Recorder", "exposition", "refused"]
