"""Point sets as files: CSV and JSON import (validated, errors naming the line) and export.

CSV: one point per line, ``x,y``; an optional header row (first non-blank line, non-numeric, e.g.
``x,y``); blank lines and lines starting with ``#`` are skipped; cells may be padded with spaces.
JSON: ``[[x, y], ...]`` or ``{"points": [[x, y], ...], ...}``.

Limits: files up to 5 MB and 100,000 points. Every problem raises :class:`DataError` saying what and
where: an empty file, a file too large, too many rows, a wrong column count, a non-numeric cell,
NaN or infinity.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .registry import DataError

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
FORMATS = ("csv", "json")


def _text(data: bytes | str, name: str) -> str:
    if isinstance(data, bytes):
        if len(data) > MAX_BYTES:
            raise DataError(f"{name}: file is {len(data)} bytes; the limit is {MAX_BYTES} (5 MB)")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise DataError(f"{name}: not UTF-8 text (byte {e.start})") from None
    elif len(data) > MAX_BYTES:
        raise DataError(f"{name}: text is {len(data)} characters; the limit is {MAX_BYTES} (5 MB)")
    if not data.strip():
        raise DataError(f"{name}: the file is empty")
    return data


def _number(cell: str, where: str) -> float:
    try:
        v = float(cell)
    except ValueError:
        raise DataError(f"{where}: {cell.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise DataError(f"{where}: {cell.strip()!r} is not finite (NaN and infinity are not allowed)")
    return v


def parse_csv(data: bytes | str, name: str = "CSV") -> np.ndarray:
    """Points (n, 2) from CSV text; see the module doc for the format and the errors."""
    text = _text(data, name)
    rows: list[tuple[float, float]] = []
    seen_data = False
    for lineno, line in enumerate(io.StringIO(text), start=1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        cells = s.split(",")
        where = f"{name} line {lineno}"
        if len(cells) != 2:
            raise DataError(f"{where}: expected 2 columns (x,y), found {len(cells)}")
        if not seen_data and not _numeric(cells[0]) and not _numeric(cells[1]):
            seen_data = True  # a header row: only ever the first non-blank line
            continue
        seen_data = True
        rows.append((_number(cells[0], f"{where}, column 1"), _number(cells[1], f"{where}, column 2")))
        if len(rows) > MAX_ROWS:
            raise DataError(f"{where}: more than {MAX_ROWS} points; the limit is {MAX_ROWS}")
    if not rows:
        raise DataError(f"{name}: no points (only a header, blank lines or comments)")
    return np.array(rows, dtype=float)


def _numeric(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def parse_json(data: bytes | str, name: str = "JSON") -> np.ndarray:
    """Points (n, 2) from ``[[x, y], ...]`` or ``{"points": [[x, y], ...]}``."""
    text = _text(data, name)
    try:
        obj: Any = json.loads(text, parse_constant=lambda c: c)  # NaN/Infinity kept as strings
    except json.JSONDecodeError as e:
        raise DataError(f"{name} line {e.lineno}, column {e.colno}: invalid JSON ({e.msg})") from None
    if isinstance(obj, dict):
        if "points" not in obj:
            raise DataError(f"{name}: an object must hold a 'points' list")
        obj = obj["points"]
    if not isinstance(obj, list):
        raise DataError(f"{name}: expected a list of [x, y] points")
    if not obj:
        raise DataError(f"{name}: no points")
    if len(obj) > MAX_ROWS:
        raise DataError(f"{name}: {len(obj)} points; the limit is {MAX_ROWS}")
    out = np.empty((len(obj), 2))
    for i, p in enumerate(obj):
        where = f"{name} point {i + 1}"
        if not isinstance(p, list) or len(p) != 2:
            n = len(p) if isinstance(p, list) else "not a list"
            raise DataError(f"{where}: expected [x, y] (2 numbers), found {n}")
        for j, v in enumerate(p):
            if isinstance(v, bool) or not isinstance(v, int | float):
                if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity"):
                    raise DataError(f"{where}, column {j + 1}: {v} is not finite")
                raise DataError(f"{where}, column {j + 1}: {v!r} is not a number")
            if not math.isfinite(v):
                raise DataError(f"{where}, column {j + 1}: {v!r} is not finite")
            out[i, j] = v
    return out


def format_of(path: str | Path, fmt: str | None = None) -> str:
    fmt = (fmt or Path(path).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise DataError(f"{path}: unknown point file format {fmt!r}; use .csv or .json")
    return fmt


def parse_points(data: bytes | str, fmt: str, name: str | None = None) -> np.ndarray:
    """Points (n, 2) from file contents in format ``csv`` or ``json``."""
    if fmt not in FORMATS:
        raise DataError(f"unknown point file format {fmt!r}; use csv or json")
    return (parse_csv if fmt == "csv" else parse_json)(data, name or fmt.upper())


def fit_unit_square(points: np.ndarray, margin: float = 0.05) -> np.ndarray:
    """Map points into [margin, 1 - margin]^2 by one scale and a shift (aspect ratio kept,
    centred)."""
    p = np.asarray(points, dtype=float)
    lo, hi = p.min(axis=0), p.max(axis=0)
    span = float((hi - lo).max())
    scale = (1 - 2 * margin) / span if span > 0 else 1.0
    return 0.5 + (p - 0.5 * (lo + hi)) * scale


def load_points_file(path: str | Path, fmt: str | None = None, fit: bool = False) -> np.ndarray:
    """Points (n, 2) from a .csv or .json file (format from the suffix unless ``fmt``).

    Points must lie in the unit square [0, 1]^2 unless ``fit``, which maps them there
    (:func:`fit_unit_square`). Use them as ``data="points", data_params={"points": p.tolist()}``."""
    p = _parse_file(Path(path), fmt)
    if fit:
        return fit_unit_square(p)
    out = outside_square(p)
    if out.any():
        i = int(out.argmax())
        raise DataError(f"{path}: point {i + 1} {p[i].tolist()} lies outside the unit square "
                        "[0, 1]^2 (rescale it, or load with fit=True)")
    return p


def outside_square(p: np.ndarray) -> np.ndarray:
    """Row mask of the points outside [0, 1]^2."""
    return ((p < 0) | (p > 1)).any(axis=1)


def into_square(p: np.ndarray, name: str) -> tuple[np.ndarray, str | None]:
    """The page's and the CLI's one rule for a point file: points that leave [0, 1]^2 are mapped
    into it as a whole (:func:`fit_unit_square`, shape kept), and the caller is told in these
    words, or ``None`` when nothing moved."""
    out = outside_square(p)
    if not out.any():
        return p, None
    return fit_unit_square(p), (f"{name}: {int(out.sum())} of {len(p)} points lay outside [0, 1]^2; "
                                "the set was rescaled into the unit square")


def read_points_file(path: str | Path, fmt: str | None = None) -> tuple[np.ndarray, str | None]:
    """Points (n, 2) from a .csv or .json file under :func:`into_square`'s rule, and its note."""
    return into_square(_parse_file(Path(path), fmt), str(path))


def _parse_file(path: Path, fmt: str | None) -> np.ndarray:
    fmt = format_of(path, fmt)  # an unknown suffix is named before the file is read
    return parse_points(_read_limited(path), fmt, str(path))


def _read_limited(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DataError(f"{path}: file is {size} bytes; the limit is {MAX_BYTES} (5 MB)")
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None


def dumps_points(points: np.ndarray, fmt: str = "csv", meta: dict | None = None) -> str:
    """Points as CSV (header ``x,y``) or JSON (``{"points": [...], **meta}``), full precision."""
    p = np.asarray(points, dtype=float).reshape(-1, 2)
    if fmt == "csv":
        return "x,y\n" + "".join(f"{x!r},{y!r}\n" for x, y in p.tolist())
    if fmt == "json":
        return json.dumps({**(meta or {}), "points": p.tolist()})
    raise DataError(f"unknown point file format {fmt!r}; use csv or json")


def save_points_file(points: np.ndarray, path: str | Path, fmt: str | None = None,
                     meta: dict | None = None) -> None:
    """Write points to .csv or .json (format from the suffix unless ``fmt``)."""
    Path(path).write_text(dumps_points(points, format_of(path, fmt), meta))
