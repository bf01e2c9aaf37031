"""Running a sweep (:func:`run_sweep`): skip the finished runs, run the rest on an executor,
write ``summary.csv`` and ``summary.png`` (docs/runs.md, "Sweeps")."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from .execute import execute
from .progress import Progress
from .spec import Spec
from .summary import run_rows, summary_png, table, write_csv
from .task import DONE, result_of

RUNS = "runs"


def finished(spec: Spec, out: Path) -> dict[str, dict]:
    """Results of the runs already done in ``out``: status ok or diverged, readable, and recorded
    with the config this spec gives them (a changed spec redoes its changed runs)."""
    done = {}
    for task in spec.tasks:
        d = out / RUNS / task.name
        r = result_of(d, spec.budget)
        if r["status"] in DONE and _config(d) == task.config:
            done[task.name] = r
    return done


def _config(d: Path) -> Any:
    try:
        return json.loads((d / "run.json").read_text())["config"]
    except (OSError, ValueError, KeyError):
        return None


def run_sweep(spec: Spec, out: str | Path, jobs: int | None = None, scheduler: str | None = None,
              progress: Progress | None = None, quiet: bool = False) -> tuple[list[dict], str]:
    """Run every task of ``spec`` not finished yet into ``out/runs/NAME`` on ``jobs`` local
    processes (default: the CPU count) or on a Dask ``scheduler``; write the summary. Returns
    (the rows of summary.csv, the printed table). Ctrl-C (KeyboardInterrupt) leaves the finished
    runs in place, writes the summary of what finished (unfinished runs: status ``missing``) and
    propagates."""
    out = Path(out).absolute()  # workers elsewhere (Dask) may start in another directory
    (out / RUNS).mkdir(parents=True, exist_ok=True)
    results = finished(spec, out)
    todo = [(t, str(out / RUNS / t.name)) for t in spec.tasks if t.name not in results]
    jobs = jobs or os.cpu_count() or 1
    bar = progress or Progress(len(spec.tasks), len(results), stream=io.StringIO() if quiet else None)
    interrupted = False
    try:
        for r in execute(todo, spec.budget, jobs, scheduler):
            task = r.pop("task")
            results[task.name] = r
            bar.update(task.name, r["status"], r.get("seconds", 0.0))
    except KeyboardInterrupt:
        interrupted = True
        for name, r in finished(spec, out).items():  # runs that ended while their result was on its way
            results.setdefault(name, r)
    finally:
        bar.close()
    rows = run_rows(spec, results)  # also after Ctrl-C: the summary of what has finished
    write_csv(rows, out / "summary.csv")
    summary_png(spec, rows, out / "summary.png")
    if interrupted:
        raise KeyboardInterrupt
    return rows, table(spec, rows)
