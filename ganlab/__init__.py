"""ganlab: GAN Lab rebuilt in Python. A numpy GAN on 2D points, a live web view, a CLI."""

import os
import sys

# GAN Lab-sized matrices are far too small for threaded BLAS: extra threads only contend (measured
# 5-30x slower with two threads on a busy 2-core machine). One BLAS thread, whatever the import
# order: the environment variables work only if numpy is not loaded yet, so when it already is,
# threadpoolctl limits the loaded BLAS once, here (about 1 ms; per train() call it would cost
# 0.2 ms every chunk). A thread count the user exported wins: then nothing is changed.
_BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
USER_BLAS_THREADS = any(v in os.environ for v in _BLAS_VARS)
if not USER_BLAS_THREADS:
    for _var in _BLAS_VARS:
        os.environ[_var] = "1"
    if "numpy" in sys.modules:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1, user_api="blas")

__version__ = "0.1.0"

from .config import Config, ConfigError, make_config  # noqa: E402
from .trainer import Status, Trainer  # noqa: E402

__all__ = ["Config", "ConfigError", "Status", "Trainer", "__version__", "make_config"]
