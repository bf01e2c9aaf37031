"""The run format (docs/runs.md): one experiment from its start to now, on disk as a directory
and as a single file (an uncompressed zip of the same files), and its reader.

A run directory holds::

    run.json          manifest: format, version, name, config, edits, the files below, totals
    metrics.jsonl     one JSON object per line: {"epoch", "seconds", "d_loss", ...}
    snapshots/E.json  Trainer.snapshot() at epoch E (JSON; image models: another kind, below)
    thumbs/E.png      a small PNG of the data view at epoch E
    media/NAME        animations (GIF, WebP, APNG, WebM)

Everything read from outside is checked before it is used, within the limits below; a problem
raises :class:`RunError` naming the file, the entry, the line or the field, and what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from pathlib import Path
from typing import Any

from .. import snapshot_check as sc
from ..config import ConfigError, make_config, short

FORMAT = "ganlab-run"
VERSION = 1
MANIFEST = "run.json"
METRICS = "metrics.jsonl"

MiB = 1024 * 1024
MAX_FILE_BYTES = 256 * MiB  # a whole run, as a file or the sum of a directory's listed files
MAX_ENTRY_BYTES = 64 * MiB  # one file of a run (a snapshot of the largest 2D model is ~10 MiB)
MAX_MANIFEST_BYTES = 16 * MiB  # run.json holds the config, and a drawing or point set with it
MAX_METRICS_BYTES = 32 * MiB
MAX_ENTRIES = 1024
MAX_METRIC_ROWS = 100_000
MAX_SNAPSHOTS = 256
MAX_THUMBS = 512
MAX_MEDIA = 8
MAX_EDITS = 10_000
_FILE_LIMIT = f"a run file holds at most {MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // MiB} MiB)"

# Snapshot kinds and their file suffixes. "json" is Trainer.snapshot(); "bin" is the binary
# snapshot (ganlab/snapshot_bin.py) that image models are recorded with. Each kind's reader is in
# run.py (SNAPSHOT_EPOCH, SNAPSHOT_LOAD).
SNAPSHOT_KINDS = {"json": ".json", "bin": ".bin"}
MEDIA_KINDS = {"gif": ".gif", "webp": ".webp", "apng": ".png", "webm": ".webm"}
MEDIA_BY_SUFFIX = {**{v: k for k, v in MEDIA_KINDS.items()}, ".apng": "apng"}
MEDIA_MAGIC = {"gif": (b"GIF87a", b"GIF89a"), "webp": (b"RIFF",), "apng": (b"\x89PNG\r\n\x1a\n",),
               "webm": (b"\x1a\x45\xdf\xa3",)}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZIP_MAGIC = b"PK\x03\x04"
NAME = re.compile(r"^(run\.json|metrics\.jsonl|snapshots/[0-9]{1,16}\.[a-z0-9]{1,8}|thumbs/[0-9]{1,16}\.png|"
                  r"media/[A-Za-z0-9][A-Za-z0-9._-]{0,63})$")
MANIFEST_KEYS = {"format", "version", "ganlab", "name", "created", "config", "start_epoch", "epochs",
                 "duration_seconds", "status", "edits", "metrics", "snapshots", "thumbs", "media"}
MANIFEST_OPTIONAL = {"message", "parent", "final", "thumb_size", "notes"}


class RunError(ValueError):
    """A run file or directory that cannot be read; the message names what is wrong."""


def snapshot_name(epoch: int, kind: str = "json") -> str:
    return f"snapshots/{epoch:09d}{SNAPSHOT_KINDS[kind]}"


def thumb_name(epoch: int) -> str:
    return f"thumbs/{epoch:09d}.png"


# -- reading the files of a run -------------------------------------------------------------------


def read_entries(path: str | Path) -> tuple[dict[str, bytes] | None, Path]:
    """(entries of a run file, its path), or (None, path) for a directory (read lazily)."""
    p = Path(path)
    if p.is_dir():
        if not (p / MANIFEST).is_file():
            raise RunError(f"{p}: not a run directory ({MANIFEST} is missing)")
        return None, p
    if not p.is_file():
        raise RunError(f"{p}: no such run file or directory")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:  # refused before reading a byte
        raise RunError(f"{p}: {size:,} bytes; {_FILE_LIMIT}")
    return read_zip(p.read_bytes(), str(p)), p


def read_zip(data: bytes, where: str = "run file") -> dict[str, bytes]:
    """The entries of a run file: an uncompressed ("stored") zip whose names are the run's files.
    Refuses, naming the problem: oversized, not a zip (foreign), truncated, corrupt (bad CRC),
    compressed or encrypted entries, unexpected names, duplicates, too many entries."""
    if len(data) > MAX_FILE_BYTES:
        raise RunError(f"{where}: {len(data):,} bytes; {_FILE_LIMIT}")
    if not data.startswith(ZIP_MAGIC):
        kind = "JSON (a snapshot or settings file?)" if data.lstrip()[:1] in (b"{", b"[") else repr(data[:8])
        raise RunError(f"{where}: not a ganlab run file (a run file is a zip archive starting with 'PK\\x03\\x04'; "
                       f"this starts with {kind})")
    if data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557)) < 0:
        raise RunError(f"{where}: truncated: the zip's end record is missing (the file stops after "
                       f"{len(data):,} bytes; was it cut short?)")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise RunError(f"{where}: corrupt zip: {e}") from None
    if len(infos) > MAX_ENTRIES:
        raise RunError(f"{where}: {len(infos)} entries; a run file holds at most {MAX_ENTRIES}")
    out: dict[str, bytes] = {}
    total = 0
    for info in infos:
        name = info.filename
        if info.is_dir():
            continue
        if not NAME.match(name):
            raise RunError(f"{where}: unexpected entry {short(name)} (a run holds run.json, metrics.jsonl, "
                           "snapshots/, thumbs/ and media/ only)")
        if name in out:
            raise RunError(f"{where}: entry {name} appears twice")
        if info.flag_bits & 0x1:
            raise RunError(f"{where}: entry {name} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED:
            raise RunError(f"{where}: entry {name} is compressed (method {info.compress_type}); a run file "
                           "stores its entries uncompressed (export it with `ganlab runs export`)")
        limit = MAX_MANIFEST_BYTES if name == MANIFEST else MAX_ENTRY_BYTES
        if info.file_size > limit:
            raise RunError(f"{where}: entry {name} is {info.file_size:,} bytes; the limit is {limit:,}")
        total += info.file_size
        if total > MAX_FILE_BYTES:
            raise RunError(f"{where}: entries add up to more than {MAX_FILE_BYTES:,} bytes")
        try:
            out[name] = zf.read(info)
        except zipfile.BadZipFile as e:
            what = "fails its CRC-32 check" if "CRC" in str(e) else str(e)
            raise RunError(f"{where}: entry {name} is corrupt: {what}") from None
        except (EOFError, OSError, ValueError, zipfile.LargeZipFile) as e:
            raise RunError(f"{where}: entry {name} is truncated or corrupt: {e}") from None
    if MANIFEST not in out:
        raise RunError(f"{where}: not a ganlab run file ({MANIFEST} is missing from the archive)")
    return out


def write_zip(files: dict[str, bytes], path: str | Path) -> int:
    """Write ``files`` as a run file (stored zip, run.json first, fixed timestamps so the same run
    gives the same bytes). Returns the size."""
    p = Path(path)
    tmp = p.with_name(p.name + ".part")
    order = sorted(files, key=lambda n: (n != MANIFEST, n != METRICS, n))
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for name in order:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, files[name])
    tmp.replace(p)
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        p.unlink()
        raise RunError(f"{p}: the run is {size:,} bytes; a run file holds at most {MAX_FILE_BYTES:,}")
    return size


# -- the manifest and the metrics -----------------------------------------------------------------


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError as e:
        raise RunError(f"{where}: not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise RunError(f"{where}: not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    except RecursionError:
        raise RunError(f"{where}: JSON nested too deeply") from None
    except ValueError as e:
        raise RunError(f"{where}: {e}") from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed (JSON numbers must be finite)")


def check_manifest(data: bytes) -> dict:
    """run.json parsed and checked field by field (RunError naming ``run.json: field``)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise RunError(f"{MANIFEST}: {len(data):,} bytes; the limit is {MAX_MANIFEST_BYTES:,}")
    m = _json(data, MANIFEST)
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        got = short(m.get("format")) if isinstance(m, dict) else type(m).__name__
        raise RunError(f"{MANIFEST}: format must be {FORMAT!r}, got {got} (not a ganlab run)")
    v = m.get("version")
    if type(v) is not int or v < 1:
        raise RunError(f"{MANIFEST}: version must be a whole number >= 1, got {short(v)}")
    if v > VERSION:
        raise RunError(f"{MANIFEST}: version {v} was written by a newer ganlab; this one reads version {VERSION}")
    try:
        _check_fields(m)
    except ValueError as e:
        raise RunError(f"{MANIFEST}: {str(e).removeprefix('run.')}") from None
    try:  # machine-written, so read with the wire's strictness (as a snapshot's config)
        make_config(m["config"], strict=True)
    except ConfigError as e:
        raise RunError(f"{MANIFEST}: " + "; ".join(f"config.{f}: {msg}" for f, msg in e.errors)) from None
    return m


def _check_fields(m: dict) -> None:
    sc.mapping(m, "run", MANIFEST_KEYS, MANIFEST_OPTIONAL)
    for k, limit in (("ganlab", 64), ("name", 200), ("created", 64)):
        sc.text(m[k], f"run.{k}", limit)
    if not isinstance(m["config"], dict):
        raise sc.fail("run.config", "must be an object")
    start = sc.whole(m["start_epoch"], "run.start_epoch")
    epochs = sc.whole(m["epochs"], "run.epochs")
    if epochs < start:
        raise sc.fail("run.epochs", f"must be >= start_epoch ({start})")
    d = m["duration_seconds"]
    if type(d) not in (int, float) or not (math.isfinite(d) and d >= 0):
        raise sc.fail("run.duration_seconds", "must be a finite number >= 0")
    sc.choice(m["status"], "run.status", ("running", "ok", "diverged", "stopped"))
    if "message" in m:
        sc.text(m["message"], "run.message")
    edits = _list(m["edits"], "run.edits", MAX_EDITS)
    for i, e in enumerate(edits):
        sc.mapping(e, f"run.edits[{i}]", {"epoch"}, {"changes", "step"})
        sc.whole(e["epoch"], f"run.edits[{i}].epoch")
        if ("changes" in e) == ("step" in e):
            raise sc.fail(f"run.edits[{i}]", "needs exactly one of 'changes' and 'step'")
        if "step" in e:
            sc.choice(e["step"], f"run.edits[{i}].step", ("discriminator", "generator"))
        elif not isinstance(e["changes"], dict):
            raise sc.fail(f"run.edits[{i}].changes", "must be an object")
    mt = sc.mapping(m["metrics"], "run.metrics", {"file", "every", "rows"})
    if mt["file"] != METRICS:
        raise sc.fail("run.metrics.file", f"must be {METRICS!r}")
    sc.whole(mt["every"], "run.metrics.every", 1)
    sc.whole(mt["rows"], "run.metrics.rows", 0, MAX_METRIC_ROWS)
    last = -1
    for i, s in enumerate(_list(m["snapshots"], "run.snapshots", MAX_SNAPSHOTS)):
        w = f"run.snapshots[{i}]"
        sc.mapping(s, w, {"epoch", "file", "kind", "edits_done"})
        e = sc.whole(s["epoch"], f"{w}.epoch")
        if e <= last:
            raise sc.fail(f"{w}.epoch", f"must be greater than the previous snapshot's ({last})")
        last = e
        kind = sc.choice(s["kind"], f"{w}.kind", tuple(SNAPSHOT_KINDS))
        if s["file"] != snapshot_name(e, kind):
            raise sc.fail(f"{w}.file", f"must be {snapshot_name(e, kind)!r}")
        sc.whole(s["edits_done"], f"{w}.edits_done", 0, len(edits))
    last = -1
    for i, t in enumerate(_list(m["thumbs"], "run.thumbs", MAX_THUMBS)):
        w = f"run.thumbs[{i}]"
        sc.mapping(t, w, {"epoch", "file"})
        e = sc.whole(t["epoch"], f"{w}.epoch")
        if e <= last:
            raise sc.fail(f"{w}.epoch", f"must be greater than the previous thumbnail's ({last})")
        last = e
        if t["file"] != thumb_name(e):
            raise sc.fail(f"{w}.file", f"must be {thumb_name(e)!r}")
    for i, md in enumerate(_list(m["media"], "run.media", MAX_MEDIA)):
        w = f"run.media[{i}]"
        sc.mapping(md, w, {"file", "kind"}, {"every", "frames"})
        kind = sc.choice(md["kind"], f"{w}.kind", tuple(MEDIA_KINDS))
        name = md["file"]
        if not (isinstance(name, str) and NAME.match(name) and name.startswith("media/")
                and name.endswith(MEDIA_KINDS[kind])):
            raise sc.fail(f"{w}.file", f"must be 'media/NAME{MEDIA_KINDS[kind]}' (letters, digits, . _ -)")
    if "parent" in m and m["parent"] is not None:
        p = sc.mapping(m["parent"], "run.parent", {"name", "epoch"})
        sc.text(p["name"], "run.parent.name", 200)
        sc.whole(p["epoch"], "run.parent.epoch")
    if m.get("final") is not None and not isinstance(m["final"], dict):
        raise sc.fail("run.final", "must be an object or null")


def _list(v: Any, path: str, limit: int) -> list:
    if not isinstance(v, list):
        raise sc.fail(path, "must be a list")
    if len(v) > limit:
        raise sc.fail(path, f"holds {len(v)} items; the limit is {limit}")
    return v


def parse_metrics(data: bytes) -> list[dict]:
    """metrics.jsonl: one JSON object per line with a whole "epoch", epochs never decreasing;
    RunError naming the line otherwise."""
    if len(data) > MAX_METRICS_BYTES:
        raise RunError(f"{METRICS}: {len(data):,} bytes; the limit is {MAX_METRICS_BYTES:,}")
    rows: list[dict] = []
    last = -1
    for n, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        where = f"{METRICS} line {n}"
        row = _json(line, where)
        if not isinstance(row, dict):
            raise RunError(f"{where}: must be a JSON object")
        e = row.get("epoch")
        if type(e) is not int or not 0 <= e <= sc.MAX_COUNT:
            raise RunError(f"{where}: epoch must be a whole number >= 0, got {short(e)}")
        if e < last:
            raise RunError(f"{where}: epoch {e} comes after epoch {last} (epochs must not decrease)")
        last = e
        rows.append(row)
        if len(rows) > MAX_METRIC_ROWS:
            raise RunError(f"{where}: more than {MAX_METRIC_ROWS:,} rows")
    return rows


def dumps_row(row: dict) -> str:
    return json.dumps(row, allow_nan=False, separators=(",", ":"))
