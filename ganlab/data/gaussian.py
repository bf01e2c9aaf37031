"""Sampling Gaussian mixtures: sum_k w_k N(mu_k, L_k L_k^T), shared by the benchmarks and the
editable mixture."""

from __future__ import annotations

import numpy as np


def sample_mixture(rng: np.random.Generator, n: int, weights: np.ndarray, means: np.ndarray,
                   chol: np.ndarray) -> np.ndarray:
    """n points from sum_k w_k N(mu_k, L_k L_k^T); ``chol`` is (k, 2, 2) lower triangular."""
    k = rng.choice(len(weights), size=n, p=weights)
    e = rng.standard_normal((n, 2))
    return means[k] + np.einsum("nij,nj->ni", chol[k], e)


def diag_chol(sds: np.ndarray) -> np.ndarray:
    """(k, 2, 2) Cholesky factors diag(s_x, s_y) of per-axis sds (k, 2)."""
    chol = np.zeros((len(sds), 2, 2))
    chol[:, 0, 0], chol[:, 1, 1] = sds[:, 0], sds[:, 1]
    return chol
