"""A sweep's summary: ``summary.csv`` (one row per run), the table per setting (seeds aggregated
as median and range) printed and drawn as ``summary.png``."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path
from typing import Any

from .spec import Spec, Task

PERCENT = {"high_quality", "worst_high_quality", "precision", "recall", "d_accuracy"}


def run_rows(spec: Spec, results: dict[str, dict]) -> list[dict[str, Any]]:
    """One row per task, in the spec's order: grid fields, seed, status, reason, epochs, seconds,
    the final metrics, the worst checkpoint and the first with every mode (when rows held mode
    metrics), passed (with a bar)."""
    rows = []
    for task in spec.tasks:
        r = results.get(task.name, {"status": "missing", "reason": "not run", "final": {}})
        row: dict[str, Any] = {"run": task.name, **{k: _cell(task.point[k]) for k in spec.axes}, "seed": task.seed,
                               "status": r["status"], "reason": r.get("reason", ""), "epochs": r.get("epochs", 0),
                               "seconds": r.get("seconds", 0.0)}
        final = r.get("final") or {}
        for m in spec.metrics:
            row[m] = final.get(m)
        if "modes_captured" in final and "modes_total" not in spec.metrics:
            row["modes_total"] = final.get("modes_total")
        for k in ("worst_epoch", "worst_modes_captured", "worst_high_quality", "all_modes_at"):
            row[k] = r.get(k)
        if spec.budget.pass_high_quality is not None:
            row["passed"] = r.get("passed")
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: str | Path) -> None:
    names = list(dict.fromkeys(k for row in rows for k in row)) or ["run"]  # a missing run lacks some
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=names, restval="")
        w.writeheader()
        for row in rows:
            w.writerow({k: "" if v is None else v for k, v in row.items()})


def settings(spec: Spec, rows: list[dict]) -> list[tuple[str, list[dict]]]:
    """(label, that grid point's runs) per grid point, in the spec's order."""
    groups: dict[str, list[dict]] = {}
    for task, row in zip(spec.tasks, rows, strict=True):
        groups.setdefault(setting_label(spec, task), []).append(row)
    return list(groups.items())


def setting_label(spec: Spec, task: Task) -> str:
    return ", ".join(f"{k}={_cell(task.point[k])}" for k in spec.axes) or "base"


def columns(spec: Spec, rows: list[dict]) -> list[str]:
    """The metrics the per-setting table aggregates: the final ones, then the worst checkpoint's."""
    cols = list(spec.metrics)
    if any(r.get("worst_high_quality") is not None for r in rows):
        cols += ["worst_modes_captured", "worst_high_quality"]
    return cols


def aggregate(values: list[Any]) -> tuple[float, float, float] | None:
    """(median, min, max) of the finite numbers, or None when there are none."""
    xs = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)]
    return (statistics.median(xs), min(xs), max(xs)) if xs else None


def table(spec: Spec, rows: list[dict]) -> str:
    """A Markdown table, one row per setting: runs finished of all (failed ones named below),
    each metric as ``median (min-max)`` over seeds, and passed k/n with a pass bar."""
    cols = columns(spec, rows)
    bar = spec.budget.pass_high_quality
    head = ["setting", "runs ok", *(_title(c) for c in cols)] + (["passed"] if bar is not None else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, group in settings(spec, rows):
        ok = sum(r["status"] == "ok" for r in group)
        cells = [label, f"{ok}/{len(group)}"]
        for c in cols:
            a = aggregate([r.get(c) for r in group])
            cells.append("-" if a is None else _range(c, a, group))
        if bar is not None:
            cells.append(f"{sum(bool(r.get('passed')) for r in group)}/{len(group)}")
        lines.append("| " + " | ".join(cells) + " |")
    bad = [r for r in rows if r["status"] != "ok"]
    for r in bad:
        lines.append(f"\n{r['run']}: {r['status']}" + (f": {r['reason']}" if r.get("reason") else ""))
    return "\n".join(lines)


def _title(c: str) -> str:
    return {"modes_captured": "modes", "high_quality": "% HQ", "worst_modes_captured": "worst modes",
            "worst_high_quality": "worst % HQ"}.get(c, c)


def _range(c: str, a: tuple[float, float, float], group: list[dict]) -> str:
    scale = 100.0 if c in PERCENT else 1.0
    med, lo, hi = (scale * x for x in a)
    if c in ("modes_captured", "worst_modes_captured"):
        total = next((r.get("modes_total") for r in group if r.get("modes_total")), None)
        tail = f"/{total}" if total else ""
        return f"{med:g}{tail}" if lo == hi else f"{med:g}{tail} ({lo:g}-{hi:g})"
    fmt = (lambda x: f"{x:.1f}") if scale == 100.0 else (lambda x: f"{x:.3g}")
    return fmt(med) if lo == hi else f"{fmt(med)} ({fmt(lo)}-{fmt(hi)})"


def _cell(v: Any) -> Any:
    if isinstance(v, str | int | float | bool):
        return v
    import json

    return json.dumps(v, separators=(",", ":"))


def summary_png(spec: Spec, rows: list[dict], path: str | Path) -> None:
    """Each aggregated metric per setting: every seed a dot, the median a bar, the range a line."""
    from ..render import plot_ranges

    groups = settings(spec, rows)
    panels = []
    for c in columns(spec, rows):
        scale = 100.0 if c in PERCENT else 1.0
        values = [[scale * r[c] for r in g if isinstance(r.get(c), int | float) and math.isfinite(r[c])]
                  for _, g in groups]
        title = {"high_quality": "% high quality (final)", "worst_high_quality": "% high quality (worst checkpoint)",
                 "modes_captured": "modes captured (final)",
                 "worst_modes_captured": "modes captured (worst checkpoint)"}.get(c, f"{c} (final)")
        total = max((r.get("modes_total") or 0 for r in rows), default=0)
        limits = (0, 100) if scale == 100.0 else (0, total) if "modes_captured" in c and total else None
        panels.append((title, values, limits))
    plot_ranges([label for label, _ in groups], panels).save(path)
