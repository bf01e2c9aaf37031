"""What acks and hello say about the config: everything, except that bulk data is acknowledged
by size and digest instead of being echoed (docs/protocol.md, "Bulk data in replies").

Without this a 40-byte ``{"type": "config", "changes": {}}`` with an uploaded 100,000-point set
cost a 2 MB reply and ~200 ms of server CPU. Every reply but ``snapshot`` stays under
``MAX_REPLY_BYTES``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ganlab import Config

BULK_KEYS = ("points", "strokes")  # user data: the page keeps its own copy
MAX_LIST = 128  # any longer list in data_params is summarised too (a mixture has <= 100 parts)
MAX_REPLY_BYTES = 32 << 10  # every reply except `snapshot` (a 100-part mixture: ~17 KB)


def digest(value: Any) -> dict[str, Any]:
    """``{"count": len(value), "sha256": hex}``: the SHA-256 of the value's compact JSON
    (separators "," and ":"), for comparing two acks, not for recomputing in a browser."""
    text = json.dumps(value, separators=(",", ":"))
    return {"count": len(value), "sha256": hashlib.sha256(text.encode()).hexdigest()}


class ConfigEcho:
    """The config as replies carry it. Digests are cached by the identity of the bulk values:
    configs share them from one change to the next (config.config_dump), and digesting 100,000
    points costs ~0.1 s, once per upload instead of once per reply."""

    def __init__(self) -> None:
        self._digests: dict[tuple[str, int], tuple[Any, dict]] = {}

    def params(self, params: dict[str, Any]) -> dict[str, Any]:
        """data_params with every bulk value replaced by its :func:`digest`."""
        out, cache = {}, {}
        for k, v in params.items():
            if isinstance(v, list) and (k in BULK_KEYS or len(v) > MAX_LIST):
                hit = self._digests.get((k, id(v)))
                if hit is None or hit[0] is not v:
                    hit = (v, digest(v))  # the value is held, so its id cannot be reused
                cache[(k, id(v))] = hit
                v = hit[1]
            out[k] = v
        self._digests = cache
        return out

    def __call__(self, config: Config) -> dict[str, Any]:
        dump = config.model_dump(mode="json", exclude={"data_params"})
        dump["data_params"] = self.params(config.data_params)
        return {k: dump[k] for k in Config.model_fields}  # declared order: data_params after data


__all__ = ["BULK_KEYS", "ConfigEcho", "MAX_REPLY_BYTES", "digest"]
