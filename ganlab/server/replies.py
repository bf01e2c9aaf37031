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
MAX_REPLY_BYTES = 32 << 10  # every reply except `snapshot` (a 100-part mixture is ~15 KiB)


def digest(value: Any) -> dict[str, Any]:
    """``{"count": len(value), "sha256": hex}``: the SHA-256 of the value's compact JSON
    (separators "," and ":"), for comparing two acks, not for recomputing in a browser."""
    text = json.dumps(value, separators=(",", ":"))
    return {"count": len(value), "sha256": hashlib.sha256(text.encode()).hexdigest()}


def summarise_params(params: dict[str, Any]) -> dict[str, Any]:
    """data_params with every bulk value replaced by its :func:`digest`."""
    return {k: digest(v) if isinstance(v, list) and (k in BULK_KEYS or len(v) > MAX_LIST) else v
            for k, v in params.items()}


class ConfigEcho:
    """The config as replies carry it, cached per config object: digesting 100,000 points costs
    ~0.1 s, once per data change instead of once per reply."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._dump: dict[str, Any] = {}

    def __call__(self, config: Config) -> dict[str, Any]:
        if config is not self._config:  # configs are replaced, never changed in place
            params = summarise_params(config.data_params)
            self._dump = {**config.model_dump(mode="json", exclude={"data_params"}),
                          "data_params": params}
            # Keep the declared field order (data_params after data) for readable acks.
            self._dump = {k: self._dump[k] for k in Config.model_fields}
            self._config = config
        return self._dump


__all__ = ["BULK_KEYS", "ConfigEcho", "MAX_REPLY_BYTES", "digest", "summarise_params"]
