"""Data distributions over the unit square [0, 1]^2 (y up), as a registry of seedable samplers.

Each :class:`Distribution` has a name, a label and a short description for the UI, a recommended
preset of hyperparameters (config overrides, like GAN Lab's per-dataset presets) and a sampler
``sample(rng, n, params) -> (n, 2) float array``.
"""

from .registry import DISTRIBUTIONS, Distribution, DataError, make_sampler, register

from . import presets  # noqa: F401,E402  (registers GAN Lab's presets)

__all__ = ["DISTRIBUTIONS", "Distribution", "DataError", "make_sampler", "register"]
from . import benchmarks  # noqa: F401,E402
