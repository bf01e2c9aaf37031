"""Executors: where a sweep's runs run. Each yields results as runs finish, calling the same
:func:`ganlab.sweep.task.run` on every one:

- in this process, one after another (``jobs == 1``);
- a local process pool (``multiprocessing``; each worker ignores Ctrl-C so the sweep decides:
  the pool is terminated, finished runs stay);
- Dask distributed (``scheduler``: ``tcp://HOST:8786``, or ``local`` for a ``LocalCluster`` of
  ``jobs`` worker processes with one thread each). Dask is imported only here, only when asked
  for: ``pip install "ganlab[cluster]"``.
"""

from __future__ import annotations

import multiprocessing
import signal
import uuid
from collections.abc import Iterator
from typing import Any

from .spec import Budget, Task
from .task import run

Job = tuple[Task, str]  # a task and its run directory
CONNECT_TIMEOUT = "20s"  # to reach a remote Dask scheduler


class ClusterError(RuntimeError):
    """Dask is missing or the scheduler cannot be reached; the message says what to do."""


def execute(jobs: list[Job], budget: Budget, workers: int, scheduler: str | None = None) -> Iterator[dict]:
    """Yield each job's result (with ``task``: its Task) as it finishes, in finishing order."""
    if not jobs:
        return iter(())
    if scheduler:
        return _dask(jobs, budget, workers, scheduler)
    if workers <= 1:
        return _serial(jobs, budget)
    return _pool(jobs, budget, workers)


def _call(args: tuple) -> dict:
    task, run_dir, budget = args
    return {**run(task.config, task.seed, budget, run_dir), "task": task}


def _serial(jobs: list[Job], budget: Budget) -> Iterator[dict]:
    for task, d in jobs:
        yield _call((task, d, budget))


def _quiet_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the sweep's: it ends the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # and that ends a worker at once, whatever it inherited


def _pool(jobs: list[Job], budget: Budget, workers: int) -> Iterator[dict]:
    pool = multiprocessing.get_context().Pool(min(workers, len(jobs)), initializer=_quiet_worker)
    try:
        yield from pool.imap_unordered(_call, [(t, d, budget) for t, d in jobs], chunksize=1)
        pool.close()
    except BaseException:  # Ctrl-C, or the consumer stopped early: the runs in progress are abandoned
        pool.terminate()
        raise
    finally:
        pool.join()


def _dask(jobs: list[Job], budget: Budget, workers: int, scheduler: str) -> Iterator[dict]:
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ClusterError('--scheduler needs Dask distributed: pip install "ganlab[cluster]"') from None
    cluster: Any = None
    if scheduler == "local":
        import logging

        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as e:
            raise ClusterError(f"--scheduler {scheduler}: cannot reach the Dask scheduler: {e}") from None
    futures = []
    try:
        token = uuid.uuid4().hex[:8]  # a scheduler may be shared and long-lived: keys must not collide
        futures = client.map(_call, [(t, d, budget) for t, d in jobs], pure=False,
                             key=[f"ganlab-run-{token}-{t.name}" for t, _ in jobs])
        task_of = {f.key: t for f, (t, _) in zip(futures, jobs, strict=True)}
        for fut in as_completed(futures):
            try:
                yield fut.result()
            except Exception as e:  # the worker died (KilledWorker, ...): the run is redone next time
                yield {"name": task_of[fut.key].name, "status": "lost", "reason": f"{type(e).__name__}: {e}",
                       "epochs": 0, "seconds": 0.0, "final": {}, "curve": [], "task": task_of[fut.key]}
    finally:  # Ctrl-C or done: cancel what has not run, leave the finished run directories
        if futures:
            client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()
