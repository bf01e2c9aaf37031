"""``ganlab sweep SPEC.toml --out DIR [--jobs N] [--scheduler ADDRESS]`` (README, "Sweeps")."""

from __future__ import annotations

import argparse
import signal
import sys

EXIT_INVALID = 2
EXIT_RUNS_FAILED = 1  # the sweep finished, some run did not end ok (diverged, stopped, lost)
EXIT_INTERRUPTED = 130


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import SpecError, load_spec, run_sweep
    from .sweep.execute import ClusterError

    if args.jobs is not None and args.jobs < 1:
        print(f"ganlab: --jobs: must be >= 1, got {args.jobs}", file=sys.stderr)
        return EXIT_INVALID
    try:
        spec = load_spec(args.spec)
    except SpecError as e:
        print(f"ganlab: invalid sweep spec: {e}", file=sys.stderr)
        return EXIT_INVALID
    # SIGTERM (a batch system's stop, `kill`) ends the sweep as Ctrl-C does: finished runs kept.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        rows, text = run_sweep(spec, args.out, jobs=args.jobs, scheduler=args.scheduler)
    except ClusterError as e:
        print(f"ganlab: {e}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are kept in {args.out}/runs; run the same command again to "
              "resume (finished runs are skipped)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(text)
    print(f"\n{len(rows)} runs; summary written to {args.out}/summary.csv and {args.out}/summary.png")
    return 0 if all(r["status"] == "ok" for r in rows) else EXIT_RUNS_FAILED


def add_sweep_command(sub) -> None:
    s = sub.add_parser("sweep", help="run a grid of settings x seeds, each a recorded run, on local "
                       "processes or Dask",
                       description="Run every combination of a spec's [grid] (with its [variants]) for each "
                       "of its seeds, each into DIR/runs/NAME (docs/runs.md); write DIR/summary.csv and "
                       "DIR/summary.png and print the table per setting. A re-run skips the finished runs. "
                       "Exit status: 0 every run ok, 1 some run diverged or failed (the others ran; "
                       "reasons in the table and summary.csv), 2 an invalid spec or flag, 130 interrupted (Ctrl-C or "
                       "SIGTERM; finished runs are kept).")
    s.add_argument("spec", help="sweep spec, TOML (README, 'Sweeps'; e.g. examples/mode_collapse.toml)")
    s.add_argument("--out", required=True, metavar="DIR", help="directory of the runs and the summary")
    s.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="runs at a time: local processes with one BLAS thread each, or the workers of "
                   "--scheduler local (default: the CPU count; 1 runs in this process)")
    s.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on Dask distributed: tcp://HOST:8786, or 'local' for a LocalCluster of --jobs "
                   "worker processes (needs pip install \"ganlab[cluster]\"; DIR must be on a file system "
                   "the workers share)")
    s.set_defaults(func=cmd_sweep)
