"""ganlab: GAN Lab rebuilt in Python. A numpy GAN on 2D points, a live web view, a CLI."""

import os

# GAN Lab-sized matrices are far too small for threaded BLAS: extra threads only contend (measured
# 5-30x slower with two threads on a busy 2-core machine). Set before numpy loads; a value the
# user exported wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

__version__ = "0.1.0"

from .config import Config, ConfigError, make_config  # noqa: E402
from .trainer import Status, Trainer  # noqa: E402

__all__ = ["Config", "ConfigError", "Status", "Trainer", "__version__", "make_config"]
