"""The live server: FastAPI + uvicorn, one training session per websocket (docs/protocol.md)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import webbrowser
from typing import Any

from .balance import BALANCE_ENV
from .origins import served_hosts
from .prometheus import MULTIPROC_ENV
from .settings import Settings

WS_MAX_SIZE = 16 << 20  # uvicorn closes (1009) above this; 4 MiB..16 MiB get a `too_large` reply
NOTSENT_LOWAT = 128 << 10  # unsent bytes per connection in the kernel: about 5 default frames


def run(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = True, workers: int = 1,
        log_level: str = "info", **settings: Any) -> None:
    """Serve the app with uvicorn until interrupted.

    ``settings`` are :class:`Settings` fields (``allowed_origins``, ``max_sessions``,
    ``idle_timeout``, ...; None means default). With ``workers > 1`` uvicorn starts that many
    processes from the import string ``ganlab.server.app:app_from_env``; each reads the settings
    from ``GANLAB_*`` variables. Sessions need nothing shared because each lives in its
    connection; the workers only share their session counts, to even them out (balance.py),
    and their metrics (prometheus.py). SIGTERM, with one worker or several, moves the sessions to
    other replicas before exiting (shutdown.py; ``drain_timeout``).
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    s = Settings.create(**settings)
    s.allowed_hosts = served_hosts(s.allowed_hosts, host)  # the --host given is served too
    check_port(host, port)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}/"
    if open_browser and _has_browser():
        _open_when_up(url)
    else:
        print(f"ganlab: open {url.rstrip('/')}", flush=True)
    # No permessage-deflate: zlib on float32 frames cost more than all the training in a
    # profile of 40 sessions and saves little (binary floats barely compress).
    common = dict(host=host, port=port, ws_max_size=WS_MAX_SIZE, ws_per_message_deflate=False,
                  log_level=log_level, timeout_graceful_shutdown=5)
    temp_dirs = []
    if workers > 1:
        os.environ.update(s.to_env())
        balance_dir = tempfile.mkdtemp(prefix="ganlab-workers-")
        os.environ[BALANCE_ENV] = balance_dir  # the workers' shared session table (balance.py)
        temp_dirs.append((BALANCE_ENV, balance_dir))
        if not os.environ.get(MULTIPROC_ENV):  # /metrics adds up the workers' files (prometheus.py)
            metrics_dir = tempfile.mkdtemp(prefix="ganlab-metrics-")
            os.environ[MULTIPROC_ENV] = metrics_dir
            temp_dirs.append((MULTIPROC_ENV, metrics_dir))
        config = uvicorn.Config("ganlab.server.app:app_from_env", factory=True, workers=workers,
                                **common)
    else:
        from .app import create_app

        config = uvicorn.Config(create_app(s), **common)
    sock = config.bind_socket()
    bound_backlog(sock)
    try:
        if workers > 1:
            Multiprocess(config, sockets=[sock]).run()
        else:
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        for env, path in temp_dirs:
            shutil.rmtree(path, ignore_errors=True)
            os.environ.pop(env, None)


class CannotServe(OSError):
    """The server cannot listen where it was asked to (``ganlab serve`` exits with status 4)."""


def check_port(host: str, port: int) -> None:
    """Raise :class:`CannotServe` with one clear line if ``host:port`` cannot be listened on
    (uvicorn would log a bare errno and exit with status 3, which `ganlab train` uses for a
    diverged run)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            s.bind((host, port))
    except OSError as e:
        where = f"port {port} on {host or '0.0.0.0'}"
        if e.errno == errno.EADDRINUSE:
            msg = f"{where} is in use (another ganlab or server?); try --port {port + 1}"
        elif e.errno == errno.EACCES:
            msg = f"{where} needs privileges the server does not have; try --port 8000"
        else:
            msg = f"cannot listen on {where}: {e.strerror or e}; check --host"
        raise CannotServe(msg) from None


def _has_browser() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


def bound_backlog(sock: socket.socket, unsent: int = NOTSENT_LOWAT) -> bool:
    """Let at most ``unsent`` bytes wait unsent in the kernel per connection (inherited by every
    accepted socket). Without it a slow client's frames pile up in a send buffer of up to 4 MB
    (seconds of frames) before the server notices; with it the send blocks early, the sender
    skips frames, and what the client receives stays recent."""
    opt = getattr(socket, "TCP_NOTSENT_LOWAT", 25 if sys.platform.startswith("linux") else None)
    if opt is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, opt, unsent)
    except OSError:
        return False
    return True


def _open_when_up(url: str, timeout: float = 15.0) -> None:
    """Open the browser once the server answers (so the page never shows a refused connection)."""
    import urllib.request

    def wait_and_open() -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                urllib.request.urlopen(url + "healthz", timeout=1).close()
                webbrowser.open(url)
                return
            except OSError:
                time.sleep(0.2)

    threading.Thread(target=wait_and_open, daemon=True).start()


__all__ = ["CannotServe", "Settings", "check_port", "run", "WS_MAX_SIZE"]
