"""A sweep spec (TOML, read with the stdlib ``tomllib``) and the runs it stands for.

    [base]                      # any config fields, dotted paths as in --set
    data = "ring8"
    [grid]                      # every combination of these
    loss = ["nonsaturating", "lsgan"]
    "d_optimizer.lr" = [0.001, 0.0003]
    [variants.ganlab]           # optional: named bundles of fields, one more grid axis "variant"
    preset = "none"
    loss = "ganlab_log"
    [run]
    seeds = [0, 1, 2]
    epochs = 5000               # or: seconds = 60 (CPU seconds of the run's thread)
    preset = "recommended"      # or "none": start from ganlab's defaults (GAN Lab's experiment);
                                # also accepted in [base], or as a [grid] axis or in a variant
    every = 500                 # epochs between checkpoints (a metrics row; default epochs / 20)
    worst_from = 0              # the summary's worst checkpoint is taken from this epoch on
    pass_high_quality = 0.8     # optional: a run passes when every checkpoint from worst_from on
                                # keeps all modes and at least this share of high-quality samples
    snapshot_every = 0          # epochs between snapshots kept in each run (0: the final one only)
    metrics = ["modes_captured", "high_quality", "kl"]   # final metrics in the summary

Each run's config is built like ``ganlab train``'s: ganlab's defaults, the data's recommended
preset (unless ``preset = "none"``), then [base], the variant, the grid point; every combination
is validated by the same :func:`ganlab.config.make_config` as ``--set``, before any run starts.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ConfigError, is_image_data, make_config, short

SECTIONS = ("base", "grid", "variants", "run")
RUN_KEYS = {"seeds", "epochs", "seconds", "preset", "every", "worst_from", "pass_high_quality",
            "snapshot_every", "metrics"}
PRESETS = ("recommended", "none")
DEFAULT_METRICS = ["modes_captured", "high_quality", "kl", "js"]
# Metrics a run's rows can hold (docs/runs.md, metrics.jsonl) that the summary can tabulate.
KNOWN_METRICS = ("d_loss", "g_loss", "kl", "js", "kl_floor", "js_floor", "modes_captured", "modes_total",
                 "high_quality", "mode_js", "precision", "recall", "d_accuracy", "grad_norm_d", "grad_norm_g")
NOT_FIELDS = {"seed": "set by [run] seeds"}
MAX_RUNS = 100_000


class SpecError(ValueError):
    """An invalid sweep spec; the message names the file and the key."""


@dataclass(frozen=True)
class Budget:
    """What one run trains and records (picklable: it travels to the workers)."""

    epochs: int | None = None
    seconds: float | None = None
    every: int = 500
    snapshot_every: int = 0
    worst_from: int = 0
    pass_high_quality: float | None = None


@dataclass(frozen=True)
class Task:
    """One run of a sweep: its grid point (with the variant), seed, full config and directory name."""

    name: str
    point: dict[str, Any]
    seed: int
    config: dict[str, Any]


@dataclass
class Spec:
    path: str
    base: dict[str, Any]
    grid: dict[str, list]  # dotted key -> values ("variant" last when there are variants)
    variants: dict[str, dict[str, Any]]
    seeds: list[int]
    budget: Budget
    preset: str = "recommended"
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    tasks: list[Task] = field(default_factory=list)

    @property
    def axes(self) -> list[str]:
        return list(self.grid)


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; SpecError names the file and the key of any problem."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise SpecError(f"{p}: cannot read: {e.strerror or e}") from None
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise SpecError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"{p}: not valid TOML: {e}") from None
    return parse_spec(doc, str(p))


def parse_spec(doc: dict, where: str = "spec") -> Spec:
    def fail(key: str, msg: str):
        raise SpecError(f"{where}: {key}: {msg}")

    for k in doc:
        if k not in SECTIONS:
            fail(k, f"unknown section; a spec has {', '.join('[' + s + ']' for s in SECTIONS)}")
    for k in SECTIONS:
        if k in doc and not isinstance(doc[k], dict):
            fail(k, f"must be a table ([{k}]), got {short(doc[k])}")
    base = flatten(doc.get("base", {}))
    grid = flatten(doc.get("grid", {}))
    run = doc.get("run")
    if run is None:
        fail("[run]", "missing; it names the seeds and the budget (epochs or seconds)")
    for k in run:
        if k not in RUN_KEYS:
            fail(f"[run] {k}", f"unknown key; [run] takes {', '.join(sorted(RUN_KEYS))}")
    for section, keys in (("[base]", base), ("[grid]", grid)):
        for k in keys:
            if k in NOT_FIELDS:
                fail(f"{section} {k}", NOT_FIELDS[k])
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            fail(f"[grid] {k}", f"must be a non-empty list of values, got {short(v)}")
        if len({_key(x) for x in v}) != len(v):
            fail(f"[grid] {k}", "lists a value twice")
    variants = doc.get("variants", {})
    for name, fields in variants.items():
        if not _NAME.match(name):
            fail(f"[variants.{name}]", "a variant's name is 1-40 of A-Z a-z 0-9 _ - .")
        if not isinstance(fields, dict):
            fail(f"[variants.{name}]", f"must be a table of config fields, got {short(fields)}")
        for k in flatten(fields):
            if k in NOT_FIELDS:
                fail(f"[variants.{name}] {k}", NOT_FIELDS[k])
    if "variant" in grid:
        fail("[grid] variant", "is the axis of [variants.NAME] tables; define variants there")
    if variants:
        grid = {**grid, "variant": list(variants)}

    seeds = run.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds)):
        fail("[run] seeds", f"must be a non-empty list of whole numbers in 0..2**32-1, got {short(seeds)}")
    if len(set(seeds)) != len(seeds):
        fail("[run] seeds", "lists a seed twice")
    epochs, seconds = run.get("epochs"), run.get("seconds")
    if epochs is not None and seconds is not None:
        fail("[run] epochs", "give epochs or seconds, not both")
    if epochs is None and seconds is None:
        fail("[run]", "give the budget of each run: epochs = N or seconds = S")
    if epochs is not None and not _int_in(epochs, 1, 10**9):
        fail("[run] epochs", f"must be a whole number in 1..{10**9}, got {short(epochs)}")
    if seconds is not None and not (isinstance(seconds, int | float) and not isinstance(seconds, bool)
                                    and math.isfinite(seconds) and 0 < seconds <= 10**6):
        fail("[run] seconds", f"must be a number in (0, {10**6}], got {short(seconds)}")
    every = run.get("every", max(1, epochs // 20) if epochs else 500)
    if not _int_in(every, 1, 10**9):
        fail("[run] every", f"must be a whole number of epochs in 1..{10**9}, got {short(every)}")
    worst_from = run.get("worst_from", 0)
    if not _int_in(worst_from, 0, 10**9):
        fail("[run] worst_from", f"must be a whole number of epochs in 0..{10**9}, got {short(worst_from)}")
    if epochs is not None and worst_from > epochs:
        fail("[run] worst_from", f"is past the run's end (epochs = {epochs})")
    snapshot_every = run.get("snapshot_every", 0)
    if not _int_in(snapshot_every, 0, 10**9):
        fail("[run] snapshot_every", f"must be a whole number of epochs in 0..{10**9}, got {short(snapshot_every)}")
    bar = run.get("pass_high_quality")
    if bar is not None and not (isinstance(bar, int | float) and not isinstance(bar, bool) and 0 <= bar <= 1):
        fail("[run] pass_high_quality", f"must be a share in 0..1, got {short(bar)}")
    if "preset" in base and "preset" in run:
        fail("[base] preset", "also set in [run]; give it once")
    preset_key = "[base] preset" if "preset" in base else "[run] preset"
    preset = base.pop("preset") if "preset" in base else run.get("preset", "recommended")
    if preset not in PRESETS:
        fail(preset_key, f"must be one of {', '.join(PRESETS)}, got {short(preset)}")
    metrics = run.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics:
        fail("[run] metrics", f"must be a non-empty list of metric names, got {short(metrics)}")
    for m in metrics:
        if m not in KNOWN_METRICS:
            fail("[run] metrics", f"unknown metric {short(m)}; choose from {', '.join(KNOWN_METRICS)}")
    budget = Budget(epochs=epochs, seconds=float(seconds) if seconds is not None else None, every=every,
                    snapshot_every=snapshot_every, worst_from=worst_from,
                    pass_high_quality=float(bar) if bar is not None else None)
    spec = Spec(where, base, grid, {k: flatten(v) for k, v in variants.items()},
                list(seeds), budget, preset, list(metrics))
    spec.tasks = expand(spec)
    return spec


def expand(spec: Spec) -> list[Task]:
    """Every grid point (the product of the axes, in the spec's order) times every seed, each
    with its validated config; the first invalid combination raises SpecError naming its key."""
    axes = list(spec.grid.items())
    n = math.prod(len(v) for _, v in axes) * len(spec.seeds)
    if n > MAX_RUNS:
        raise SpecError(f"{spec.path}: [grid]: {n:,} runs; a sweep holds at most {MAX_RUNS:,}")
    tasks, names = [], set()
    for values in itertools.product(*(v for _, v in axes)):
        point = dict(zip((k for k, _ in axes), values, strict=True))
        variant = spec.variants.get(point.get("variant"), {})
        changes = {**spec.base, **{k: v for k, v in variant.items() if k != "preset"},
                   **{k: v for k, v in point.items() if k not in ("variant", "preset")}}
        preset = point.get("preset", variant.get("preset", spec.preset))
        cfg = build_config(spec, point, changes, preset)
        stem = point_name(point)
        for seed in spec.seeds:
            name = f"{stem}__seed={seed}" if stem else f"seed={seed}"
            if name in names:  # two points that differ only in characters the name drops
                name = f"{name}__{_digest(point)}"
            names.add(name)
            tasks.append(Task(name, point, seed, {**cfg, "seed": seed}))
    return tasks


def build_config(spec: Spec, point: dict, changes: dict, preset: Any) -> dict:
    """defaults <- the data's preset <- [base] <- variant <- grid point, checked like --set."""
    from ..data import DISTRIBUTIONS

    where = spec.path + ": " + (", ".join(f"[grid] {k} = {_show(v)}" for k, v in point.items()) or "[base]")
    if preset not in PRESETS:
        raise SpecError(f"{where}: preset: must be one of {', '.join(PRESETS)}, got {short(preset)}")
    data = changes.get("data", "gaussians")
    if is_image_data(data):
        raise SpecError(f"{where}: data: a sweep trains 2D data only for now (its summary reads the 2D metrics), "
                        f"not the image set {data!r}")
    dist = DISTRIBUTIONS.get(data) if isinstance(data, str) else None
    base = dict(dist.preset) if preset == "recommended" and dist is not None else {}
    try:
        cfg = make_config(base, **changes)
    except ConfigError as e:
        raise SpecError(f"{where}: {e}") from None
    return cfg.model_dump(mode="json")


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """A TOML table as dotted config paths: ``[base.d_optimizer] lr = 1`` and ``"d_optimizer.lr" = 1``
    both give ``{"d_optimizer.lr": 1}``. ``data_params`` is one field (its value a table)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and key != "data_params":
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def point_name(point: dict) -> str:
    """A run directory's name from its grid point: ``loss=lsgan__d_optimizer.lr=0.001`` (values
    that are not plain become a short digest), at most 160 characters."""
    parts = []
    for k, v in point.items():
        text = _show(v)
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,40}", text):
            text = _digest(v)
        parts.append(f"{_UNSAFE.sub('_', k)}={text}")
    name = "__".join(parts)
    return name if len(name) <= 160 else name[:140] + "__" + _digest(point)


def _show(v: Any) -> str:
    return v if isinstance(v, str) else _key(v)


def _key(v: Any) -> str:
    import json

    return json.dumps(v, sort_keys=True, separators=(",", ":"))


def _digest(v: Any) -> str:
    return hashlib.sha256(_key(v).encode()).hexdigest()[:10]


def _int_in(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
