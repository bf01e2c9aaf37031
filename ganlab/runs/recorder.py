"""Recording a run while a Trainer trains (:class:`Recorder`): metrics every ``metrics_every``
epochs, snapshots every ``snapshot_every``, thumbnails every ``thumb_every``, the live edits with
their epochs; bounded (past a limit, every other entry goes and the interval doubles)."""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import ConfigError, make_config, nest, restart_fields
from ..jsonsafe import finite
from ..metrics import frame_metrics
from .drive import train_with
from .format import (
    FORMAT,
    MANIFEST,
    MAX_ENTRY_BYTES,
    MAX_MEDIA,
    MEDIA_BY_SUFFIX,
    MEDIA_KINDS,
    MEDIA_MAGIC,
    METRICS,
    VERSION,
    MiB,
    RunError,
    dumps_row,
    snapshot_name,
    thumb_name,
)


def metrics_row(trainer, seconds: float) -> dict[str, Any]:
    """One line of metrics.jsonl: epoch, seconds of recorded training, d_loss, g_loss, and the
    live frame's metrics (:func:`ganlab.metrics.frame_metrics`: KL/JS with their floors, modes,
    % high quality, precision/recall, D accuracy, gradient norms), hints as their codes; for image
    data the image metrics instead (:func:`ganlab.runs.image_rows.image_row_metrics`: classes
    captured, confident share, digit score, FD and its floor, D's means). It touches no random
    stream of the trainer: recording never changes training."""
    L = trainer.losses
    row = {"epoch": trainer.epoch, "seconds": round(seconds, 3), "d_loss": L.get("d"), "g_loss": L.get("g")}
    if trainer.image_shape is not None:
        from .image_rows import image_row_metrics

        row.update(image_row_metrics(trainer))
        row["hints"] = []  # the failure hints read 2D geometry
    else:
        m = frame_metrics(trainer)
        row.update({k: v for k, v in m.items() if k != "hints"})
        row["hints"] = [h["code"] for h in m["hints"]]
    row["status"] = trainer.status.state
    return finite(row)


def record_failure(run_dir: str | Path, config: dict, message: str) -> Path:
    """A run whose trainer could not even be built: status ``stopped`` at epoch 0, the config as
    given and the error as its ``message`` (no metrics, snapshots or thumbnails)."""
    d = Path(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    (d / METRICS).write_text("")
    m = {"format": FORMAT, "version": VERSION, "ganlab": __version__, "name": d.name,
         "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "config": config,
         "start_epoch": 0, "epochs": 0, "duration_seconds": 0.0, "status": "stopped", "message": message,
         "edits": [], "metrics": {"file": METRICS, "every": 1, "rows": 0}, "snapshots": [], "thumbs": [],
         "media": [], "parent": None, "final": None}
    (d / MANIFEST).write_text(json.dumps(finite(m), allow_nan=False, separators=(",", ":")))
    return d


THUMB_GRID = 4  # an image run's thumbnail: a 4 x 4 grid of samples


def thumbnail(trainer, size: int = 96):
    """A run's thumbnail: the data view (heatmap, real, fake) ``size`` px a side, or for image
    data a THUMB_GRID x THUMB_GRID grid of G's samples on fixed noise (seed 0, as ``ganlab sample``
    draws it), scaled to about ``size`` px: thumbnails at two epochs show G on the same noise."""
    if trainer.image_shape is not None:
        from ..images_out import sample_grid_image

        side = trainer.image_shape[1]
        scale = max(1, min(16, (size - THUMB_GRID - 1) // (THUMB_GRID * side)))
        return sample_grid_image(trainer, THUMB_GRID, THUMB_GRID, seed=0, scale=scale)
    from ..render import ViewSpec, render_view

    return render_view(trainer, ViewSpec(layers=("heatmap", "real", "fake"), size=size, heatmap=30,
                                         samples=300, legend=False, supersample=2))


class _Series:
    """Entries at epochs start + i * every, thinned to every other one (interval doubled) when
    more than ``limit`` are kept or their bytes exceed ``budget``."""

    def __init__(self, every: int | None, limit: int, budget: float = float("inf")):
        self.every, self.limit, self.budget = every, limit, budget
        self.items: list[tuple[int, int]] = []  # (epoch, bytes)

    def due(self, epoch: int, start: int) -> bool:
        return bool(self.every) and (epoch - start) % self.every == 0 and not self.has(epoch)

    def has(self, epoch: int) -> bool:
        return bool(self.items) and self.items[-1][0] == epoch

    def next_due(self, epoch: int, start: int) -> int:
        return start + ((epoch - start) // self.every + 1) * self.every if self.every else 1 << 62

    def add(self, epoch: int, size: int, start: int) -> list[int]:
        """Keep an entry; returns the epochs of entries dropped by thinning (never the first
        nor this one)."""
        self.items.append((epoch, size))
        dropped: list[int] = []
        while len(self.items) > self.limit or sum(s for _, s in self.items) > self.budget:
            if not self.every or len(self.items) <= 2:
                break
            self.every *= 2
            keep = [it for i, it in enumerate(self.items)
                    if i in (0, len(self.items) - 1) or (it[0] - start) % self.every == 0]
            if len(keep) == len(self.items):
                break
            kept = {e for e, _ in keep}
            dropped += [e for e, _ in self.items if e not in kept]
            self.items = keep
        return dropped


class Recorder:
    """Wraps a Trainer and writes its run into ``run_dir`` (docs/runs.md).

    Train through the recorder (:meth:`train`, :meth:`step`) and make live edits through it
    (:meth:`update`), so they are recorded with their epochs; :meth:`close` (or leaving a
    ``with`` block) writes the final state. ``edits`` replays a schedule (``Trainer.schedule``'s
    format) and records it. A trainer past epoch 0 (e.g. from :meth:`Run.trainer_at`) starts a
    run at that epoch: ``parent`` names where it came from. Recording never changes training."""

    def __init__(self, trainer, run_dir: str | Path, *, name: str | None = None, metrics_every: int = 100,
                 snapshot_every: int | None = 1000, thumb_every: int | None = 1000, thumb_size: int = 96,
                 edits: list[dict] | None = None, parent: dict | None = None, max_snapshots: int = 64,
                 snapshot_budget: int = 48 * MiB, max_thumbs: int = 200, max_metric_rows: int = 10_000,
                 hooks=()):
        for k, v in (("metrics_every", metrics_every), ("snapshot_every", snapshot_every or 1),
                     ("thumb_every", thumb_every or 1)):
            if not isinstance(v, int) or v < 1:
                raise ConfigError([(k, f"must be an integer >= 1, got {v!r}")])
        self.trainer = t = trainer
        self.dir = Path(run_dir)
        if (self.dir / MANIFEST).exists():
            raise RunError(f"{self.dir}: already holds a run; choose another directory or delete it")
        if self.dir.exists() and any(self.dir.iterdir()):
            raise RunError(f"{self.dir}: exists and is not empty; a run needs a new or empty directory")
        self.name = name or self.dir.name
        self.start = t.epoch
        self.config = t.config.model_dump(mode="json")
        self.edits: list[dict] = []
        if edits:
            t.schedule([dict(e) for e in edits])  # validates (ConfigError naming edits[i]) first
            self.edits = [json.loads(json.dumps(e)) for e in edits]
        self.parent = parent
        self.metrics = _Series(metrics_every, max_metric_rows)
        self.snapshots = _Series(snapshot_every, max_snapshots, snapshot_budget)
        self.thumbs = _Series(thumb_every, max_thumbs)
        self.thumb_size = thumb_size
        self.snap_kind = "bin" if t.image_shape is not None else "json"  # image models: megabytes
        self.rows: list[dict] = []
        self.snap_entries: list[dict] = []
        self.thumb_entries: list[dict] = []
        self.media: list[dict] = []
        self.hooks = list(hooks)
        self.seconds = 0.0
        self._t0: float | None = None
        self.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self.status = "running"
        self.message: str | None = None  # the error that stopped the run (see fail)
        for sub in ("snapshots", "thumbs", "media"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        (self.dir / METRICS).write_text("")
        self(t)
        self._write_manifest()

    # -- training through the recorder ---------------------------------------------------------

    def train(self, epochs: int) -> int:
        """Train ``epochs`` epochs, recording at every due epoch; returns the epochs done."""
        self._t0 = time.perf_counter()
        try:
            return train_with(self.trainer, epochs, [self, *self.hooks])
        finally:
            self.seconds = self._elapsed()
            self._t0 = None
            self._write_manifest()

    def _elapsed(self) -> float:
        """Seconds spent in :meth:`train` so far (recording included)."""
        return self.seconds + (time.perf_counter() - self._t0 if self._t0 is not None else 0.0)

    def step(self, mode: str = "both") -> bool:
        """One epoch (``both``), or exactly one D or G update, recorded as an edit."""
        if mode == "both":
            return self.train(1) == 1
        self._no_pending()
        self.edits.append({"epoch": self.trainer.epoch, "step": mode})
        return self.trainer.step(mode)

    def update(self, changes: dict | None = None, **kw: Any) -> list[str]:
        """A live edit (``Trainer.update``) recorded at the current epoch. Changes that would
        restart training are refused: a run holds one model; start a new run for them."""
        self._no_pending()
        t = self.trainer
        requested = nest({**(changes or {}), **kw})
        new = make_config(t.config, **t._requested(t.config, requested))
        restart = restart_fields(t.config, new)
        if restart:
            raise ConfigError([("changes", f"{', '.join(restart)} would restart training; a run holds live "
                                "edits only (start a new run)")])
        notes = t.update(requested)
        self.edits.append({"epoch": t.epoch, "changes": json.loads(json.dumps(requested))})
        return notes

    def _no_pending(self) -> None:
        if self.trainer.edits_pending:
            raise RunError("this run is still replaying its scheduled edits; new edits wait until they are done")

    # -- recording -------------------------------------------------------------------------------

    def next_due(self, epoch: int) -> int:
        return min(s.next_due(epoch, self.start) for s in (self.metrics, self.snapshots, self.thumbs))

    def __call__(self, trainer, force: bool = False) -> None:
        e = trainer.epoch
        if (force or self.metrics.due(e, self.start)) and not self.metrics.has(e):
            self._metrics_row()
        if (force or self.snapshots.due(e, self.start)) and not self.snapshots.has(e):
            self._snapshot()
        if self.thumbs.every and (force or self.thumbs.due(e, self.start)) and not self.thumbs.has(e):
            self._thumb()

    def _metrics_row(self) -> None:
        row = metrics_row(self.trainer, self._elapsed())
        self.rows.append(row)
        dropped = self.metrics.add(row["epoch"], 1, self.start)
        if dropped:
            gone = set(dropped)
            self.rows = [r for r in self.rows if r["epoch"] not in gone]
            (self.dir / METRICS).write_text("".join(dumps_row(r) + "\n" for r in self.rows))
        else:
            with open(self.dir / METRICS, "a") as f:
                f.write(dumps_row(row) + "\n")

    def _snapshot(self) -> None:
        t = self.trainer
        kind = self.snap_kind
        if kind == "bin":
            data = t.snapshot_bytes()
        else:
            snap = t.snapshot()
            # A divergence can leave a loss infinite; a run file holds strict JSON (null restores).
            snap["losses"] = finite(snap["losses"])
            data = json.dumps(snap, separators=(",", ":"), allow_nan=False).encode()
        if len(data) > MAX_ENTRY_BYTES:
            raise RunError(f"a snapshot of this model is {len(data):,} bytes; a run file entry holds at most "
                           f"{MAX_ENTRY_BYTES:,}")
        name = snapshot_name(t.epoch, kind)
        (self.dir / name).write_bytes(data)
        self.snap_entries.append({"epoch": t.epoch, "file": name, "kind": kind,
                                  "edits_done": len(self.edits) - t.edits_pending})
        for e in self.snapshots.add(t.epoch, len(data), self.start):
            (self.dir / snapshot_name(e, kind)).unlink(missing_ok=True)
        kept = {e for e, _ in self.snapshots.items}
        self.snap_entries = [s for s in self.snap_entries if s["epoch"] in kept]

    def _thumb(self) -> None:
        t = self.trainer
        img = thumbnail(t, self.thumb_size)
        name = thumb_name(t.epoch)
        img.save(self.dir / name, format="PNG", optimize=True)
        self.thumb_entries.append({"epoch": t.epoch, "file": name})
        for e in self.thumbs.add(t.epoch, 1, self.start):
            (self.dir / thumb_name(e)).unlink(missing_ok=True)
        kept = {e for e, _ in self.thumbs.items}
        self.thumb_entries = [x for x in self.thumb_entries if x["epoch"] in kept]

    def add_media(self, path: str | Path, name: str | None = None, **info: Any) -> str:
        """Copy an animation (GIF, WebP, APNG, WebM) into the run's media/; returns its name."""
        src = Path(path)
        kind = MEDIA_BY_SUFFIX.get(src.suffix.lower())
        if kind is None:
            raise RunError(f"{src}: media are .gif, .webp, .png (APNG) or .webm files")
        if len(self.media) >= MAX_MEDIA:
            raise RunError(f"a run holds at most {MAX_MEDIA} media files")
        if src.stat().st_size > MAX_ENTRY_BYTES:
            raise RunError(f"{src}: {src.stat().st_size:,} bytes; a run file entry holds at most {MAX_ENTRY_BYTES:,}")
        with open(src, "rb") as f:
            if not f.read(12).startswith(MEDIA_MAGIC[kind]):
                raise RunError(f"{src}: not a {kind} file")
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in (name or src.stem))[:50] or "media"
        rel = f"media/{stem.lstrip('._-') or 'media'}{MEDIA_KINDS[kind]}"
        shutil.copyfile(src, self.dir / rel)
        self.media = [m for m in self.media if m["file"] != rel] + [{"file": rel, "kind": kind, **info}]
        self._write_manifest()
        return rel

    def close(self) -> Path:
        """Record the final epoch (metrics, snapshot, thumbnail) and write the manifest."""
        t = self.trainer
        self(t, force=True)
        self.status = "ok" if t.status.ok else "diverged"
        self._write_manifest()
        return self.dir

    def fail(self, message: str) -> Path:
        """Mark the run stopped by an error (``message`` says which) and write the manifest."""
        self.status, self.message = "stopped", message
        self._write_manifest()
        return self.dir

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.status = "stopped"
            self._write_manifest()

    def _write_manifest(self) -> None:
        t = self.trainer
        m = {
            "format": FORMAT, "version": VERSION, "ganlab": __version__, "name": self.name,
            "created": self.created, "config": self.config, "start_epoch": self.start, "epochs": t.epoch,
            "duration_seconds": round(self.seconds, 3), "status": self.status, "edits": self.edits,
            "metrics": {"file": METRICS, "every": self.metrics.every, "rows": len(self.rows)},
            "snapshots": self.snap_entries, "thumbs": self.thumb_entries, "media": self.media,
            "thumb_size": self.thumb_size, "parent": self.parent,
            "final": self.rows[-1] if self.rows else None,
        }
        if self.message is not None:
            m["message"] = self.message
        elif not t.status.ok:
            m["message"] = t.status.message
        tmp = self.dir / (MANIFEST + ".part")
        tmp.write_text(json.dumps(finite(m), allow_nan=False, separators=(",", ":")))
        tmp.replace(self.dir / MANIFEST)
