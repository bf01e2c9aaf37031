"""An animation of a span of epochs, replayed from a snapshot: what the page's Record control asks
the server for (POST /api/animate, docs/protocol.md) and what ``ganlab train --animate`` makes
for the span that starts at epoch 0.

A span is the snapshot at its first epoch A, the live edits made during it (``Trainer.schedule``'s
format), its last epoch B, the frame interval and the view. Training is deterministic, so the
replay retraces the session exactly, and the frames are those of :class:`ganlab.render.Animation`
(2D data: the data view) or :class:`ganlab.render.GridAnimation` (image data: the sample grid),
driven by :func:`ganlab.runs.train_with`, as the CLI drives them: the same span gives the same
bytes. Everything is checked before any training (ValueError naming the field and the limit).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import snapshot_check as sc
from ..config import ConfigError
from .drive import train_with

MAX_SPAN_EPOCHS = 200_000
MAX_FRAMES = 500  # as the CLI's animations keep at most (ganlab.render.animate.MAX_FRAMES)
MAX_EDITS = 10_000  # as a run holds at most (ganlab.runs.format.MAX_EDITS)
SIZES = (64, 800)  # px of the 2D data view
FPS = (1, 50)
FORMATS = ("gif", "webp", "apng")
SUFFIX = {"gif": ".gif", "webp": ".webp", "apng": ".png"}
MIME = {"gif": "image/gif", "webp": "image/webp", "apng": "image/apng"}
LAYERS = ("heatmap", "real", "fake", "d_grad", "g_grad", "manifold")
FIELDS = {"snapshot", "edits", "to", "every", "format", "layers", "legend", "epoch", "size", "fps", "grid"}


@dataclass
class Span:
    """A checked request: the trainer at A (edits scheduled), B, and how to draw the frames."""

    trainer: Any
    to: int
    every: int
    format: str
    layers: tuple[str, ...]
    legend: bool
    epoch: bool
    size: int
    fps: float
    grid: tuple[int, int]

    @property
    def start(self) -> int:
        return self.trainer.epoch

    @property
    def frames(self) -> int:
        """Frames the file will hold: A, A + every, ..., and B."""
        n = self.to - self.start
        return n // self.every + 1 + (1 if n % self.every else 0)


def check_request(req: Any, binary: bool = False) -> dict:
    """The request's fields that need no trainer, checked (ValueError ``field: problem``) and
    with their defaults: cheap, so the server runs it before it starts a replay."""
    sc.mapping(req, "request", {"to", "every", "format"}, FIELDS - {"to", "every", "format"})
    if not binary and "snapshot" not in req:
        raise sc.fail("snapshot", "missing (the snapshot at the span's first epoch)")
    if binary and "snapshot" in req:
        raise sc.fail("snapshot", "given twice (in the JSON and as the binary part)")
    fmt = sc.choice(req["format"], "format", FORMATS)
    every = req["every"]
    if type(every) is not int or every < 1:
        raise sc.fail("every", f"must be an integer >= 1, got {json.dumps(every)[:40]}")
    to = sc.whole(req["to"], "to")
    layers = req.get("layers", ["heatmap", "real", "fake", "d_grad"])
    if not isinstance(layers, list) or any(x not in LAYERS for x in layers) or len(set(layers)) != len(layers):
        raise sc.fail("layers", f"must be a list of distinct layers from {', '.join(LAYERS)}")
    legend, epoch = req.get("legend", True), req.get("epoch", req.get("legend", True))
    for name, v in (("legend", legend), ("epoch", epoch)):
        if type(v) is not bool:
            raise sc.fail(name, "must be true or false")
    size = sc.whole(req.get("size", 400), "size", *SIZES)
    fps = req.get("fps", 10)
    if type(fps) not in (int, float) or not FPS[0] <= fps <= FPS[1]:
        raise sc.fail("fps", f"must be a number in {FPS[0]}..{FPS[1]}")
    grid = req.get("grid", "8x8")
    if not isinstance(grid, str):
        raise sc.fail("grid", "must be a string ROWSxCOLS like 8x8")
    from ..images_out import GridError, parse_grid

    try:
        rows_cols = parse_grid(grid)
    except GridError as e:
        raise sc.fail("grid", str(e).removeprefix("--grid: ")) from None
    edits = req.get("edits", [])
    if not isinstance(edits, list) or len(edits) > MAX_EDITS:
        raise sc.fail("edits", f"must be a list of at most {MAX_EDITS:,} edits")
    for i, e in enumerate(edits):
        if not isinstance(e, dict):
            raise sc.fail(f"edits[{i}]", "must be an object")
    return {"to": to, "every": every, "format": fmt, "layers": tuple(layers), "legend": legend, "epoch": epoch,
            "size": size, "fps": float(fps), "grid": rows_cols, "edits": edits}


def parse_span(req: Any, binary: bytes | None = None) -> Span:
    """The span of a request object (``snapshot`` a JSON snapshot, or ``binary`` the binary one);
    ValueError ``field: problem`` naming the limit, before anything trains."""
    from ..trainer import Trainer

    o = check_request(req, binary is not None)
    try:
        t = Trainer.from_bytes(binary) if binary is not None else Trainer.from_snapshot(req["snapshot"])
    except ValueError as e:
        raise ValueError(f"snapshot: {str(e).removeprefix('snapshot: ')}") from None
    to = o["to"]
    if to <= t.epoch:
        raise sc.fail("to", f"must be after the snapshot's epoch {t.epoch}, got {to}")
    if to - t.epoch > MAX_SPAN_EPOCHS:
        raise sc.fail("to", f"a span of {to - t.epoch:,} epochs; at most {MAX_SPAN_EPOCHS:,} epochs are replayed")
    span = Span(t, to, o["every"], o["format"], o["layers"], o["legend"], o["epoch"], o["size"], o["fps"],
                o["grid"])
    if span.frames > MAX_FRAMES:
        need = -(-(to - t.epoch) // (MAX_FRAMES - 1))
        raise sc.fail("every", f"{span.frames:,} frames; an animation holds at most {MAX_FRAMES} "
                      f"(every >= {need:,} for this span)")
    try:
        t.schedule([dict(e) for e in o["edits"]])
    except ConfigError as e:  # names edits[i] and the field
        raise ValueError(str(e)) from None
    return span


def animation(span: Span, path: str | Path):
    """The animation hook for ``span`` writing to ``path`` (the CLI's ``--animate`` hook)."""
    from ..render import Animation, GridAnimation, ViewSpec

    if span.trainer.image_shape is not None:
        rows, cols = span.grid
        return GridAnimation(path, span.every, rows, cols, epoch=span.epoch, fps=span.fps)
    spec = ViewSpec(layers=span.layers, size=span.size, legend=span.legend, epoch=span.epoch)
    return Animation(path, span.every, spec, span.fps)


def render_span(span: Span) -> tuple[bytes, int]:
    """Replay the span and encode its frames: (the file's bytes, frames)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"span{SUFFIX[span.format]}"
        anim = animation(span, path)
        train_with(span.trainer, span.to - span.start, [anim])
        anim.close(span.trainer)
        return path.read_bytes(), len(anim.frames)
