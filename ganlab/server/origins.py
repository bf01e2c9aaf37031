"""Origin checks for websockets (cross-site websocket hijacking): only pages we serve may connect."""

from __future__ import annotations

from urllib.parse import urlsplit

from .settings import DEFAULT_ORIGINS


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """True if a websocket from ``origin`` may connect to a server reached as ``host``.

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
