"""Precision and recall of a generated distribution (Kynkäänniemi et al. 2019), k-NN manifolds.

For a set S, the manifold estimate is the union of balls B(s, r_k(s)) with r_k(s) the distance from
s to its k-th nearest neighbour in S \\ {s}. For real samples R and fakes F:

    precision = (1/|F|) sum_{f in F} [ exists r in R: ||f - r|| <= r_k(r) ]   (fakes on the data)
    recall    = (1/|R|) sum_{r in R} [ exists f in F: ||r - f|| <= r_k(f) ]   (data covered by fakes)

Costs O(|R| |F|) distances: a few hundred points each is cheap in 2D.
"""

from __future__ import annotations

import numpy as np


def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """||a_i - b_j||^2 = |a_i|^2 + |b_j|^2 - 2 a_i . b_j as a (len(a), len(b)) array (>= 0)."""
    d = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0, out=d)


def knn_radii(s: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each point of s to its k-th nearest other point of s."""
    d = sqdist(s, s)
    np.fill_diagonal(d, -1.0)  # the point itself sorts first, whatever rounding did
    k = min(k, len(s) - 1)
    return np.partition(d, k, axis=1)[:, k]


def pr_from_radii(r: np.ndarray, rr: np.ndarray, f: np.ndarray, k: int) -> tuple[float, float]:
    """(precision, recall) given the real set's squared k-NN radii ``rr``; one real-fake distance
    matrix serves both."""
    d = sqdist(f, r)
    rf = knn_radii(f, k)
    precision = float((d <= rr[None, :]).any(axis=1).mean())
    recall = float((d <= rf[:, None]).any(axis=0).mean())
    return precision, recall


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float | None]:
    """{"precision", "recall"} as in the module doc; None when a set has fewer than 2 finite
    points."""
    r = np.asarray(real, dtype=float).reshape(-1, 2)
    f = np.asarray(fake, dtype=float).reshape(-1, 2)
    r, f = r[np.isfinite(r).all(axis=1)], f[np.isfinite(f).all(axis=1)]
    if len(r) < 2 or len(f) < 2:
        return {"precision": None, "recall": None}
    p, rc = pr_from_radii(r, knn_radii(r, k), f, k)
    return {"precision": p, "recall": rc}
