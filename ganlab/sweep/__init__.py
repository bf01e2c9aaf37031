"""Sweeps: every combination of a grid of settings times seeds, each a recorded run
(docs/runs.md), on a local process pool or on Dask distributed, resumable, summarised.

:func:`load_spec` reads a spec (TOML), :func:`run_sweep` runs it, :func:`run` is the one picklable
function every executor calls. Below the server: uses the engine, runs, metrics and renderer."""

from .driver import run_sweep
from .spec import Budget, Spec, SpecError, Task, load_spec, parse_spec
from .task import result_of, run

__all__ = ["Budget", "Spec", "SpecError", "Task", "load_spec", "parse_spec", "result_of", "run", "run_sweep"]
