"""Runs: every experiment kept (docs/runs.md). :class:`Recorder` writes a run while a Trainer
trains; :class:`Run` reads one back (directory or single file), rewinds it
(:meth:`Run.trainer_at`) and exports it; :func:`train_with` trains with hooks such as a recorder
or an animation. Below the server: uses the engine, data, metrics, views and the renderer."""

from .drive import train_with
from .format import FORMAT, VERSION, RunError
from .recorder import Recorder, metrics_row, record_failure
from .run import Run, open_run

__all__ = ["FORMAT", "VERSION", "Recorder", "Run", "RunError", "metrics_row", "open_run", "record_failure",
           "train_with"]
