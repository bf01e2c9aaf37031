"""``GET /api/schema``: what the page needs to build its controls, generated from the models.

Config fields come from :class:`ganlab.config.Config` (types, defaults, ranges, choices, the
``restart`` flag), distributions from :data:`ganlab.data.DISTRIBUTIONS`, losses from
:data:`ganlab.losses.LOSSES`, the view's ranges from :class:`messages.View`: nothing is written
twice, so the page and the server cannot disagree.
"""

from __future__ import annotations

import types
import typing
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from ganlab import Config, __version__
from ganlab.config import LIMITS, flat_fields
from ganlab.data import DISTRIBUTIONS, DataError, make_sampler, trained_names
from ganlab.data.images import IMAGE_SETS
from ganlab.losses import LOSSES

from . import messages
from .commands import STAGES
from .frames import LAYER_IDS
from .image_data import image_distribution
from .image_uploads import NAME as UPLOAD_NAME
from .layers import DEFAULT_VIEW
from .session import PROTOCOL

_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "object"}


def field_schema(path: str, info: FieldInfo, default: Any) -> dict[str, Any]:
    """{path, type, default, description, restart, [minimum/maximum/exclusive_*], [choices]}."""
    ann = info.annotation
    out: dict[str, Any] = {"path": path, "type": "object", "default": default,
                           "description": info.description or "",
                           "restart": bool((info.json_schema_extra or {}).get("restart"))}
    metadata = list(info.metadata)
    if typing.get_origin(ann) in (types.UnionType, typing.Union):
        ann = next(a for a in typing.get_args(ann) if a is not type(None))
        out["nullable"] = True
    if typing.get_origin(ann) is typing.Annotated:
        ann, *extra = typing.get_args(ann)
        metadata += [x for e in extra for x in (e.metadata if isinstance(e, FieldInfo) else [e])]
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        choices = list(typing.get_args(ann))
        out["type"], out["choices"] = _TYPES.get(type(choices[0]), "string"), choices
    elif origin is list:
        (item,) = typing.get_args(ann)
        out["type"] = "array"
        if typing.get_origin(item) is typing.Literal:
            out["choices"] = list(typing.get_args(item))
    else:
        out["type"] = _TYPES.get(origin or ann, "object")
    for meta in metadata:
        for attr, key in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusive_minimum"),
                          ("lt", "exclusive_maximum")):
            if getattr(meta, attr, None) is not None:
                out[key] = getattr(meta, attr)
    return out


def config_fields() -> list[dict[str, Any]]:
    defaults = Config().model_dump(mode="json")
    out = []
    for path, info in flat_fields():
        d: Any = defaults
        for part in path.split("."):
            d = d[part]
        f = field_schema(path, info, d)
        if path in LIMITS:  # caps that depend on the kind of data: the page's 2D inputs keep theirs
            f["maximum"], f["maximum_images"] = LIMITS[path]
        if path == "data":
            f["choices"] = [*DISTRIBUTIONS, *shipped_image_sets()]
        elif path == "loss":
            f["choices"] = list(LOSSES)
        out.append(f)
    return out


def _model_fields(model: type[BaseModel]) -> list[dict[str, Any]]:
    return [field_schema(name, info, None if info.is_required() else info.default)
            for name, info in model.model_fields.items() if name not in ("type", "id")]


def default_params(d) -> dict[str, Any] | None:
    """What ``{}`` means for a distribution that takes parameters (its checked defaults, e.g. the
    mixture's three components), so the page can edit them; None when ``{}`` is refused (a
    drawing, an upload) or the distribution takes none."""
    if d.check is None:
        return None
    try:
        return d.check({})
    except DataError:
        return None


def preview(name: str, n: int = 200) -> list[list[float]] | None:
    """n seeded samples (3 decimals) for the distribution's icon, or None when it needs params
    (a drawing, an upload): the page then draws no side session's worth of samples itself."""
    try:
        pts = make_sampler(name, {})(np.random.default_rng(0), n)
    except DataError:
        return None
    return np.round(pts, 3).tolist()


def shipped_image_sets() -> list[str]:
    """The image sets every page lists: never an uploaded one (``upload-...``), which is its
    uploader's, images and all; a worker that registered one before its schema was built (an
    upload, or a data message naming one) listed it to every later page."""
    return [name for name in IMAGE_SETS if not UPLOAD_NAME.match(name)]


@lru_cache(maxsize=1)
def build_schema() -> dict[str, Any]:
    """The whole schema (cached: everything in it is fixed once the process has imported)."""
    return {
        "protocol": PROTOCOL,
        "version": __version__,
        "distributions": [
            {"name": d.name, "label": d.label, "description": d.description,
             "preset": d.preset, "has_modes": d.modes is not None,
             "takes_params": d.check is not None, "default_params": default_params(d),
             "preview": preview(d.name), "trained": d.name in trained_names(), "kind": "points"}
            for d in DISTRIBUTIONS.values()
        ] + [image_distribution(name) for name in shipped_image_sets()],
        "losses": [{"name": x.name, "label": x.label, "description": x.description}
                   for x in LOSSES.values()],
        "config": {"fields": config_fields(), "defaults": Config().model_dump(mode="json")},
        "view": {"default": DEFAULT_VIEW, "fields": _model_fields(messages.View),
                 "layers": list(messages.LAYER_NAMES)},
        "layers": [{"id": i, "name": n} for n, i in LAYER_IDS.items()],
        "stages": [{"index": i, "name": n, "caption": c} for i, (n, c) in enumerate(STAGES)],
        "messages": {name: {"fields": _model_fields(model)}
                     for name, model in messages.MESSAGES.items()},
    }


__all__ = ["build_schema", "config_fields", "field_schema"]
