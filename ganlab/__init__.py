"""ganlab: GAN Lab rebuilt in Python. A numpy GAN on 2D points, a live web view, a CLI."""

__version__ = "0.1.0"

from .config import Config, ConfigError, make_config  # noqa: E402
from .trainer import Status, Trainer  # noqa: E402

__all__ = ["Config", "ConfigError", "Status", "Trainer", "__version__", "make_config"]
