"""Noise distributions for the generator's input, and sample pools that make batches free.

GAN Lab's two noise variants are ``uniform`` (U[0, 1)) and ``gaussian`` (N(0.5, 0.25^2) cut at
2 sd, so inside [0, 1]); ``normal`` (N(0, 1)) and ``uniform_signed`` (U[-1, 1)) are the
literature's usual choices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np


def sample_noise(rng: np.random.Generator, kind: str, n: int, dim: int) -> np.ndarray:
    """(n, dim) noise of the given kind."""
    if kind == "uniform":
        return rng.random((n, dim))
    if kind == "uniform_signed":
        return rng.uniform(-1.0, 1.0, (n, dim))
    if kind == "normal":
        return rng.standard_normal((n, dim))
    if kind == "gaussian":
        # Truncated normal by rejection: only the ~4.6% beyond 2 sd are redrawn, by index.
        z = rng.standard_normal(n * dim)
        bad = np.flatnonzero(np.abs(z) > 2.0)
        while bad.size:
            v = rng.standard_normal(bad.size)
            ok = np.abs(v) <= 2.0
            z[bad[ok]] = v[ok]
            bad = bad[~ok]
        z *= 0.25
        z += 0.5
        return z.reshape(n, dim)
    raise ValueError(f"unknown noise kind {kind!r}")


def noise_fill(kind: str, dim: int, classes: int = 0) -> Callable[[np.random.Generator, int], np.ndarray]:
    """``fill(rng, n)`` = :func:`sample_noise` (rng, kind, n, dim): a pool's fill that holds only
    the settings (no back-reference to whoever owns the pool). With ``classes`` (the conditional
    GAN), each row gains a one-hot label drawn uniformly after the noise: (n, dim + classes)."""
    if classes:
        return functools.partial(_fill_labelled, kind=kind, dim=dim, classes=classes)
    return functools.partial(_fill, kind=kind, dim=dim)


def _fill(rng: np.random.Generator, n: int, *, kind: str, dim: int) -> np.ndarray:
    return sample_noise(rng, kind, n, dim)


def _fill_labelled(rng: np.random.Generator, n: int, *, kind: str, dim: int, classes: int) -> np.ndarray:
    out = np.zeros((n, dim + classes))
    out[:, :dim] = sample_noise(rng, kind, n, dim)
    out[np.arange(n), dim + rng.integers(0, classes, n)] = 1.0
    return out


def rng_state(rng: np.random.Generator) -> dict:
    """A JSON-safe copy of a generator's state (128-bit integers as strings, for JavaScript)."""
    return _stringify(rng.bit_generator.state)


def set_rng_state(rng: np.random.Generator, state: Any, where: str = "rng") -> None:
    """Load a state saved by :func:`rng_state`, refusing (ValueError naming ``where`` and the key)
    anything but the same bit generator's layout with integers in range: numpy itself would
    raise OverflowError, or accept a state that breaks the stream."""
    rng.bit_generator.state = _intify(state, rng.bit_generator.state, where)


def _stringify(x):
    if isinstance(x, dict):
        return {k: _stringify(v) for k, v in x.items()}
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    return x


# Widths of the integers of numpy's bit generator states (PCG64: 128-bit state and increment;
# the buffered 32-bit half of a draw).
_BITS = {"has_uint32": 1, "uinteger": 32}


def _intify(x: Any, template: Any, where: str) -> Any:
    """``x`` shaped like ``template`` (a current state), its integers given as decimal strings
    (or integers) in 0..2**bits - 1."""
    if isinstance(template, dict):
        if not isinstance(x, dict) or set(x) != set(template):
            raise ValueError(f"{where}: must be an object with the keys {', '.join(sorted(template))}")
        if "bit_generator" in template and x["bit_generator"] != template["bit_generator"]:
            raise ValueError(f"{where}.bit_generator: must be {template['bit_generator']!r}")
        return {k: x[k] if k == "bit_generator" else _intify(x[k], v, f"{where}.{k}")
                for k, v in template.items()}
    if isinstance(template, int):
        key = where.rsplit(".", 1)[-1]
        bits = _BITS.get(key, 128)
        n = None
        if isinstance(x, str) and 0 < len(x) <= 40 and x.isascii() and x.isdigit():
            n = int(x)
        elif type(x) is int:
            n = x
        if n is None or not 0 <= n < 2**bits:
            raise ValueError(f"{where}: must be a whole number in 0..2**{bits} - 1 (as a string)")
        return n
    raise ValueError(f"{where}: unsupported generator state")  # only PCG64 is ever saved


class Pool:
    """Pre-drawn samples handed out as zero-copy batches, redrawn when used up.

    Stored batch-major with a ones column, so ``take(B).T`` is an (d + 1, B) F-contiguous view
    that BLAS reads directly as a layer input with bias row. The state needed to replay a pool is
    the generator state *before* its last fill plus the cursor: a snapshot stays small.
    """

    # GAN Lab pre-draws 12,000 points once; we redraw whenever a pool is used up, and keep pools
    # small so they stay in cache: 4,096 rows (>= 4 of the largest batch) trained GAN Lab's
    # default model 25% faster than 12,000 (8,100 vs 6,450 epochs/s; 3,072 and 8,192 were slower).
    SIZE = 4096

    def __init__(self, rng: np.random.Generator, fill: Callable[[np.random.Generator, int], np.ndarray], dim: int,
                 dtype: str | np.dtype = "float64"):
        self.rng, self.fill, self.dim = rng, fill, dim
        self.buf = np.ones((self.SIZE, dim + 1), dtype)  # samples are drawn in float64, stored as dtype
        self._refill()

    def _refill(self) -> None:
        # The raw state (a fresh dict of ints); made JSON-safe only when a snapshot asks for it.
        self._state_at_fill = self.rng.bit_generator.state
        x = self.fill(self.rng, self.SIZE)
        if self.dim <= 8:
            # Column by column: numpy copies a (4096, 2) block into the strided (4096, 3) rows
            # with an inner loop of 2 values, ~5x slower than two loops of 4096 (the 2D pools'
            # copy was ~4% of the default model's epoch). Images' wide rows copy well as they are.
            for j in range(self.dim):
                self.buf[:, j] = x[:, j]
        else:
            self.buf[:, :-1] = x
        self.cursor = 0

    def take(self, b: int) -> np.ndarray:
        """The next ``b`` rows (b, d + 1), a view valid until the next ``take``."""
        c = self.cursor
        if c + b > self.SIZE:
            self._refill()
            c = 0
        self.cursor = c + b
        return self.buf[c : c + b]

    def state(self) -> dict:
        return {"rng": _stringify(self._state_at_fill), "cursor": self.cursor}

    def load(self, state: dict) -> None:
        set_rng_state(self.rng, state["rng"])
        self._refill()
        self.cursor = int(state["cursor"])
