"""Image sets as training data: rows of pixels scaled to [-1, 1] (x = pixel / (max / 2) - 1, the
range of G's tanh), drawn uniformly with replacement, optionally with one-hot labels appended for
the conditional GAN.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import IMAGE_SETS, load_images


@lru_cache(maxsize=4)
def flat_set(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(X uint8 (n, h*w), y int64 (n,), meta) of a built-in set, loaded once per process and
    read-only (every trainer on the set shares it)."""
    X, y, meta = load_images(name)
    X = np.ascontiguousarray(X.reshape(len(X), -1))
    X.flags.writeable = False
    y.flags.writeable = False
    return X, y, meta


class ImageSampler:
    """``sampler(rng, n)`` -> (n, dim) pixels in [-1, 1] of ``dtype``, or (n, dim + classes) with
    the one-hot label appended when ``conditional``; ``labelled(rng, n)`` -> (x float64, y)."""

    def __init__(self, name: str, conditional: bool = False, dtype: str | np.dtype = "float64"):
        if name not in IMAGE_SETS:
            raise KeyError(name)
        self.X, self.y, self.meta = flat_set(name)
        side = self.meta["side"]
        self.image_shape = (side, side)
        self.dim = side * side
        self.classes = len(self.meta["classes"])
        self.conditional = conditional
        self.dtype = np.dtype(dtype)
        # pixel -> value, computed in float64 and rounded once: exact in either precision.
        self._lut64 = np.arange(self.meta["max_value"] + 1) / (self.meta["max_value"] / 2.0) - 1.0
        self._lut = self._lut64.astype(self.dtype)

    @staticmethod
    def info(name: str) -> dict:
        """{"dim", "image_shape", "classes"} of a built-in set, without loading it."""
        meta = IMAGE_SETS[name]
        side = meta["side"]
        return {"dim": side * side, "image_shape": (side, side), "classes": len(meta["classes"])}

    def labelled(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n images (n, dim) as float64 in [-1, 1] and their labels (n,)."""
        i = rng.integers(0, len(self.X), n)
        return self._lut64.take(self.X[i]), self.y[i].copy()

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        i = rng.integers(0, len(self.X), n)
        x = self._lut.take(self.X[i])
        if not self.conditional:
            return x
        out = np.zeros((n, self.dim + self.classes), self.dtype)
        out[:, : self.dim] = x
        out[np.arange(n), self.dim + self.y[i]] = 1.0
        return out


def one_hot(labels: np.ndarray, classes: int, dtype: str | np.dtype = "float64") -> np.ndarray:
    """(n, classes) rows with a 1 in each label's column."""
    out = np.zeros((len(labels), classes), dtype)
    out[np.arange(len(labels)), labels] = 1.0
    return out


__all__ = ["ImageSampler", "flat_set", "one_hot"]
