"""The binary snapshot: the JSON snapshot with its big arrays stored raw (image models are
megabytes; as JSON text they would be tens of megabytes and seconds to parse).

Layout (all integers little-endian)::

    offset 0   magic   b"GANLABSN"                    8 bytes
    offset 8   version uint32 (1)
    offset 12  header length H, uint32
    offset 16  header: H bytes of UTF-8 JSON
    then       arrays, each at an offset that is a multiple of 64, zero bytes between

The header is the JSON snapshot (``Trainer.snapshot``) in which every array leaf is replaced by
``{"$array": i}``, plus ``"$arrays"``: a list of ``{"dtype": "<f4" | "<f8", "offset", "count"}``
and ``"$crc32"``, the CRC-32 of every byte after the header. Decoding checks the magic, version,
sizes, offsets, dtypes and checksum before it reads any value, and never reads more than
``MAX_BYTES``; the values themselves then go through the same checks as a JSON snapshot
(``snapshot_check``), in ``Trainer.restore``.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

from .snapshot_check import fail

MAGIC = b"GANLABSN"
VERSION = 1
ALIGN = 64
MAX_BYTES = 256 * 2**20  # the largest config (1024 units, Adam, float64, weight average) is ~60 MB
MAX_HEADER = 4 * 2**20
_PREFIX = struct.Struct("<8sII")
DTYPES = {"<f4": np.dtype("<f4"), "<f8": np.dtype("<f8")}


def encode(snap: dict) -> bytes:
    """Bytes of ``snap``, a snapshot dict whose arrays are numpy float arrays (1-D)."""
    arrays: list[np.ndarray] = []

    def strip(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            arrays.append(x)
            return {"$array": len(arrays) - 1}
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    header = strip(snap)
    # Offsets depend on the header's length, which depends on the offsets' digits: lay the
    # arrays out after a header estimate, and redo it in the rare case the header outgrew it.
    room = 0
    while True:
        table, end = [], None
        start = _align(_PREFIX.size + room)
        pos = start
        for a in arrays:
            dt = "<f4" if a.dtype == np.float32 else "<f8"
            table.append({"dtype": dt, "offset": pos, "count": int(a.size)})
            end = pos + a.size * DTYPES[dt].itemsize
            pos = _align(end)
        body_len = (end or start) - start
        text = json.dumps({**header, "$arrays": table, "$crc32": 0}, allow_nan=False).encode()
        if _PREFIX.size + len(text) + 16 <= start:
            break
        room = len(text) + 32
    out = bytearray(start + body_len)
    for a, t in zip(arrays, table, strict=True):
        raw = np.ascontiguousarray(a, DTYPES[t["dtype"]]).tobytes()
        out[t["offset"] : t["offset"] + len(raw)] = raw
    crc = zlib.crc32(memoryview(out)[start:])
    text = json.dumps({**header, "$arrays": table, "$crc32": crc}, allow_nan=False).encode()
    text += b" " * (start - _PREFIX.size - len(text))  # pad the header to the first array
    out[: _PREFIX.size] = _PREFIX.pack(MAGIC, VERSION, len(text))
    out[_PREFIX.size : start] = text
    return bytes(out)


def decode(data: bytes, max_bytes: int = MAX_BYTES) -> dict:
    """The snapshot dict of ``data``, arrays as read-only numpy views; ValueError naming what is
    wrong (``snapshot file: ...``) for anything but a whole, undamaged binary snapshot."""
    where = "snapshot file"
    n = len(data)
    if n > max_bytes:
        raise fail(where, f"{n} bytes is more than the {max_bytes} a snapshot may have")
    if n < _PREFIX.size:
        raise fail(where, f"truncated: {n} bytes, not even the {_PREFIX.size}-byte preamble")
    magic, version, hlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise fail(where, "not a ganlab binary snapshot (wrong magic bytes)")
    if version != VERSION:
        raise fail(where, f"unsupported binary snapshot version {version}; this ganlab reads version {VERSION}")
    if hlen > MAX_HEADER:
        raise fail(where, f"header of {hlen} bytes is more than the {MAX_HEADER} allowed")
    body = _PREFIX.size + hlen
    if body > n:
        raise fail(where, f"truncated: the header needs {body} bytes, the file has {n}")
    try:
        header = json.loads(bytes(data[_PREFIX.size : body]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise fail(f"{where}.header", f"not valid JSON ({str(e)[:80]})") from None
    if not isinstance(header, dict) or not isinstance(header.get("$arrays"), list):
        raise fail(f"{where}.header", "must be an object with an $arrays table")
    table = header.pop("$arrays")
    crc = header.pop("$crc32", None)
    start = _align(body)
    arrays, end = [], start
    for i, t in enumerate(table):
        w = f"{where}.header.$arrays.{i}"
        if not isinstance(t, dict) or set(t) != {"dtype", "offset", "count"}:
            raise fail(w, "must be an object with dtype, offset and count")
        dt = DTYPES.get(t["dtype"]) if isinstance(t["dtype"], str) else None
        if dt is None:
            raise fail(f"{w}.dtype", f"must be one of {', '.join(DTYPES)}")
        off, count = t["offset"], t["count"]
        if type(off) is not int or off < end or off % ALIGN:
            raise fail(f"{w}.offset", f"must be a multiple of {ALIGN} at or after byte {end} (arrays in order, "
                       "not overlapping)")
        if type(count) is not int or count < 0 or off + count * dt.itemsize > n:
            if type(count) is int and count >= 0:
                raise fail(where, f"truncated: array {i} ends at byte {off + count * dt.itemsize}, "
                           f"the file has {n}")
            raise fail(f"{w}.count", "must be a whole number >= 0")
        arrays.append(np.frombuffer(data, dt, count, off))
        end = off + count * dt.itemsize
    if end != n:
        raise fail(where, f"{n - end} unexpected bytes after the last array (damaged or not one snapshot)")
    if type(crc) is not int or crc != zlib.crc32(memoryview(data)[start:]):
        raise fail(where, "checksum mismatch: the arrays are damaged")
    used: set[int] = set()

    def fill(x: Any, path: str) -> Any:
        if isinstance(x, dict):
            if "$array" in x:
                i = x["$array"]
                if set(x) != {"$array"} or type(i) is not int or not 0 <= i < len(arrays) or i in used:
                    raise fail(path, "bad array reference")
                used.add(i)
                return arrays[i]
            return {k: fill(v, f"{path}.{k}") for k, v in x.items()}
        if isinstance(x, list):
            return [fill(v, f"{path}.{j}") for j, v in enumerate(x)]
        return x

    snap = fill(header, "snapshot")
    if len(used) != len(arrays):
        raise fail(f"{where}.header.$arrays", f"{len(arrays) - len(used)} arrays that nothing refers to")
    return snap


def is_binary(data: bytes) -> bool:
    """Whether ``data`` starts like a binary snapshot (else it may be a JSON one)."""
    return data[: len(MAGIC)] == MAGIC


def _align(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


__all__ = ["MAGIC", "MAX_BYTES", "VERSION", "decode", "encode", "is_binary"]
