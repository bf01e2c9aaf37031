# ruff: noqa: I001
"""Data distributions over the unit square [0, 1]^2 (y up), as a registry of seedable samplers.

Each :class:`Distribution` has a name, a label and a short description for the UI, a recommended
preset of hyperparameters (config overrides, like GAN Lab's per-dataset presets) and a sampler
``sample(rng, n, params) -> (n, 2) float array``. Mixtures also expose their modes (means, sds).

- :mod:`.presets`: GAN Lab's four (line, gaussians, ring, disjoint), exact.
- :mod:`.benchmarks`: ring of 8 and grid of 25, the mode-collapse benchmarks.
- :mod:`.shapes`: spiral, two moons, checkerboard.
- :mod:`.mixture`: an editable Gaussian mixture.
- :mod:`.drawn`: strokes drawn by the user, and uploaded point sets.
- :mod:`.pointsets`: CSV / JSON import and export.
- :mod:`.trained`: shipped trained states (snapshots) of the slow-to-train presets.
"""

# Registration order is the order the UI lists them in.
from .registry import (
    DISTRIBUTIONS,
    DataError,
    Distribution,
    make_sampler,
    modes_of,
    register,
    sample_points,
)

# Registration order is the order the UI lists them in (so these imports stay unsorted).
from . import presets  # noqa: E402,F401
from . import benchmarks  # noqa: E402,F401
from . import shapes  # noqa: E402,F401
from . import mixture  # noqa: E402,F401
from . import drawn  # noqa: E402,F401
from .trained import trained_names, trained_snapshot  # noqa: E402

__all__ = [
    "DISTRIBUTIONS", "DataError", "Distribution", "make_sampler", "modes_of", "register",
    "sample_points", "trained_names", "trained_snapshot",
]
