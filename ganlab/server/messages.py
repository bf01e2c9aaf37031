"""Client messages (docs/protocol.md) as pydantic models, and their parsing into errors.

Models are strict: ``"3"`` is not a number and ``1`` is not a boolean, so a wrong type gets a
``bad_message`` naming the field instead of a silent coercion.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

LAYER_NAMES = ("real", "fake", "heatmap", "d_grad", "g_grad", "manifold", "optimal_d", "noise")
EXTENT_LIMIT = 100.0  # |coordinate| of a view extent (a linear G can go anywhere; this is plenty)
Coord = Annotated[float, Field(ge=-EXTENT_LIMIT, le=EXTENT_LIMIT, allow_inf_nan=False)]
MessageId = Annotated[str, Field(max_length=128)] | int | None


class ProtocolError(Exception):
    """A message that gets an ``error`` reply with ``code``; the session carries on."""

    def __init__(self, code: str, message: str, id: Any = None):
        super().__init__(message)
        self.code, self.message, self.id = code, message, id


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    type: str
    id: MessageId = None


class Play(Message):
    type: Literal["play"]


class Pause(Message):
    type: Literal["pause"]


class Step(Message):
    type: Literal["step"]
    mode: Literal["both", "generator", "discriminator"] = "both"


class Reset(Message):
    type: Literal["reset"]


class ConfigChange(Message):
    type: Literal["config"]
    changes: dict[str, Any] = Field(description="partial config, nested or dotted keys")


class Data(Message):
    type: Literal["data"]
    name: str = Field(max_length=64, description="distribution name (see /api/schema)")
    params: dict[str, Any] | None = Field(None, description="parameters of the distribution")
    apply_preset: bool = Field(False, description="also load the distribution's hyperparameters")


class Speed(Message):
    type: Literal["speed"]
    epochs_per_sec: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)] | None = Field(
        description="target epochs per second; null = as fast as possible"
    )


class Slowmo(Message):
    type: Literal["slowmo"]
    on: bool
    stage_seconds: float = Field(1.5, ge=0.05, le=10.0, allow_inf_nan=False)


class View(Message):
    type: Literal["view"]
    layers: list[Literal[LAYER_NAMES]] | None = Field(None, max_length=len(LAYER_NAMES))  # type: ignore[valid-type]
    heatmap: int | None = Field(None, ge=30, le=200, description="heatmap cells per side")
    samples: int | None = Field(None, ge=10, le=5000, description="real and fake points shown")
    manifold: int | None = Field(None, ge=5, le=60, description="manifold grid points per side")
    fps: int | None = Field(None, ge=1, le=60, description="frames per second at most")
    extent: list[Coord] | None = Field(
        None, min_length=4, max_length=4,
        description="[x0, y0, x1, y1]: the area the heatmap and D* grids cover (default the unit "
                    "square)")

    @field_validator("extent")
    @classmethod
    def _ordered(cls, e: list[float] | None) -> list[float] | None:
        if e is not None and not (e[2] - e[0] >= 0.01 and e[3] - e[1] >= 0.01):
            raise ValueError("extent must be [x0, y0, x1, y1] with x1 - x0 and y1 - y0 >= 0.01")
        return e


class Snapshot(Message):
    type: Literal["snapshot"]


class Restore(Message):
    type: Literal["restore"]
    snapshot: dict[str, Any]


class Ping(Message):
    type: Literal["ping"]


MESSAGES: dict[str, type[Message]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (Play, Pause, Step, Reset, ConfigChange, Data, Speed, Slowmo, View, Snapshot, Restore,
              Ping)
}


def _id_of(obj: Any) -> Any:
    """The message's id if it is a valid one (so that an error can still echo it)."""
    if not isinstance(obj, dict):
        return None
    i = obj.get("id")
    if isinstance(i, bool):
        return None
    if isinstance(i, int) or (isinstance(i, str) and len(i) <= 128):
        return i
    return None


def peek_id(text: str) -> Any:
    """Best-effort id of a raw message, for replies to messages that are not processed."""
    try:
        return _id_of(json.loads(text))
    except (ValueError, RecursionError):
        return None


def parse(text: str) -> Message:
    """A validated message, or ProtocolError(bad_json | bad_message) naming what is wrong."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ProtocolError("bad_json", f"malformed JSON: {e}") from None
    mid = _id_of(obj)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object with a 'type'")
    kind = obj.get("type")
    model = MESSAGES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError(
            "bad_message", f"unknown message type {kind!r}; expected one of {', '.join(MESSAGES)}",
            mid)
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise ProtocolError("bad_message", describe(e, kind), mid) from None


def describe(e: ValidationError, kind: str) -> str:
    """'<type>.<field>: <problem>' for each error, e.g. 'view.fps: Input should be <= 60'."""
    parts = []
    for err in e.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "message"
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{kind}.{loc}: {msg}")
    return "; ".join(parts)


__all__ = ["MESSAGES", "LAYER_NAMES", "Message", "ProtocolError", "parse", "peek_id"]
