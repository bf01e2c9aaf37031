"""Checks for the parts of a snapshot read from outside (a file, a websocket, another server).

``Trainer.restore`` runs every value through these before it builds anything, so a hostile or
damaged snapshot is refused with a ValueError naming the field (``snapshot.epoch: must be a whole
number in 0..2**53``) and never leaves a trainer that fails later. Types are strict as in JSON:
a boolean is not a number, a string is not a number, 2.0 is not a whole number.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_COUNT = 2**53  # epochs and step counts: exact in a double and in JavaScript
MAX_TEXT = 1000


def fail(path: str, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}")


def mapping(value: Any, path: str, required: set[str], optional: set[str] = frozenset()) -> dict:
    """``value`` as a dict holding every ``required`` key and nothing beyond ``optional``."""
    if not isinstance(value, dict):
        raise fail(path, f"must be an object, got {type(value).__name__}")
    missing = sorted(required - set(value))
    if missing:
        raise fail(f"{path}.{missing[0]}", "missing")
    unknown = sorted(set(value) - required - optional, key=str)
    if unknown:
        raise fail(f"{path}.{str(unknown[0])[:60]}", "unknown field")
    return value


def whole(value: Any, path: str, lo: int = 0, hi: int = MAX_COUNT) -> int:
    """An integer in lo..hi (booleans and floats, even 2.0, are refused)."""
    if type(value) is not int or not lo <= value <= hi:
        hi_text = "2**53" if hi == MAX_COUNT else str(hi)
        raise fail(path, f"must be a whole number in {lo}..{hi_text}")
    return value


def number_or_null(value: Any, path: str) -> float:
    """A finite number, or null (a non-finite loss travels as null); null gives NaN."""
    if value is None:
        return math.nan
    if type(value) not in (int, float) or not math.isfinite(value):
        raise fail(path, "must be a finite number or null")
    return float(value)


def text(value: Any, path: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise fail(path, f"must be a string of at most {limit} characters")
    return value


def choice(value: Any, path: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise fail(path, f"must be one of {', '.join(choices)}")
    return value


def vector(value: Any, path: str, size: int, dtype: Any, nonnegative: bool = False) -> np.ndarray:
    """``size`` numbers as an array of ``dtype``, every one finite in that dtype (1e300 is not a
    float32) and, if asked, >= 0. ``value`` is a JSON list, or a 1-D float array (the binary
    snapshot's), which passes the same checks."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.size != size or value.dtype.kind != "f":
            raise fail(path, f"must be an array of {size} floats, got {value.dtype} {value.shape}")
        with np.errstate(over="ignore"):
            a = value.astype(dtype)
        bad = None if np.isfinite(a).all() else "finite"
        if bad is None and nonnegative and (a < 0).any():
            bad = "non-negative"
        if bad:
            i = int(np.argmax(~np.isfinite(a) if bad == "finite" else a < 0))
            raise fail(f"{path}.{i}", f"must be a {bad} number (as {np.dtype(dtype).name})")
        return a
    if not isinstance(value, list) or len(value) != size:
        got = f"{len(value)} values" if isinstance(value, list) else type(value).__name__
        raise fail(path, f"must be a list of {size} numbers, got {got}")
    for i, v in enumerate(value):
        if type(v) not in (int, float):  # bool is not a number; strings are not either
            raise fail(f"{path}.{i}", f"must be a number, got {type(v).__name__}")
    with np.errstate(over="ignore"):
        try:
            a = np.asarray(value, dtype=np.float64).astype(dtype, copy=False)
        except OverflowError:  # an integer beyond the float range
            a = None
    bad = None if a is not None and np.isfinite(a).all() else "finite"
    if bad is None and nonnegative and (a < 0).any():
        bad = "non-negative"
    if bad:
        if a is None:
            i = next(i for i, v in enumerate(value) if type(v) is int and v.bit_length() > 1000)
        else:
            i = int(np.argmax(~np.isfinite(a) if bad == "finite" else a < 0))
        raise fail(f"{path}.{i}", f"must be a {bad} number (as {np.dtype(dtype).name})")
    return a


__all__ = ["MAX_COUNT", "choice", "fail", "mapping", "number_or_null", "text", "vector", "whole"]
