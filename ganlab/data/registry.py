"""The registry of distributions; see :mod:`ganlab.data`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Sampler = Callable[[np.random.Generator, int], np.ndarray]


class DataError(ValueError):
    """A distribution or point set that cannot be used; the message says why."""


@dataclass(frozen=True)
class Distribution:
    name: str
    label: str
    description: str
    sample: Callable[[np.random.Generator, int, dict[str, Any]], np.ndarray]
    preset: dict[str, Any] = field(default_factory=dict)
    # Optional: checks and normalises ``params`` (raises DataError); default accepts only {}.
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # Optional: Gaussian modes (means (k, 2), sds (k, 2)) for mode-coverage metrics.
    modes: Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]] | None = None


DISTRIBUTIONS: dict[str, Distribution] = {}


def register(dist: Distribution) -> Distribution:
    DISTRIBUTIONS[dist.name] = dist
    return dist


def check_params(name: str, params: dict[str, Any] | None) -> dict[str, Any]:
    dist = DISTRIBUTIONS.get(name)
    if dist is None:
        raise DataError(f"unknown data {name!r}; choose one of {', '.join(DISTRIBUTIONS)}")
    params = dict(params or {})
    if dist.check is not None:
        return dist.check(params)
    if params:
        raise DataError(f"data {name!r} takes no parameters, got {sorted(params)}")
    return params


def make_sampler(name: str, params: dict[str, Any] | None = None) -> Sampler:
    """A function (rng, n) -> (n, 2) array of points of distribution ``name``."""
    params = check_params(name, params)
    dist = DISTRIBUTIONS[name]

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        return np.asarray(dist.sample(rng, n, params), dtype=float).reshape(n, 2)

    return sample


def sample_points(name: str, n: int, params: dict[str, Any] | None = None, seed: int = 0) -> np.ndarray:
    """n points (n, 2) of distribution ``name`` from ``np.random.default_rng(seed)``."""
    return make_sampler(name, params)(np.random.default_rng(seed), int(n))


def modes_of(name: str, params: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(means (k, 2), sds (k, 2)) of a mixture distribution, or None if it has no modes."""
    dist = DISTRIBUTIONS.get(name)
    if dist is None or dist.modes is None:
        return None
    return dist.modes(check_params(name, params))
