"""numpy's C functions called without the ``__array_function__`` dispatch layer.

``np.dot``, ``np.copyto`` and ``np.putmask`` first run a Python-level dispatcher that looks for
overrides on their arguments: ~0.3 us a call, against ~1-2 us for the call itself on GAN Lab-sized
arrays, and an epoch of the default model makes ~55 of these calls. The engine passes only plain
ndarrays, so it calls the C function behind the dispatcher (``_implementation``, numpy >= 1.25):
the same code, the same bits. A numpy without it gets the public function.

``all_finite`` is ``np.isfinite(a).all()`` without ``all``'s Python wrapper.
"""

from __future__ import annotations

import numpy as np


def _raw(f):
    return getattr(f, "_implementation", f)


dot = _raw(np.dot)
copyto = _raw(np.copyto)
putmask = _raw(np.putmask)


def all_finite(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is finite (for an empty ``a``: True)."""
    return bool(_all(np.isfinite(a), axis=None))


_all = np.logical_and.reduce

__all__ = ["all_finite", "copyto", "dot", "putmask"]
