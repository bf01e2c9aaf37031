"""POST /api/images: the user's own image set (IDX or NPZ, e.g. the full MNIST they already have),
read by the existing loaders (:func:`ganlab.data.images.load_images`) and trained like a built-in.

The page sends the images file's bytes as the body, its name as ``?name=``; an IDX images file may
come with its IDX labels file: ``?labels=<labels file name>&split=<bytes of the images file>`` and
the body holds both files one after the other. A bad file is refused (400) with the loader's
message naming the file and the problem, never a partial load.

A set that loads is stored as ``upload-<first 12 hex of the SHA-256 of its pixels and labels>.npz``
in the upload directory (``GANLAB_UPLOAD_DIR``, default ``<tmp>/ganlab-uploads``, the newest
``KEEP`` kept) and registered as an image set of that name, so the engine trains it by name, a link
or a snapshot names it, and every worker process of the machine finds it (:func:`ensure`, called
before a ``data``, ``config`` or ``restore`` names it). Non-square images, more than ``MAX_SIDE``
pixels a side or more than ``MAX_CLASSES`` labels are refused. Without labels every image is class
0 ("unlabelled"): no class metrics, and the conditional option means nothing. Uploaded sets have no
classifier, so their frames carry D's means but no classes captured or FD.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ganlab.data.images import IMAGE_SETS, ImageDataError, load_images

MAX_BODY = 64 << 20  # bytes of the request (gzipped full MNIST is 10 MB; raw, 47 MB)
MAX_SIDE = 32
MAX_CLASSES = 100
KEEP = 32
NAME = re.compile(r"^upload-[0-9a-f]{12}$")


def upload_dir() -> Path:
    return Path(os.environ.get("GANLAB_UPLOAD_DIR") or Path(tempfile.gettempdir()) / "ganlab-uploads")


def _register(name: str, info: dict) -> None:
    IMAGE_SETS[name] = {"label": info["label"], "side": info["side"], "max_value": 255,
                        "classes": info["classes"], "file": str(upload_dir() / f"{name}.npz"),
                        "source": f"uploaded file {info['label']}", "licence": "the user's own"}


def ensure(name: object) -> bool:
    """Register an uploaded set stored by any worker of this machine; False if there is none."""
    if not isinstance(name, str) or not NAME.match(name):
        return False
    if name in IMAGE_SETS:
        return True
    try:
        info = json.loads((upload_dir() / f"{name}.json").read_text())
    except (OSError, ValueError):
        return False
    if not (upload_dir() / f"{name}.npz").is_file():
        return False
    _register(name, info)
    return True


def store(images: bytes, name: str, labels: bytes | None = None, labels_name: str | None = None) -> dict:
    """Load an uploaded set with the image loaders, store and register it: the page's reply."""
    with tempfile.TemporaryDirectory() as tmp:
        # Under the user's own file names, so that the loaders' messages name them.
        img_path = Path(tmp) / _safe(name, "images")
        img_path.write_bytes(images)
        lab_path = None
        if labels is not None:
            lab_path = Path(tmp) / _safe(labels_name or "labels.idx", "labels")
            if lab_path == img_path:
                lab_path = lab_path.with_name("labels-" + lab_path.name)
            lab_path.write_bytes(labels)
        X, y, _ = load_images(img_path, labels=lab_path)
    n, h, w = X.shape
    if h != w:
        raise ImageDataError(f"{name}: images of {h} x {w} pixels; only square images can be trained")
    if h > MAX_SIDE:
        raise ImageDataError(f"{name}: images of {h} x {w} pixels; at most {MAX_SIDE} x {MAX_SIDE} "
                             "(each pixel is an input of D)")
    if y is None:
        y, classes = np.zeros(n, np.int64), ["unlabelled"]
    else:
        if int(y.min()) < 0 or int(y.max()) >= MAX_CLASSES:
            raise ImageDataError(f"{labels_name or name}: labels must be 0..{MAX_CLASSES - 1}, "
                                 f"got {int(y.min())}..{int(y.max())}")
        classes = [str(i) for i in range(int(y.max()) + 1)]
    X = np.ascontiguousarray(X, np.uint8)
    y8 = y.astype(np.uint8)
    digest = hashlib.sha256(X.tobytes() + y8.tobytes()).hexdigest()[:12]
    key = f"upload-{digest}"
    info = {"label": name[:80], "side": h, "classes": classes, "n": n}
    d = upload_dir()
    d.mkdir(parents=True, exist_ok=True)
    if not (d / f"{key}.npz").is_file():
        tmp = d / f".{key}.{os.getpid()}.npz"
        np.savez(tmp, images=X, labels=y8)
        os.replace(tmp, d / f"{key}.npz")  # whole or not at all, for the other workers
        (d / f"{key}.json").write_text(json.dumps(info))
        _prune(d)
    _register(key, info)
    picks = [int(np.flatnonzero(y == c)[0]) for c in range(min(4, len(classes))) if (y == c).any()]
    picks = (picks + list(range(4)))[:4] if len(picks) < 4 else picks
    return {"name": key, "label": info["label"], "n": n, "image_shape": [h, w], "classes": classes,
            "kind": "images", "available": True, "unavailable": None,
            "preview_images": [X[i].ravel().tolist() for i in picks if i < n]}


def _safe(name: str, fallback: str) -> str:
    """A file name made of [A-Za-z0-9._-] only, not starting with a dot (no paths, no '..')."""
    s = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name)[:120].lstrip(".")
    return s or fallback


def _prune(d: Path) -> None:
    files = sorted(d.glob("upload-*.npz"), key=lambda p: p.stat().st_mtime)
    for p in files[:-KEEP]:
        for f in (p, p.with_suffix(".json")):
            f.unlink(missing_ok=True)


def register_route(app: FastAPI) -> None:
    @app.post("/api/images")
    async def images(request: Request):
        q = request.query_params
        name, labels_name = q.get("name", "") or "images", q.get("labels")
        if len(name) > 255 or (labels_name and len(labels_name) > 255):
            return JSONResponse({"error": "name: at most 255 characters"}, 400)
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY:
            return JSONResponse({"error": f"{name}: {int(declared)} bytes; the limit is {MAX_BODY} (64 MiB)"}, 413)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                return JSONResponse({"error": f"{name}: over {MAX_BODY} bytes (64 MiB)"}, 413)
            chunks.append(chunk)
        body = b"".join(chunks)
        split = q.get("split")
        if labels_name is not None:
            if split is None or not split.isdigit() or not 0 < int(split) < len(body):
                return JSONResponse({"error": "split: the images file's byte length, within the body"}, 400)
            images_part, labels_part = body[: int(split)], body[int(split):]
        else:
            images_part, labels_part = body, None
        try:
            # Decompressing and checking tens of megabytes: off the event loop.
            return await asyncio.to_thread(store, images_part, name, labels_part, labels_name)
        except ImageDataError as e:
            return JSONResponse({"error": str(e)}, 400)


__all__ = ["ensure", "register_route", "store", "upload_dir"]
