"""A run read back (:class:`Run`): its manifest, metrics, snapshots, thumbnails and media, checked
on opening; rewinding (:meth:`Run.trainer_at`); the single-file export and import."""

from __future__ import annotations

import json
from pathlib import Path

from .. import snapshot_bin
from ..config import ConfigError, short
from .format import (
    MANIFEST,
    MAX_ENTRY_BYTES,
    MAX_FILE_BYTES,
    MAX_MANIFEST_BYTES,
    MEDIA_MAGIC,
    METRICS,
    PNG_MAGIC,
    RunError,
    _json,
    check_manifest,
    parse_metrics,
    read_entries,
    write_zip,
)


def _json_snapshot_epoch(data: bytes, name: str):
    snap = _json(data, name)
    if not isinstance(snap, dict) or snap.get("format") != "ganlab-snapshot":
        raise RunError(f"{name}: not a ganlab snapshot")
    return snap.get("epoch")


def _bin_snapshot(data: bytes, name: str = "snapshot") -> dict:
    """A binary snapshot decoded (its magic, sizes and CRC-32 checked), RunError naming the file."""
    try:
        return snapshot_bin.decode(data, MAX_ENTRY_BYTES)
    except ValueError as e:
        raise RunError(f"{name}: {e}") from None


def _bin_snapshot_epoch(data: bytes, name: str):
    snap = _bin_snapshot(data, name)
    if snap.get("format") != "ganlab-snapshot":
        raise RunError(f"{name}: not a ganlab snapshot")
    return snap.get("epoch")


# Per snapshot kind (format.SNAPSHOT_KINDS): how to read its epoch when checking a run, and how to
# load it for Trainer.from_snapshot (which takes either decoded form).
SNAPSHOT_EPOCH = {"json": _json_snapshot_epoch, "bin": _bin_snapshot_epoch}
SNAPSHOT_LOAD = {"json": json.loads, "bin": _bin_snapshot}


class Run:
    """A recorded run, from a directory or a run file; every listed file is checked on opening
    (RunError naming the file and the problem). ``metrics`` is the list of metric rows."""

    def __init__(self, path: str | Path):
        self._entries, self.path = read_entries(path)
        where = str(self.path)
        try:
            self.manifest = check_manifest(self.read(MANIFEST))
            self.metrics = parse_metrics(self.read(METRICS))
            self._check_files()
        except RunError as e:
            raise RunError(f"{where}: {e}") from None
        if self._entries is not None:
            listed = set(self.files())
            extra = sorted(set(self._entries) - listed)
            if extra:
                raise RunError(f"{where}: entry {extra[0]} is not listed in {MANIFEST}")

    # -- files ----------------------------------------------------------------------------------

    def files(self) -> list[str]:
        """Every file of the run, manifest first."""
        m = self.manifest
        return [MANIFEST, METRICS, *(s["file"] for s in m["snapshots"]), *(t["file"] for t in m["thumbs"]),
                *(x["file"] for x in m["media"])]

    def read(self, name: str) -> bytes:
        if self._entries is not None:
            if name not in self._entries:
                raise RunError(f"{name} is missing from the run file")
            return self._entries[name]
        p = self.path / name
        if not p.is_file():
            raise RunError(f"{name} is missing from the run directory")
        limit = MAX_MANIFEST_BYTES if name == MANIFEST else MAX_ENTRY_BYTES
        size = p.stat().st_size
        if size > limit:
            raise RunError(f"{name} is {size:,} bytes; the limit is {limit:,}")
        return p.read_bytes()

    def _check_files(self) -> None:
        m = self.manifest
        total = 0
        for s in m["snapshots"]:
            data = self.read(s["file"])
            total += len(data)
            epoch = SNAPSHOT_EPOCH[s["kind"]](data, s["file"])
            if epoch != s["epoch"]:
                raise RunError(f"{s['file']}: holds epoch {short(epoch)}, {MANIFEST} says {s['epoch']}")
        for t in m["thumbs"]:
            data = self.read(t["file"])
            total += len(data)
            if not data.startswith(PNG_MAGIC):
                raise RunError(f"{t['file']}: not a PNG image")
        for x in m["media"]:
            data = self.read(x["file"])
            total += len(data)
            if not data.startswith(MEDIA_MAGIC[x["kind"]]):
                raise RunError(f"{x['file']}: not a {x['kind']} file")
        if total > MAX_FILE_BYTES:
            raise RunError(f"the run's files add up to {total:,} bytes; the limit is {MAX_FILE_BYTES:,}")
        if len(self.metrics) != m["metrics"]["rows"]:
            raise RunError(f"{METRICS}: {len(self.metrics)} rows, {MANIFEST} says {m['metrics']['rows']} "
                           "(truncated?)")

    # -- what it holds ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def config(self) -> dict:
        return self.manifest["config"]

    @property
    def edits(self) -> list[dict]:
        return self.manifest["edits"]

    @property
    def snapshot_epochs(self) -> list[int]:
        return [s["epoch"] for s in self.manifest["snapshots"]]

    def _entry(self, epoch: int | None) -> dict:
        snaps = self.manifest["snapshots"]
        if not snaps:
            raise RunError(f"{self.path}: the run holds no snapshot")
        if epoch is None:
            return snaps[-1]
        for s in snaps:
            if s["epoch"] == epoch:
                return s
        shown = ", ".join(map(str, self.snapshot_epochs[:20])) + (" ..." if len(snaps) > 20 else "")
        raise RunError(f"{self.path}: no snapshot at epoch {epoch}; recorded: {shown}")

    def snapshot(self, epoch: int | None = None) -> dict:
        """The snapshot at ``epoch`` (the last when None), as its kind's loader returns it."""
        s = self._entry(epoch)
        return SNAPSHOT_LOAD[s["kind"]](self.read(s["file"]))

    def later_edits(self, epoch: int | None = None) -> list[dict]:
        """The run's edits not yet applied at the snapshot of ``epoch``."""
        return [dict(e) for e in self.edits[self._entry(epoch)["edits_done"]:]]

    def trainer_at(self, epoch: int | None = None, schedule: bool = True):
        """A Trainer at a recorded epoch (the last when None) with the run's later edits
        scheduled (unless ``schedule`` is False): training it on without changes retraces the
        run bit for bit."""
        from ..trainer import Trainer

        s = self._entry(epoch)
        try:
            t = Trainer.from_snapshot(self.snapshot(s["epoch"]))
        except ValueError as e:
            raise RunError(f"{self.path}: {s['file']}: {e}") from None
        later = self.later_edits(s["epoch"])
        if later and schedule:
            try:
                t.schedule(later)
            except ConfigError as e:  # edits that do not apply to this model: the run is damaged
                raise RunError(f"{self.path}: {MANIFEST}: the edits after epoch {s['epoch']} do not "
                               f"apply: {e}") from None
        return t

    def thumb(self, epoch: int) -> bytes:
        for t in self.manifest["thumbs"]:
            if t["epoch"] == epoch:
                return self.read(t["file"])
        raise RunError(f"{self.path}: no thumbnail at epoch {epoch}")

    # -- export ----------------------------------------------------------------------------------

    def export(self, path: str | Path) -> int:
        """Write the run as one file (a stored zip: docs/runs.md); returns its size."""
        return write_zip({name: self.read(name) for name in self.files()}, path)

    def extract(self, directory: str | Path) -> Path:
        """Write the run's files into a new directory (refused if it already holds a run)."""
        d = Path(directory)
        if (d / MANIFEST).exists():
            raise RunError(f"{d}: already holds a run")
        for name in self.files():
            p = d / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(self.read(name))
        return d


def open_run(path: str | Path) -> Run:
    """:class:`Run` of a directory or a run file."""
    return Run(path)
