"""The FastAPI app: the page, health, schema, the live websocket, static files.

``create_app(settings)`` builds an app; ``app_from_env()`` is the import-string factory that
uvicorn's worker processes call (``ganlab.server.app:app_from_env``), reading ``GANLAB_*``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ganlab import __version__

from . import animate, balance, image_uploads, labs, logs, pointfiles, prometheus, trained
from .frames import dumps
from .offload import HeavyPool
from .origins import HostCheck, origin_allowed, served_hosts
from .schema import build_schema
from .session import PROTOCOL, Load, Session, error
from .settings import Settings
from .shutdown import MOVE_CODE, MOVE_REASON, Drain
from .tuning import trim_soon, tune_malloc

log = logging.getLogger("ganlab.server")
REPO = Path(__file__).resolve().parents[2]  # ganlab/server/app.py -> the checkout (editable)

PLACEHOLDER = """<!doctype html><meta charset="utf-8"><title>ganlab</title>
<p>ganlab {{ version }}: the page is not built yet (templates/index.html is missing).
The live protocol is at <code>/ws</code>, the schema at <a href="/api/schema">/api/schema</a>.</p>
"""


def _dir(configured: str, name: str) -> Path:
    """``configured`` if given, else ``<repo>/<name>`` next to the package, else ``./<name>``."""
    if configured:
        return Path(configured)
    for base in (REPO, Path.cwd()):
        if (base / name).is_dir():
            return base / name
    return REPO / name


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app. One websocket at ``/ws`` is one training session (docs/protocol.md)."""
    settings = settings or Settings()
    tune_malloc()
    # numpy imports numpy.ma on the first percentile (the health hints' data box): ~40-90 ms of
    # one session's first metrics frame, during which its worker's other sessions stood still.
    import numpy.ma  # noqa: F401
    logs.install()  # client-triggered log lines are rate-limited
    app = FastAPI(title="ganlab", version=__version__, docs_url=None, redoc_url=None,
                  lifespan=_lifespan)
    app.state.settings = settings
    app.state.sessions = {}
    app.state.load = Load()
    app.state.drain = Drain(settings.drain_timeout)  # SIGTERM: sessions move elsewhere (shutdown.py)
    app.state.recorder = prometheus.Recorder()
    app.state.balancer = None  # set in worker processes of `run(workers > 1)`: see balance.py
    app.state.heavy = HeavyPool(settings) if settings.heavy_processes > 0 else None
    static_dir = _dir(settings.static_dir, "static")
    templates_dir = _dir(settings.templates_dir, "templates")
    templates = Jinja2Templates(directory=str(templates_dir))
    context = {"version": __version__, "protocol": PROTOCOL, "ws_path": "/ws",
               "schema_url": "/api/schema", "static_url": "/static"}

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request):
        if not (templates_dir / "index.html").is_file():
            return HTMLResponse(PLACEHOLDER.replace("{{ version }}", __version__))
        return templates.TemplateResponse(request, "index.html", context)

    @app.get("/healthz")
    async def healthz():
        # 503 while draining: probes (compose, Kubernetes) take the replica out at once.
        draining = app.state.drain.draining
        body = {"status": "draining" if draining else "ok", "version": __version__, "protocol": PROTOCOL,
                "sessions": len(app.state.sessions), "max_sessions": settings.max_sessions,
                "running": app.state.load.running, "tasks": len(asyncio.all_tasks()),
                "worker": os.getpid()}
        return JSONResponse(body, status_code=503 if draining else 200)

    @app.get("/metrics")
    async def metrics():
        observe(app)
        body, content_type = prometheus.exposition()
        return Response(body, media_type=content_type)

    @app.get("/debug/sessions")
    async def debug_sessions(request: Request):
        """Per-session CPU time, epochs and frames, for benchmarks (scripts/neighbours.py);
        answered to loopback clients only."""
        if not request.client or request.client.host not in ("127.0.0.1", "::1"):
            return JSONResponse({"error": "loopback clients only"}, status_code=403)
        heavy = app.state.heavy.procs if app.state.heavy is not None else []
        return {"worker": os.getpid(), "process_cpu": time.process_time(),
                "heavy": [{"pid": p.pid, "cpu": p.cpu(), "sessions": len(p.routes)} for p in heavy],
                "animate": {"running": app.state.animate.running, "processes": app.state.animate.processes()},
                "sessions": [s.usage() for s in app.state.sessions.values()]}

    @app.get("/api/schema")
    async def schema():
        # Built once per process (it reads the image sets for their previews: ~0.4 s), in a
        # thread so that the first request does not hold up the sessions on the loop.
        return JSONResponse(await asyncio.to_thread(build_schema))

    app.include_router(trained.router)  # GET /api/trained/<name>
    pointfiles.register(app)  # POST /api/points: the page's point-file import
    image_uploads.register_route(app)  # POST /api/images: the page's image-set import
    animate.register(app)  # POST /api/animate: the page's Record control
    labs.register(app, settings.lab_key)  # /api/labs: a notebook's experiment in the page

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket):
        await live(ws, app)

    app.mount("/static", StaticFiles(directory=str(static_dir), check_dir=False), name="static")
    app.add_middleware(HostCheck, hosts=served_hosts(settings.allowed_hosts))
    return app


async def live(ws: WebSocket, app: FastAPI) -> None:
    """Admit a websocket (origin, capacity), then run its session until it ends."""
    settings: Settings = app.state.settings
    sessions: dict[str, Session] = app.state.sessions
    if app.state.drain.draining:
        # Refuse the handshake itself: nginx passes a 503 on to another replica at once
        # (proxy_next_upstream http_503), and a browser simply retries.
        prometheus.refused("draining")
        await ws.send_denial_response(PlainTextResponse("this server is shutting down; reconnect",
                                                        status_code=503))
        return
    origin = ws.headers.get("origin")
    if not origin_allowed(origin, ws.headers.get("host"), settings.allowed_origins):
        # Accept, then close with 1008: a browser only sees the close code if the handshake
        # succeeded (a refused handshake shows as 1006). Nothing is sent before the close.
        log.warning("websocket from origin %r refused", origin)
        prometheus.refused("origin")
        await ws.accept()
        await ws.close(1008, "origin not allowed")
        return
    await ws.accept()
    if app.state.drain.draining:  # began while the handshake completed: go elsewhere now
        prometheus.refused("draining")
        await ws.close(MOVE_CODE, MOVE_REASON)
        return
    if len(sessions) >= settings.max_sessions:
        prometheus.refused("busy")
        await ws.send_text(dumps(error(None, "server_busy",
                                       f"the server is full ({settings.max_sessions} sessions); "
                                       "try again later")))
        await ws.close(1013, "server busy")
        return
    balancer: balance.Balancer | None = app.state.balancer
    if balancer is not None and not balancer.admit(_retry(ws)):
        prometheus.refused("rebalance")
        await ws.send_text(dumps(error(None, "rebalance",
                                       "another worker process has fewer sessions; reconnect "
                                       "with ?retry=<n+1>")))
        await ws.close(1013, balance.REBALANCE_REASON)
        return
    session = Session(ws, settings, app.state.load, app.state.heavy)
    lab = labs.lab_token(app, ws.query_params.get("lab"))
    if lab is not None:  # a notebook's lab: start from the state it handed over
        session.lab = await labs.open_lab(app.state.labs, lab, session)
    sessions[session.id] = session
    prometheus.SESSIONS_OPENED.inc()
    if balancer is not None:
        balancer.publish(len(sessions))
    try:
        await session.serve()
    finally:
        del sessions[session.id]
        if lab is not None:
            try:
                labs.close_lab(app.state.labs, lab, session)
            except Exception:  # never at the expense of the cleanup below
                log.exception("lab %s: keeping the state of its page failed", lab[:8])
        app.state.recorder.ended(session.id, session)
        del session  # the last reference: its trainer and frames are freed here, then trimmed
        trim_soon(asyncio.get_running_loop())
        if balancer is not None:
            balancer.publish(len(sessions))
        with contextlib.suppress(Exception):  # already closed by the client or by idling out
            await ws.close(1000)


def observe(app: FastAPI) -> None:
    """Bring this process's metrics up to date (prometheus.py)."""
    sessions = app.state.sessions
    moved = sum(1 for s in sessions.values() if s.remote is not None and s.remote_running)
    app.state.recorder.observe(sessions, app.state.load.running + moved, app.state.drain.draining)


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI):
    """Install the SIGTERM drain (in a served worker's main thread) and count epochs and frames
    once a second while serving."""
    app.state.drain.install(app.state.sessions)

    async def sample() -> None:
        while True:
            observe(app)
            await asyncio.sleep(1.0)

    task = asyncio.create_task(sample())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if app.state.heavy is not None:
            await app.state.heavy.close()  # they would end with their pipes anyway
        await app.state.animate.close()  # the animation job processes too


def _retry(ws: WebSocket) -> int:
    """The client's attempt number after ``rebalance`` refusals (``?retry=n``; 0 if absent)."""
    try:
        return max(0, int(ws.query_params.get("retry", "0")))
    except ValueError:
        return 0


def app_from_env() -> FastAPI:
    """App factory for worker processes: settings from ``GANLAB_*`` environment variables, and
    the shared session table when ``run`` started several workers."""
    app = create_app(Settings.from_env())
    app.state.balancer = balance.from_env()
    return app


__all__ = ["app_from_env", "create_app", "live"]
