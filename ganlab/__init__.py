"""ganlab: GAN Lab rebuilt in Python. A numpy GAN on 2D points, a live web view, a CLI."""

import os
import sys

# GAN Lab-sized matrices are far too small for threaded BLAS: extra threads only contend (measured
# 5-30x slower with two threads on a busy 2-core machine). One BLAS thread, whatever the import
# order: the environment variables work only if numpy is not loaded yet, so when it already is,
# threadpoolctl sets the loaded BLAS once, here (about 1 ms; per train() call it would cost 0.2 ms
# every chunk). A thread count in the environment (the user's) is kept, and applied even if it was
# set after numpy loaded (too late for the BLAS to read it).
_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS")
_user = next((os.environ[v] for v in _BLAS_VARS if v in os.environ), None)
if _user is None:
    for _var in _BLAS_VARS:
        os.environ[_var] = "1"
if "numpy" in sys.modules and (_user is None or _user.strip().isdigit()):
    from threadpoolctl import threadpool_limits

    threadpool_limits(int(_user or 1), user_api="blas")

__version__ = "0.1.0"

from .config import Config, ConfigError, make_config  # noqa: E402
from .trainer import Status, Trainer  # noqa: E402


def show(experiment=None, **options):
    """GAN Lab inline in a notebook, opened with ``experiment`` (a Trainer, a Config or dict, a data
    set's name, or None); see :func:`ganlab.notebook.show`. The server starts on first use, in a
    child process: importing ganlab starts nothing."""
    from .notebook import show as _show

    return _show(experiment, **options)


__all__ = ["Config", "ConfigError", "Status", "Trainer", "__version__", "make_config", "show"]
