"""JSON has no NaN or infinity: one helper that makes any JSON-like value safe to send or print."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def finite(x: Any) -> Any:
    """A copy of a JSON-like value with every non-finite float replaced by None and numpy
    scalars turned into Python numbers (dicts, lists and tuples are walked)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [finite(v) for v in x]
    if isinstance(x, np.generic):
        return finite(x.item())
    return x
