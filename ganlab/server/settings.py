"""Server settings: limits, origins and pacing, from keyword arguments or ``GANLAB_*`` variables.

The same settings reach every worker process: ``run`` writes them to the environment with
:meth:`Settings.to_env` and each worker reads them back with :meth:`Settings.from_env`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

ENV_PREFIX = "GANLAB_"
MiB = 1 << 20

# Browsers on the machine itself may open any port; other hosts must be listed.
DEFAULT_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
# Host headers answered without being listed (any port).
DEFAULT_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass
class Settings:
    """Everything the app factory needs; all fields have safe local defaults."""

    allowed_origins: list[str] = field(default_factory=list)  # extra origins; "*" allows all
    # Host names answered besides loopback ones and the --host given; "*" answers any Host.
    allowed_hosts: list[str] = field(default_factory=list)
    max_sessions: int = 64  # per worker process
    idle_timeout: float = 1800.0  # seconds without a message while paused
    max_message_bytes: int = 4 * MiB  # larger text messages get `too_large`
    rate_limit: float = 200.0  # messages per second, sustained
    rate_burst: float = 200.0  # messages allowed at once above the sustained rate
    # Bytes of messages per second, sustained (the burst is one largest message). Parsing and
    # applying JSON costs ~100 ms of CPU per MB: the message rate alone let a client send
    # megabytes a second, more than a core could parse, at its neighbours' expense.
    byte_rate: float = 1.0 * MiB
    default_fps: int = 30
    metrics_hz: float = 5.0  # metrics (KL/JS, modes, precision/recall) per second while running
    metrics_budget: float = 80.0  # metrics computations per second for a whole process
    # Share of a process's time its running sessions' metrics may take: a frame's metrics cost
    # ~1.8 ms (KL/JS on 20,000 fakes, modes, precision/recall) against ~0.2 ms for its layers, so
    # 80 a second took 16% of a worker from the training of 20 sessions. 4% gives 20 sessions a
    # set about once a second each, as 5% did when a set cost 2.5 ms.
    metrics_share: float = 0.04
    chunk_seconds: float = 0.001  # longest stretch of training before the loop runs others
    round_seconds: float = 0.02  # target time for every running session to get one chunk
    # Frames per second for all running sessions of a process: 26 each at 20 (a frame costs
    # ~0.2 ms of CPU with its sends, so 30 a second took 6 ms of every session's second from
    # training where 24 are asked for; 30 each up to 17 sessions).
    frame_budget: float = 520.0
    # The training task wakes its frame task between two chunks when a frame is due (session.py,
    # _send_frames); False leaves it to the timer alone, only to measure what the wake-up gives.
    frame_kick: bool = True
    # Heavy sessions move to processes of their own (server/offload.py): at most this many per
    # worker (0: never move, share the worker), at this niceness, when an update costs more than
    # heavy_update CPU seconds or a frame more than heavy_frame (a default session's update is
    # ~0.05 ms and its frame ~1-3 ms; the maximum config's update ~30 ms, the largest view's
    # frame ~360 ms), or when a message over 64 KiB arrives.
    heavy_processes: int = 2
    heavy_nice: int = 10
    heavy_update: float = 0.005
    heavy_frame: float = 0.03
    # Seconds a replica told to stop (SIGTERM) waits for its sessions to move to another one
    # before it exits anyway (shutdown.py).
    drain_timeout: float = 10.0
    # Image sessions (digits) cost a core each: sessions worth this many MNIST-sized ones (a
    # session counts h*w/784) train at full speed per process, the others at capped_image_speed
    # epochs/s until one before them pauses (server/image_slots.py).
    max_image_sessions: float = 1.0
    capped_image_speed: float = 10.0
    # POST /api/animate (server/animate.py): replays run in processes of their own, at most
    # animate_jobs at once per worker (0: refused), each killed after animate_seconds.
    animate_jobs: int = 1
    animate_seconds: float = 120.0
    # The key of the labs routes (server/labs.py): set by the notebook that starts the server;
    # empty (the default) means the server has no labs.
    lab_key: str = ""
    static_dir: str = ""  # "" = <repo>/static next to the package
    templates_dir: str = ""  # "" = <repo>/templates next to the package

    def __post_init__(self) -> None:
        self.allowed_origins = _origins(self.allowed_origins)
        self.allowed_hosts = [h.lower() for h in _origins(self.allowed_hosts)]
        for h in self.allowed_hosts:
            if "*" in h[1:] or (h.startswith("*") and h != "*" and not h.startswith("*.")):
                raise ValueError(f"allowed host {h!r}: a wildcard must be '*' or '*.domain'")
            if "/" in h:
                raise ValueError(f"allowed host {h!r}: give a host name, not a URL")
        if self.heavy_processes < 0:
            raise ValueError("heavy_processes must be >= 0")
        if not 0 <= self.heavy_nice <= 19:
            raise ValueError("heavy_nice must be in 0..19")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        if self.drain_timeout < 0:
            raise ValueError("drain_timeout must be >= 0")
        if self.max_image_sessions < 0:
            raise ValueError("max_image_sessions must be >= 0")
        if self.animate_jobs < 0:
            raise ValueError("animate_jobs must be >= 0")
        for name in ("idle_timeout", "rate_limit", "byte_rate", "chunk_seconds", "round_seconds",
                     "frame_budget", "metrics_hz", "metrics_budget", "metrics_share", "heavy_update",
                     "heavy_frame", "capped_image_speed", "animate_seconds"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0")
        if not 1 <= self.default_fps <= 60:
            raise ValueError("default_fps must be in 1..60")

    @classmethod
    def create(cls, environ: dict[str, str] | None = None, **kw: Any) -> Settings:
        """Settings from keyword arguments; one given as None (an unset CLI option) comes from
        its ``GANLAB_*`` variable, else the default."""
        known = {f.name for f in fields(cls)}
        unknown = set(kw) - known
        if unknown:
            raise TypeError(f"unknown server settings: {', '.join(sorted(unknown))}")
        base = cls.from_env(environ)
        return cls(**{f.name: kw[f.name] if kw.get(f.name) is not None else getattr(base, f.name)
                      for f in fields(cls)})

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ``GANLAB_<FIELD>`` variables (e.g. GANLAB_MAX_SESSIONS=10)."""
        env = os.environ if environ is None else environ
        kw: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            default = getattr(cls(), f.name)
            if isinstance(default, list):
                kw[f.name] = raw
            elif isinstance(default, bool):
                kw[f.name] = raw.lower() in ("1", "true", "yes")
            else:
                kw[f.name] = type(default)(raw)
        return cls(**kw)

    def to_env(self) -> dict[str, str]:
        """The variables that make :meth:`from_env` return these settings."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[ENV_PREFIX + f.name.upper()] = ",".join(v) if isinstance(v, list) else str(v)
        return out


def _origins(value: Any) -> list[str]:
    """Accept a list or a comma-separated string (or a list of them); normalise away trailing
    slashes."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    parts = [p for item in items for p in str(item).split(",")]  # repeated flags, comma lists
    return [p.strip().rstrip("/") for p in parts if p.strip()]


__all__ = ["Settings", "DEFAULT_HOSTS", "DEFAULT_ORIGINS", "MiB"]
