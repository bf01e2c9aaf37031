"""One run of a sweep: :func:`run` (the picklable function every executor calls) and
:func:`result_of` (a finished run directory read back as the summary's row)."""

from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path
from typing import Any

from .spec import Budget

DONE = ("ok", "diverged")  # a run directory with one of these statuses is finished: a re-run skips it


def run(config: dict, seed: int, budget: Budget, run_dir: str | None = None) -> dict[str, Any]:
    """Train ``config`` from ``seed`` for ``budget`` (epochs, or CPU seconds of this thread) with
    one BLAS thread, recording the run into ``run_dir`` (docs/runs.md): a metrics row and a
    thumbnail every ``budget.every`` epochs, snapshots every ``budget.snapshot_every`` (0: the
    final one). A divergence ends the run early (status ``diverged``, its message kept); an
    exception is recorded as status ``stopped`` with the error as the message. Never raises for
    a run that fails: the returned result says what happened (:func:`result_of`). A directory
    already at ``run_dir`` is a half-written run and is replaced."""
    from threadpoolctl import threadpool_limits

    if run_dir is None:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            return run(config, seed, budget, str(Path(tmp) / "run"))
    with threadpool_limits(1, user_api="blas"):
        return _run(dict(config, seed=seed), budget, Path(run_dir))


def _run(config: dict, budget: Budget, d: Path) -> dict[str, Any]:
    from ..runs import Recorder, record_failure
    from ..trainer import Trainer

    if d.exists():
        shutil.rmtree(d)
    d.parent.mkdir(parents=True, exist_ok=True)
    clock = time.thread_time()
    try:
        t = Trainer(config)
    except Exception as e:  # a config the engine refuses: recorded, the sweep goes on
        record_failure(d, config, _reason(e))
        return result_of(d, budget)
    rec = Recorder(t, d, metrics_every=budget.every, snapshot_every=budget.snapshot_every or None,
                   thumb_every=budget.every)
    try:
        if budget.epochs is not None:
            rec.train(budget.epochs)
        else:  # whole checkpoints until the CPU budget is spent (the last one may run over)
            while time.thread_time() - clock < budget.seconds and t.status.ok:
                if rec.train(budget.every) == 0:
                    break
        rec.close()
    except Exception as e:
        rec.fail(_reason(e))
    return result_of(d, budget)


def _reason(e: BaseException) -> str:
    """``Type: message`` and where it was raised (the innermost frame)."""
    tb = traceback.extract_tb(e.__traceback__)
    at = f" (at {Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(e).__name__}: {e}{at}"[:2000]


def result_of(run_dir: str | Path, budget: Budget | None = None) -> dict[str, Any]:
    """A run directory as a result: name, status (``missing``/``running``/``ok``/``diverged``/
    ``stopped``), reason, epochs, seconds, the final metrics row, and the checkpoints' curve of
    modes captured and high quality. With ``budget``: the worst checkpoint from
    ``budget.worst_from`` on (fewest modes, then lowest share of high-quality samples) and, with
    ``budget.pass_high_quality``, whether every such checkpoint kept all modes at that share."""
    from ..runs import Run, RunError

    d = Path(run_dir)
    out: dict[str, Any] = {"name": d.name, "status": "missing", "reason": "", "epochs": 0, "seconds": 0.0,
                           "final": {}, "curve": []}
    if not (d / "run.json").is_file():
        return out
    try:
        r = Run(d)
    except RunError as e:
        return {**out, "status": "unreadable", "reason": str(e)}
    m = r.manifest
    curve = [(row["epoch"], row.get("modes_captured"), row.get("modes_total"), row.get("high_quality"))
             for row in r.metrics if row.get("high_quality") is not None]
    out.update(status=m["status"], reason=m.get("message", ""), epochs=m["epochs"],
               seconds=m["duration_seconds"], final=m.get("final") or {}, curve=curve)
    if budget is not None:
        out.update(worst_checkpoint(curve, budget))
        if out.get("passed") and m["status"] != "ok":
            out["passed"] = False
    return out


def worst_checkpoint(curve: list[tuple], budget: Budget) -> dict[str, Any]:
    """The checkpoint from ``worst_from`` on (never the untrained epoch 0) with the fewest modes,
    then the lowest high quality (the last checkpoint when none is that late); ``all_modes_at``:
    the first checkpoint with every mode captured (None: never); ``passed``: every checkpoint from
    ``worst_from`` on kept all modes and >= ``pass_high_quality`` high quality."""
    if not curve:
        return {}
    tail = [c for c in curve if c[0] >= budget.worst_from and c[0] > 0] or curve[-1:]
    e, modes, total, hq = min(tail, key=lambda c: (c[1] if c[1] is not None else -1, c[3]))
    out: dict[str, Any] = {"worst_epoch": e, "worst_modes_captured": modes, "worst_high_quality": hq,
                           "all_modes_at": next((c[0] for c in curve if c[1] is not None and c[1] == c[2]), None)}
    if budget.pass_high_quality is not None:
        out["passed"] = all(c[1] == c[2] and c[3] >= budget.pass_high_quality for c in tail)
    return out
