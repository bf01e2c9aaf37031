"""Client messages (docs/protocol.md) as pydantic models, and their parsing into errors.

Models are strict: ``"3"`` is not a number and ``1`` is not a boolean, so a wrong type gets a
``bad_message`` naming the field instead of a silent coercion.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ganlab.config import short

LAYER_NAMES = ("real", "fake", "heatmap", "d_grad", "g_grad", "manifold", "optimal_d", "noise",
               # image data (server/image_frames.py)
               "fakes_grid", "reals_grid", "walk", "d_hist", "d_grad_image")
MAX_ERROR_TEXT = 2000  # an error never echoes more than this of what it refuses
EXTENT_LIMIT = 100.0  # |coordinate| of a view extent (a linear G can go anywhere; this is plenty)
Coord = Annotated[float, Field(ge=-EXTENT_LIMIT, le=EXTENT_LIMIT, allow_inf_nan=False)]
MessageId = Annotated[str, Field(max_length=128)] | int | None


class ProtocolError(Exception):
    """A message that gets an ``error`` reply with ``code``; the session carries on."""

    def __init__(self, code: str, message: str, id: Any = None):
        message = message if len(message) <= MAX_ERROR_TEXT else message[: MAX_ERROR_TEXT - 3] + "..."
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
    keep: bool = Field(False, description="keep weights, optimizers and epoch (by default new data "
                       "restarts the experiment)")


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

    walk_seed: int | None = Field(None, ge=0, le=2**31 - 1, description="image data: the latent "
                                  "walk's two end points are drawn with this seed (click re-rolls)")
    walk_class: int | None = Field(None, ge=0, le=255, description="image data with a conditional "
                                   "G: the class the latent walk writes")

    @field_validator("extent")
    @classmethod
    def _ordered(cls, e: list[float] | None) -> list[float] | None:
        if e is not None and not (e[2] - e[0] >= 0.01 and e[3] - e[1] >= 0.01):
            raise ValueError("extent must be [x0, y0, x1, y1] with x1 - x0 and y1 - y0 >= 0.01")
        return e


MAX_SNAPSHOT_BYTES = 16 << 20  # a binary snapshot message; the websocket layer's own limit


class Snapshot(Message):
    type: Literal["snapshot"]
    binary: bool = Field(False, description="send the state as one binary message after the ack "
                         "(the trainer's binary snapshot: an image model's state is megabytes)")


class Restore(Message):
    type: Literal["restore"]
    snapshot: dict[str, Any] | None = Field(None, description="the state, as a snapshot ack holds it")
    binary: int | None = Field(None, ge=1, le=MAX_SNAPSHOT_BYTES, description="instead of snapshot: "
                               "the byte length of a binary snapshot sent as the next message")

    @model_validator(mode="after")
    def _one(self) -> Restore:
        if (self.snapshot is None) == (self.binary is None):
            raise ValueError("give exactly one of 'snapshot' (JSON) and 'binary' (byte length)")
        return self


class Ping(Message):
    type: Literal["ping"]


MESSAGES: dict[str, type[Message]] = {
    m.model_fields["type"].annotation.__args__[0]: m  # type: ignore[union-attr]
    for m in (Play, Pause, Step, Reset, ConfigChange, Data, Speed, Slowmo, View, Snapshot, Restore,
              Ping)
}


# -- schedule: a link's live edits, applied by the trainer at their epochs -------------------------

MAX_EDITS = 256  # a link holds at most this many live edits (the page says so past the bound)


class Edit(BaseModel):
    """One live edit: config ``changes`` or one ``step`` of a network, after ``epoch`` epochs."""

    model_config = ConfigDict(extra="forbid", strict=True)

    epoch: int = Field(ge=0, le=10**12, description="completed epochs when the edit applies")
    changes: dict[str, Any] | None = Field(None, description="live config changes (as `config`)")
    step: Literal["discriminator", "generator"] | None = Field(None, description="one update")

    @model_validator(mode="after")
    def _one(self) -> Edit:
        if (self.changes is None) == (self.step is None):
            raise ValueError("an edit needs exactly one of 'changes' and 'step'")
        return self


class Schedule(Message):
    type: Literal["schedule"]
    edits: list[Edit] = Field(max_length=MAX_EDITS, description="in epoch order")
    pause_at: int | None = Field(None, ge=0, le=10**12, description="pause when this epoch is reached")


MESSAGES["schedule"] = Schedule


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


class _Constant(float):
    """NaN / Infinity / -Infinity as written (Python's json accepts them; JSON does not)."""

    def __new__(cls, name: str) -> _Constant:
        obj = super().__new__(cls, "nan")
        obj.name = name
        return obj


# Only text with a long digit run or a 3-digit exponent can hold a number out of range, so the
# walk below (~0.1 us per value) is skipped for the usual message, however long.
_SUSPECT = re.compile(r"\d{16}|[eE][+]?0*[1-9]\d\d|NaN|Infinity")
MAX_EXACT_INT = 2**53  # JavaScript's exact integers; no field of the protocol needs more


def _fits(x: Any) -> bool:
    """A number JSON and the page can hold (a _Constant is never one: its type is not float)."""
    t = type(x)
    return (t is float and math.isfinite(x)) or (t is int and -MAX_EXACT_INT <= x <= MAX_EXACT_INT)


def out_of_range(value: Any) -> tuple[list, Any] | None:
    """(path, value) of the first number JSON or the page cannot hold: NaN, +-Infinity, a float
    that overflowed to inf (1e400) or an integer beyond +-2**53 (10**400); None if all fit."""
    stack: list[tuple[tuple, Any]] = [((), value)]  # iterative: nesting depth is the sender's
    while stack:
        path, v = stack.pop()
        t = type(v)
        if t is float or t is _Constant or t is int:
            if not _fits(v):
                return list(path), v
        elif t is dict:
            stack.extend(((*path, k), x) for k, x in reversed(v.items()))
        elif t is list:
            # Fast paths for lists of numbers and of rows of numbers (points, weights): no
            # path is built per element unless one of them is out of range.
            if all(type(x) is str or _fits(x) for x in v) or (
                    all(type(r) is list for r in v) and all(_fits(x) for r in v for x in r)):
                continue
            stack.extend(((*path, i), x) for i, x in reversed(list(enumerate(v))))
    return None


def field_path(kind: str, path: list) -> str:
    """How an error names a field: ``config.batch_size`` (inside ``changes``),
    ``snapshot.epoch`` (inside a restore's snapshot), else ``<type>.<field>...``."""
    parts = [str(p)[:60] for p in path]
    if kind == "config" and parts[:1] == ["changes"]:
        parts = parts[1:]
    if kind == "restore" and parts[:1] == ["snapshot"]:
        return ".".join(parts)
    return ".".join([kind, *parts])


def _number_problem(v: Any) -> str:
    if isinstance(v, _Constant):
        return f"{v.name} is not a JSON number"
    if isinstance(v, float):
        return "number out of range (the largest is about 1.8e308)"
    return "integer out of range (at most 2**53 in magnitude)"


def parse(text: str) -> Message:
    """A validated message, or ProtocolError(bad_json | bad_message | bad_snapshot) naming what
    is wrong."""
    try:
        obj = json.loads(text, parse_constant=_Constant)
    except (ValueError, RecursionError) as e:
        raise ProtocolError("bad_json", f"malformed JSON: {str(e)[:200]}") from None
    mid = _id_of(obj)
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "a message must be a JSON object with a 'type'")
    kind = obj.get("type")
    model = MESSAGES.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ProtocolError(
            "bad_message", f"unknown message type {short(kind)}; expected one of "
            f"{', '.join(MESSAGES)}", mid)
    if _SUSPECT.search(text) and (bad := out_of_range(obj)) is not None:
        path, v = bad
        code = "bad_snapshot" if kind == "restore" and path[:1] == ["snapshot"] else "bad_message"
        raise ProtocolError(code, f"{field_path(kind, path)}: {_number_problem(v)}", mid)
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        raise ProtocolError("bad_message", describe(e, kind), mid) from None


def describe(e: ValidationError, kind: str) -> str:
    """'<type>.<field>: <problem>' for each error, e.g. 'view.fps: Input should be <= 60'."""
    parts = []
    for err in e.errors()[:5]:
        msg = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{field_path(kind, list(err['loc']))}: {msg[:200]}")
    return "; ".join(parts)


__all__ = ["MAX_EDITS", "MESSAGES", "LAYER_NAMES", "Message", "ProtocolError", "parse", "peek_id"]
