"""Binary frames (docs/protocol.md, "Binary frame layout") and JSON that never holds NaN.

Layout, little-endian, every offset a multiple of 4 so that ``new Float32Array(buf, off, n)``
views a layer without copying::

    0  "GLF1"   4 seq   8 K (layers)   12 reserved
    16 K entries of (uint32 id, rows, cols, byte offset), then the float32 payloads
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ganlab.jsonsafe import finite

MAGIC = b"GLF1"
HEADER = 16
ENTRY = 16
LAYER_IDS = {
    "real": 1, "fake": 2, "heatmap": 3, "d_grad": 4, "g_grad": 5, "manifold": 6,
    "manifold_area": 7, "optimal_d": 8, "noise": 9,
}
LAYER_BY_ID = {v: k for k, v in LAYER_IDS.items()}
F32_MAX = float(np.finfo(np.float32).max)


def encode(seq: int, layers: dict[str, np.ndarray]) -> bytes:
    """One binary frame holding ``layers`` (name -> 2D array; 1D arrays become one row).

    Non-finite values are replaced (NaN -> 0, +-inf -> +-float32 max) so the page never draws
    garbage, although the trainer already refuses to go non-finite.
    """
    arrays = [(LAYER_IDS[name], np.asarray(a)) for name, a in layers.items()]
    arrays = [(i, a.reshape(1, -1) if a.ndim == 1 else a) for i, a in arrays]
    k = len(arrays)
    offset = HEADER + ENTRY * k
    table = np.zeros((k, 4), dtype="<u4")
    for row, (i, a) in zip(table, arrays, strict=True):
        row[:] = (i, a.shape[0], a.shape[1], offset)
        offset += 4 * a.size
    out = np.empty(offset // 4, dtype="<u4")
    out[:1].view("S4")[0] = MAGIC
    out[1:4] = (seq & 0xFFFFFFFF, k, 0)
    out[4 : 4 + 4 * k] = table.ravel()
    body = out.view("<f4")
    for (_, a), (_, _, _, off) in zip(arrays, table, strict=True):
        dst = body[off // 4 : off // 4 + a.size]
        dst[:] = a.ravel()
        if not np.isfinite(dst).all():
            np.nan_to_num(dst, copy=False, nan=0.0, posinf=F32_MAX, neginf=-F32_MAX)
    return out.tobytes()


def decode(data: bytes) -> tuple[int, dict[str, np.ndarray]]:
    """(seq, name -> float32 array of shape (rows, cols)) of a binary frame; for tests and tools."""
    if len(data) < HEADER or data[:4] != MAGIC:
        raise ValueError("not a ganlab binary frame (magic GLF1 missing)")
    seq, k, _ = np.frombuffer(data, dtype="<u4", count=3, offset=4)
    table = np.frombuffer(data, dtype="<u4", count=4 * int(k), offset=HEADER).reshape(-1, 4)
    out = {}
    for i, rows, cols, off in table:
        a = np.frombuffer(data, dtype="<f4", count=int(rows * cols), offset=int(off))
        out[LAYER_BY_ID.get(int(i), str(int(i)))] = a.reshape(int(rows), int(cols))
    return int(seq), out


def config_json(config) -> dict:
    """``config.model_dump(mode="json")`` without pydantic's walk of ``data_params``: on the
    server those came as JSON (a message, a snapshot, a preset), and walking an uploaded point set
    of 100,000 pairs cost more than parsing it."""
    out = config.model_dump(mode="json", exclude={"data_params"})
    out["data_params"] = config.data_params
    return out


def dumps(msg: dict[str, Any]) -> str:
    """JSON text of a server message; NaN and infinities become null (JSON has no such numbers)."""
    try:
        return json.dumps(msg, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(finite(msg), allow_nan=False, separators=(",", ":"))


__all__ = ["LAYER_IDS", "LAYER_BY_ID", "MAGIC", "config_json", "decode", "dumps", "encode", "finite"]
