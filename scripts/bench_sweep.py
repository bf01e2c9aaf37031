"""A 16-run sweep one run after another (``--jobs 1``, in this process) against the same 16 runs on
a local pool of ``--jobs`` processes (issue 13's bar: the pool takes <= 0.6 of the serial time
with 2 processes on a 2-core machine). Every run is recorded as `ganlab sweep` records it
(metrics rows, thumbnails, the final snapshot); the pool's runs are checked to be the serial
ones bit for bit.

    python scripts/bench_sweep.py                         # ring8, recommended preset, 1,500 epochs a run
    python scripts/bench_sweep.py --epochs 3000 --repeat 3 --data grid25
    python scripts/bench_sweep.py --scheduler local       # the pool side on a Dask LocalCluster instead
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ganlab.sweep import parse_spec, run_sweep


def spec_for(args) -> dict:
    """2 losses x 2 learning rates x 4 seeds = 16 runs."""
    return {"base": {"data": args.data}, "grid": {"loss": ["nonsaturating", "lsgan"],
                                                  "d_optimizer.lr": [0.0005, 0.001]},
            "run": {"seeds": [0, 1, 2, 3], "epochs": args.epochs, "every": args.every}}


def cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers, once joined)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(spec, out: Path, jobs: int, scheduler: str | None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one sweep."""
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), cpu()
    rows, _ = run_sweep(spec, out, jobs=jobs, scheduler=scheduler, quiet=True)
    seconds, used = time.perf_counter() - t0, cpu() - c0
    bad = [r["run"] for r in rows if r["status"] != "ok"]
    if bad:
        raise SystemExit(f"runs not ok: {bad}")
    return seconds, used


def final_snapshots(out: Path) -> dict[str, bytes]:
    res = {}
    for d in sorted((out / "runs").iterdir()):
        m = json.loads((d / "run.json").read_text())
        res[d.name] = (d / m["snapshots"][-1]["file"]).read_bytes()
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="ring8", help="distribution (its recommended preset) (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=1500, help="epochs per run (default: %(default)s)")
    p.add_argument("--every", type=int, default=500, help="epochs between checkpoints (default: %(default)s)")
    p.add_argument("--jobs", type=int, default=2, help="processes of the parallel side (default: %(default)s)")
    p.add_argument("--scheduler", help="run the parallel side on Dask: 'local' or tcp://HOST:8786")
    p.add_argument("--repeat", type=int, default=1, help="measure each side this many times; medians (default: 1)")
    args = p.parse_args()
    spec = parse_spec(spec_for(args))
    n = len(spec.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        serial, pool = [], []
        for _ in range(args.repeat):
            serial.append(timed(spec, Path(tmp) / "serial", 1, None))
            pool.append(timed(spec, Path(tmp) / "pool", args.jobs, args.scheduler))
        same = final_snapshots(Path(tmp) / "serial") == final_snapshots(Path(tmp) / "pool")
    s, q = statistics.median(w for w, _ in serial), statistics.median(w for w, _ in pool)
    side = f"--scheduler {args.scheduler}, {args.jobs} workers" if args.scheduler else f"--jobs {args.jobs}"
    print(f"{n} runs of {args.data} (recommended preset), {args.epochs} epochs each, checkpoint every {args.every}; "
          f"median of {args.repeat}")
    # "cores used" = CPU s / wall s: about 1 and about --jobs on a quiet machine; less when others
    # take the cores (then the ratio measures the machine, not the sweep). Dask workers' CPU is not
    # counted (they are not this process's children).
    print("| how | wall s | s per run | CPU s | cores used | each measurement (wall s) |\n|---|---|---|---|---|---|")
    for label, ms, med in (("one after another (--jobs 1)", serial, s), (side, pool, q)):
        c = statistics.median(u for _, u in ms)
        print(f"| {label} | {med:.1f} | {med / n:.2f} | {c:.1f} | {c / med:.2f} | "
              f"{', '.join(f'{w:.1f}' for w, _ in ms)} |")
    print(f"ratio parallel / serial: {q / s:.2f} (bar <= 0.6); final snapshots identical: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
