"""ganlab in a notebook: ``ganlab.show(...)`` displays the lab inline, one experiment with the API.

``show`` starts (or reuses) a local ``ganlab serve`` in a **child process** and returns a
:class:`Lab`, which Jupyter displays as an iframe (``_repr_html_``: IPython is not needed). Why a
child process and not a thread in the kernel: the server trains on its own core with its own GIL,
so the notebook's numpy work and the page's training do not take turns; a server bug or a
crash cannot take the kernel with it; and it is the very ``ganlab serve`` that the
jupyter-server-proxy entry point (:func:`setup_proxy`) and every other deployment run. The child
ends with the kernel: at interpreter exit (atexit), and, should the kernel die without running
it, when the pipe on the child's stdin closes (the kernel held its other end).

The notebook and the page share one experiment through snapshots: ``show(trainer)`` hands the
trainer's binary snapshot to the server (``POST /api/labs``, a one-time hand-off the page's
session starts from: weights, optimizer state, random streams, epoch), and ``lab.trainer()`` asks
the page's live session for its state now (``GET /api/labs/<lab>/snapshot``). Only this process
knows the server's lab key, so no one else reads or hands over labs (server/labs.py).

This module imports only the standard library at import time: ``import ganlab`` stays light.
"""

from __future__ import annotations

import atexit
import contextlib
import html
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any

KEY_HEADER = "X-Ganlab-Lab-Key"  # server/labs.py
START_TIMEOUT = 60.0  # seconds for a child server to answer /healthz (a loaded machine is slow)
DEFAULT_HEIGHT = 900  # px: at a notebook's width the header, graph, charts and data view; the controls scroll below
CANNOT_LISTEN = 4  # `ganlab serve`'s exit status when its port is taken (cli.py)

_server: _Server | None = None
_lock = threading.Lock()


class _Server:
    """A ``ganlab serve`` child process with a lab key, on 127.0.0.1."""

    def __init__(self, port: int, proxied: bool):
        self.port = port
        self.key = secrets.token_hex(16)
        self.proxied = proxied
        fd, self.log = tempfile.mkstemp(prefix="ganlab-notebook-", suffix=".log")
        # Heavy processes as on any server: a lab's session that moves to one (an image model
        # does) is read there by lab.trainer() (server/labs.py).
        env = dict(os.environ, GANLAB_LAB_KEY=self.key, GANLAB_DRAIN_TIMEOUT="1")
        args = ["--watch", "stdin", "--port", str(port)]
        if proxied:  # behind Jupyter's proxy, which authenticates and checks origins itself
            args += ["--allow-host", "*", "--allow-origin", "*"]
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "ganlab.notebook", *args],
                                         stdin=subprocess.PIPE, stdout=fd, stderr=subprocess.STDOUT,
                                         env=env, start_new_session=True)
        finally:
            os.close(fd)  # the child writes its log through its own copy

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        with contextlib.suppress(OSError, ValueError), urllib.request.urlopen(self.base + "healthz", timeout=2) as r:
            return r.status == 200
        return False

    def wait_up(self, timeout: float = START_TIMEOUT) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise ServerError(self.proc.returncode, self.tail())
            if self.alive():
                return
            time.sleep(0.1)
        self.stop()
        raise ServerError(None, self.tail())

    def tail(self) -> str:
        with contextlib.suppress(OSError), open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()[-2000:]
        return ""

    def request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        req = urllib.request.Request(self.base + path, data=body, method=method,
                                     headers={KEY_HEADER: self.key,
                                              "Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            try:
                message = json.loads(e.read())["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {e.code}"
            raise (LookupError if e.code == 404 else ValueError)(message) from None

    def stop(self) -> None:
        """SIGINT (the server exits at once, closing its sessions), then SIGKILL after 5 s."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log)


class ServerError(RuntimeError):
    """The notebook's ganlab server did not start; the message holds the end of its log."""

    def __init__(self, status: int | None, log: str):
        why = f"exited with status {status}" if status is not None else "did not answer in time"
        super().__init__(f"the ganlab server {why}:\n{log.strip()}")
        self.status = status


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy_prefix() -> str | None:
    """Where a Jupyter server behind JupyterHub proxies local ports (jupyter-server-proxy's
    ``<prefix>proxy/<port>/``), or None for a notebook on this machine."""
    prefix = os.environ.get("GANLAB_PROXY_PREFIX") or os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not prefix:
        return None
    return prefix if prefix.endswith("/") else prefix + "/"


def server(port: int | None = None) -> _Server:
    """The running notebook server, started on ``port`` (None: a free one) if there is none. A
    server on another port than the one asked for is stopped first: one server per kernel."""
    global _server
    with _lock:
        if _server is not None and (port is None or port == _server.port) and _server.alive():
            return _server
        if _server is not None:
            _server.stop()
            _server = None
        proxied = _proxy_prefix() is not None
        for _ in range(3 if port is None else 1):  # a free port can be taken before the child binds it
            srv = _Server(port or _free_port(), proxied)
            try:
                srv.wait_up()
            except ServerError as e:
                srv.stop()
                if e.status == CANNOT_LISTEN and port is None:
                    continue
                raise
            _server = srv
            return srv
        raise ServerError(CANNOT_LISTEN, "no free port found")


def stop() -> None:
    """Stop the notebook's server (its pages go offline). ``show`` starts a new one."""
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


atexit.register(stop)


def _state(experiment: Any) -> bytes:
    """The binary snapshot the lab opens with (b"": the server's default experiment)."""
    if experiment is None:
        return b""
    from .config import Config, make_config
    from .trainer import Trainer

    if isinstance(experiment, Trainer):
        return experiment.snapshot_bytes()
    if isinstance(experiment, str):  # a data set's name: its recommended preset, as `ganlab train --data`
        from .data import DISTRIBUTIONS
        from .data.image_presets import IMAGE_PRESETS, image_preset

        dist = DISTRIBUTIONS.get(experiment)
        base = dict(dist.preset) if dist is not None else (
            image_preset(experiment) if experiment in IMAGE_PRESETS else {})
        return Trainer(make_config(base, data=experiment)).snapshot_bytes()
    if isinstance(experiment, (Config, dict)):
        return Trainer(experiment).snapshot_bytes()
    raise TypeError(f"show(experiment): a Trainer, a Config or dict, a data set's name or None; "
                    f"got {type(experiment).__name__}")


class Lab:
    """A lab shown in a notebook: the page (an iframe) and its live session on the server."""

    def __init__(self, srv: _Server, token: str, width: str | int, height: int):
        self._server, self.token = srv, token
        self.width, self.height = width, height

    @property
    def url(self) -> str:
        """The page's address as the browser reaches it (through Jupyter's proxy if there is one)."""
        prefix = _proxy_prefix()
        base = f"{prefix}proxy/{self._server.port}/" if prefix else self._server.base
        return f"{base}?lab={self.token}"

    def trainer(self):
        """A Trainer of what the page shows now (its weights, optimizer state and epoch, at an
        epoch boundary); the page trains on. LookupError if no page of this lab is open."""
        from .trainer import Trainer

        return Trainer.from_bytes(self._server.request("GET", f"api/labs/{self.token}/snapshot"))

    def _repr_html_(self) -> str:
        width = f"{self.width}px" if isinstance(self.width, int) else str(self.width)
        return (f'<iframe src="{html.escape(self.url)}" title="GAN Lab" '
                f'style="width: {html.escape(width)}; height: {int(self.height)}px; border: 0" '
                f'allow="clipboard-write"></iframe>')

    def __repr__(self) -> str:
        return f"<ganlab lab at {self.url}>"


def show(experiment: Any = None, *, port: int | None = None, width: str | int = "100%",
         height: int = DEFAULT_HEIGHT) -> Lab:
    """Display GAN Lab in the notebook, opened with ``experiment``: a Trainer (its weights,
    optimizer state and epoch), a Config or dict, a data set's name (its recommended preset) or
    None (the lab's default). Starts a local ganlab server the first time (``port``: None for a
    free one) and reuses it after; ``lab.trainer()`` gives back what the page shows."""
    state = _state(experiment)
    srv = server(port)
    token = json.loads(srv.request("POST", "api/labs", state))["lab"]
    return Lab(srv, token, width, height)


def setup_proxy() -> dict:
    """jupyter-server-proxy's entry point (``jupyter_serverproxy_servers``): GAN Lab in the
    Jupyter launcher, served at ``<jupyter>/ganlab/`` by ``ganlab serve`` on the port the proxy
    picks. Jupyter authenticates every request and checks websocket origins, and the server
    listens on loopback only, so it answers any Host and Origin the proxy passes on."""
    icon = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icon.svg")
    return {
        # `ganlab serve` that ends with this Jupyter even when Jupyter is killed outright (which
        # stops nothing it started): see _child.
        "command": [sys.executable, "-m", "ganlab.notebook", "--watch", "parent",
                    "--port", "{port}", "--allow-host", "*", "--allow-origin", "*"],
        "timeout": 60,
        "absolute_url": False,  # the page's URLs are relative: it is served at /, the proxy strips /ganlab
        "new_browser_tab": True,
        "launcher_entry": {"title": "GAN Lab", "icon_path": icon},
    }


def _gone_stdin() -> None:
    """Return when stdin reaches its end: the kernel that holds the pipe's other end is gone."""
    with contextlib.suppress(OSError):  # os.read: the buffered sys.stdin's lock would
        while os.read(0, 1 << 12):      # hold up the interpreter's exit
            pass


def _gone_parent() -> None:
    """Return when the parent process is gone (this process is then re-parented). A parent that
    is PID 1 (Jupyter as a container's first process) is not watched: its end ends the container."""
    parent = os.getppid()
    if parent == 1:
        threading.Event().wait()
    while os.getppid() == parent:
        time.sleep(1.0)


WATCHES = {"stdin": _gone_stdin, "parent": _gone_parent}


def _child(argv: list[str]) -> None:
    """The notebook's server: ``ganlab serve`` that exits (as on Ctrl-C) once whoever started it
    is gone, however it ended. ``--watch stdin``: ``show``'s server, whose stdin is a pipe from the
    kernel. ``--watch parent``: jupyter-server-proxy's, whose stdin is Jupyter's own (a terminal,
    /dev/null): it watches its parent, Jupyter, instead."""
    from .cli import main

    watch = WATCHES["stdin"]
    if argv[:1] == ["--watch"]:
        if len(argv) < 2 or argv[1] not in WATCHES:
            sys.exit(f"ganlab.notebook: --watch takes one of {', '.join(WATCHES)}")
        watch, argv = WATCHES[argv[1]], argv[2:]

    def stop_when_gone() -> None:
        watch()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=stop_when_gone, daemon=True).start()
    sys.exit(main(["serve", "--host", "127.0.0.1", "--no-browser", *argv]))


if __name__ == "__main__":
    _child(sys.argv[1:])
