"""POST /api/points: the page's point-file import, parsed by the CLI's parser.

The page sends the file's bytes as the request body and its name as ``?name=`` (the suffix picks
CSV or JSON, as for ``ganlab train --data-file``). Points outside the unit square are mapped into
it, as the CLI does (:func:`into_square`: one rule, one note). Replies: 200
``{"points": [[x, y], ...], "n": n, "fitted": bool, "note": str | null}``; 400 ``{"error": message}`` where the message
is the CLI's for the same file (line and column named); 413 for a body over the CLI's 5 MB limit,
with the CLI's size message. One parser, one set of rules, the same words in both places.
"""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ganlab.data import DataError
from ganlab.data.pointsets import MAX_BYTES, format_of, into_square, parse_points


def _too_large(name: str, size: int) -> JSONResponse:
    return JSONResponse({"error": f"{name}: file is {size} bytes; the limit is {MAX_BYTES} (5 MB)"}, 413)


async def _body(request: Request, name: str) -> bytes | JSONResponse:
    """The body, read no further than the limit (a declared length over it is refused unread)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BYTES:
        return _too_large(name, int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            return _too_large(name, size)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_upload(data: bytes, name: str) -> dict:
    """The reply for one file: its points, mapped into [0, 1]^2 if any lies outside."""
    pts, note = into_square(parse_points(data, format_of(name), name), name)
    return {"points": np.asarray(pts, dtype=float).tolist(), "n": len(pts), "fitted": note is not None,
            "note": note}


def register(app: FastAPI) -> None:
    @app.post("/api/points")
    async def points(request: Request):
        name = request.query_params.get("name", "") or "points.csv"
        if len(name) > 255:
            return JSONResponse({"error": "name: at most 255 characters"}, 400)
        body = await _body(request, name)
        if isinstance(body, JSONResponse):
            return body
        try:
            # Parsing 100,000 rows takes a while: off the event loop, so sessions keep training.
            return await asyncio.to_thread(parse_upload, body, name)
        except DataError as e:
            return JSONResponse({"error": str(e)}, 400)


__all__ = ["parse_upload", "register"]
