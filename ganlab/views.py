"""The visual layers of the live view, as arrays (the server encodes them; the page draws them).

Grids cover an extent (x0, y0, x1, y1), by default the unit square (0, 0, 1, 1), with ROW 0 AT THE
TOP (y = y1), as an image: cell (i, j) of an n x n grid has centre
x_j = x0 + (x1 - x0) (j + 0.5) / n, y_i = y1 - (y1 - y0) (i + 0.5) / n. The page widens the extent
when G's samples leave the unit square, so the heatmap is drawn where the fakes are.
"""

from __future__ import annotations

import functools

import numpy as np

HEATMAP_MIN, HEATMAP_MAX = 30, 200
UNIT = (0.0, 0.0, 1.0, 1.0)

# The part of noise space the manifold view spans, and the centre other dimensions are fixed at.
NOISE_SUPPORT = {
    "uniform": (0.0, 1.0),
    "gaussian": (0.0, 1.0),  # N(0.5, 0.25^2) cut at 2 sd
    "uniform_signed": (-1.0, 1.0),
    "normal": (-2.0, 2.0),  # +-2 sd: 95% of the mass
}


@functools.lru_cache(maxsize=16)
def grid_centres(n: int, extent: tuple[float, float, float, float] = UNIT) -> np.ndarray:
    """(n * n, 2) cell centres, row-major, row 0 at the top: x_j = x0 + (x1 - x0)(j + .5)/n,
    y_i = y1 - (y1 - y0)(i + .5)/n over ``extent`` = (x0, y0, x1, y1).

    Cached and read-only: a live view asks for the same grid every frame."""
    x0, y0, x1, y1 = extent
    c = (np.arange(n) + 0.5) / n
    x, y = np.meshgrid(x0 + (x1 - x0) * c, y1 - (y1 - y0) * c)  # x along a row, y down the rows
    out = np.column_stack([x.ravel(), y.ravel()])
    out.flags.writeable = False
    return out


def check_grid(n: int) -> int:
    n = int(n)
    if not HEATMAP_MIN <= n <= HEATMAP_MAX:
        raise ValueError(f"grid size must be in {HEATMAP_MIN}..{HEATMAP_MAX}, got {n}")
    return n


def heatmap(trainer, n: int = 30, extent: tuple[float, float, float, float] = UNIT) -> np.ndarray:
    """(n, n) D's displayed output in [0, 1] at the grid centres over ``extent`` (row 0 at the top)."""
    n = check_grid(n)
    return trainer.discriminate(grid_centres(n, tuple(extent))).reshape(n, n)


def gradients(trainer, fake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dD/dx, -d l_G/dx), each (k, 2), at the fakes x (k, 2): GAN Lab's arrows (how D's output
    rises) and where the generator's loss actually pushes each sample."""
    return trainer.d_grad(fake), trainer.g_loss_grad(fake)


def gradient_field(trainer, n: int = 30, kind: str = "d") -> np.ndarray:
    """(n, n, 2) over the grid centres (row 0 at the top): ``d`` = dD/dx, ``g`` = -d l_G/dx (the
    push a fake sample at that point would get). n 2..200 (arrows need a coarser grid than colour)."""
    n = int(n)
    if not 2 <= n <= HEATMAP_MAX:
        raise ValueError(f"gradient field size must be in 2..{HEATMAP_MAX}, got {n}")
    x = grid_centres(n)
    if kind == "d":
        g = trainer.d_grad(x)
    elif kind == "g":
        g = trainer.g_loss_grad(x)
    else:
        raise ValueError(f"kind must be 'd' or 'g', not {kind!r}")
    return g.reshape(n, n, 2)


def noise_grid(kind: str, dim: int, m: int) -> np.ndarray:
    """Noise vectors (rows * m, dim) on a grid over the support (``NOISE_SUPPORT``):
    z_0 = u_j along a row, z_1 = u_i down the rows (u_k = lo + (hi - lo) k / (m - 1));
    1D noise gives one row; dimensions past 2 sit at the support's centre."""
    lo, hi = NOISE_SUPPORT[kind]
    u = np.linspace(lo, hi, m)
    rows = 1 if dim == 1 else m
    z = np.full((rows, m, dim), 0.5 * (lo + hi))
    z[:, :, 0] = u[None, :]
    if dim > 1:
        z[:, :, 1] = u[:, None]
    return z.reshape(rows * m, dim)


def quad_areas(p: np.ndarray) -> np.ndarray:
    """(r - 1, c - 1) areas of the quads p[i, j], p[i, j+1], p[i+1, j+1], p[i+1, j] of a warped
    grid p (r, c, 2), by the shoelace formula A = |sum_k (x_k y_{k+1} - x_{k+1} y_k)| / 2."""
    corners = (p[:-1, :-1], p[:-1, 1:], p[1:, 1:], p[1:, :-1])
    s = np.zeros(corners[0].shape[:-1])
    for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
        s = s + a[..., 0] * b[..., 1] - b[..., 0] * a[..., 1]
    return 0.5 * np.abs(s)


def manifold(trainer, m: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """G on an m x m grid of noise space (:func:`noise_grid`) and each cell's area.

    2D+ noise: points (m, m, 2), areas (m - 1, m - 1) quad areas (density ~ 1 / area).
    1D noise: points (1, m, 2), areas (1, m - 1) segment lengths |G(u_{j+1}) - G(u_j)|.
    """
    m = int(m)
    if m < 2:
        raise ValueError(f"manifold grid needs m >= 2, got {m}")
    cfg = trainer.config
    z = noise_grid(cfg.noise, cfg.noise_dim, m)
    p = trainer.sample(noise=z).reshape(-1, m, 2)
    if p.shape[0] == 1:
        d = np.diff(p[0], axis=0)
        return p, np.hypot(d[:, 0], d[:, 1])[None, :]
    return p, quad_areas(p)


def optimal_discriminator(real: np.ndarray, fake: np.ndarray, n: int = 30,
                          extent: tuple[float, float, float, float] = UNIT) -> np.ndarray:
    """(n, n) D*(x) = p_r(x) / (p_r(x) + p_g(x)) with p_r, p_g the normalised n x n histograms
    (c_i / N) of the real and fake samples over ``extent`` (default [0, 1]^2; the optimal
    discriminator for fixed G, Goodfellow et al. 2014); 0.5 where both are empty; row 0 at the
    top. Samples outside the extent lie in no cell but count in N."""
    n = int(n)
    x0, y0, x1, y1 = extent
    if extent != UNIT:  # histogram in the extent's own unit coordinates
        scale = np.array([x1 - x0, y1 - y0])
        real = (np.asarray(real, dtype=float) - [x0, y0]) / scale
        fake = (np.asarray(fake, dtype=float) - [x0, y0]) / scale
    pr, pg = _hist(real, n), _hist(fake, n)
    tot = pr + pg
    d = np.full_like(tot, 0.5)
    np.divide(pr, tot, out=d, where=tot > 0)
    return d[::-1]  # histogram row 0 is y near 0; images start at the top


def _hist(points: np.ndarray, n: int) -> np.ndarray:
    """(n, n) normalised counts, row i = y in [i/n, (i+1)/n), column j = x (y = 1 in the last)."""
    x = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(x) == 0:
        return np.zeros((n, n))
    with np.errstate(invalid="ignore"):
        ok = ((x >= 0) & (x <= 1)).all(axis=1)
    ij = np.minimum((x[ok] * n).astype(np.intp), n - 1)
    return np.bincount(ij[:, 1] * n + ij[:, 0], minlength=n * n).reshape(n, n) / len(x)
