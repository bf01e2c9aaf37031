"""``GET /api/trained/<name>``: the shipped trained state of a distribution (see
:mod:`ganlab.data.trained`), a snapshot the page restores with the websocket's ``restore``.

The file is stored gzipped and sent as it is to clients that accept gzip (every browser), else
decompressed; an unknown name is a 404 naming the known ones.
"""

from __future__ import annotations

import gzip

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ganlab.data.trained import trained_names, trained_path

router = APIRouter()


@router.get("/api/trained/{name}")
async def trained(name: str, request: Request) -> Response:
    path = trained_path(name)
    if path is None:
        known = ", ".join(trained_names()) or "none"
        return JSONResponse({"error": "not_found", "message":
                             f"no trained state for {name!r}; trained states exist for: {known}"},
                            status_code=404)
    data = path.read_bytes()
    headers = {"Cache-Control": "public, max-age=3600", "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(data, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(gzip.decompress(data), media_type="application/json", headers=headers)
