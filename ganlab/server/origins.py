"""Who may reach the server: Host checks (DNS rebinding) for every route, Origin checks
(cross-site websocket hijacking) for the websocket.

DNS rebinding: a page on ``evil.example`` re-points its name at 127.0.0.1 and then talks to the
local server as a same-origin page, with ``Host: evil.example``. Answering only the host names the
server is meant for (loopback names, the ``--host`` it was given, ``--allow-host``) stops it.
"""

from __future__ import annotations

import logging
from ipaddress import IPv6Address
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .settings import DEFAULT_HOSTS, DEFAULT_ORIGINS

# Answered whatever the Host: a load balancer's or orchestrator's probe often names the server by
# an address nobody listed, and the counts it returns hold nothing a rebinding page could abuse.
OPEN_PATHS = ("/healthz", "/metrics")
log = logging.getLogger("ganlab.server")
ANY_ADDRESS = ("", "0.0.0.0", "::", "[::]")


def host_pattern(name: str) -> str:
    """A host name as the Host header spells it: lower case, IPv6 addresses in brackets."""
    name = name.strip().lower()
    try:
        return f"[{IPv6Address(name)}]"
    except ValueError:
        return name


def served_hosts(allowed: list[str], bind_host: str | None = None) -> list[str]:
    """The Host names the server answers: loopback names, ``bind_host`` if it is a specific
    address or name (not 0.0.0.0 / ::), and ``allowed`` ("*" = any)."""
    if "*" in allowed:
        return ["*"]
    extra = [bind_host] if bind_host and bind_host not in ANY_ADDRESS else []
    return list(dict.fromkeys(host_pattern(h) for h in (*DEFAULT_HOSTS, *extra, *allowed)))


def host_name(header: str) -> str:
    """The name in a Host header: ``"Lab.Example:8000"`` -> ``"lab.example"``,
    ``"[::1]:8000"`` -> ``"[::1]"``."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[: h.find("]") + 1] if "]" in h else h
    name, sep, port = h.rpartition(":")
    return name if sep and port.isdigit() else h


class HostCheck:
    """Answer only the served hosts (as Starlette's TrustedHostMiddleware, on plain requests and
    websocket handshakes alike, but with an error that says what to do): any other Host gets
    HTTP 400 before the app sees the request. :data:`OPEN_PATHS` answer any Host."""

    def __init__(self, app: ASGIApp, hosts: list[str]):
        self.app, self.hosts = app, set(hosts)
        self.suffixes = tuple(h[1:] for h in hosts if h.startswith("*."))

    def allows(self, header: str | None) -> bool:
        if "*" in self.hosts:
            return True
        name = host_name(header or "")
        return name in self.hosts or bool(self.suffixes) and name.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or (
                scope["type"] == "http" and scope["path"] in OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("host")
        if self.allows(header):
            await self.app(scope, receive, send)
            return
        name = host_name(header or "")[:100]
        log.warning("request for host %r refused", name)
        text = (f"ganlab does not answer for the host {name!r} (a guard against DNS rebinding); "
                f"to serve it, start ganlab with --allow-host {name or 'NAME'}\n")
        # On a websocket scope Starlette sends this as a refused handshake (HTTP 400).
        await PlainTextResponse(text, status_code=400)(scope, receive, send)


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """True if a websocket from ``origin`` may connect to a server reached as ``host`` (a host
    :class:`HostCheck` admitted, so "same host" never trusts a rebound name).

    No Origin header (non-browser clients) is allowed: the check protects browsers' cookies and
    local reachability, and a non-browser client can send any header anyway. Allowed: the same
    host:port as the request, any listed origin (``scheme://host:*`` matches every port) and
    ``*``.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if "*" in allowed:
        return True
    try:
        parts = urlsplit(origin)
        netloc = parts.netloc
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not netloc:
        return False  # "null" (file://, sandboxed frames) and other schemes
    if host and netloc == host.strip().lower():
        return True
    for pattern in (*DEFAULT_ORIGINS, *allowed):
        pattern = pattern.lower()
        if pattern == origin:
            return True
        if pattern.endswith(":*") and origin.startswith(pattern[:-1]):
            port = origin[len(pattern) - 1 :]
            if port.isdigit():
                return True
            # "http://localhost:*" also admits the default port ("http://localhost").
        if pattern.endswith(":*") and origin == pattern[:-2]:
            return True
    return False
