"""View layers: grid orientation, heatmap, gradients, manifold (checked on a linear G whose image
is known exactly) and the optimal discriminator (closed form, and a trained D as an oracle)."""

import numpy as np
import pytest

from ganlab import Trainer
from ganlab.views import (
    NOISE_SUPPORT,
    gradient_field,
    gradients,
    grid_centres,
    heatmap,
    manifold,
    noise_grid,
    optimal_discriminator,
    quad_areas,
)


def test_grid_centres_are_row_major_with_row_zero_at_the_top():
    c = grid_centres(2)
    assert np.allclose(c, [[0.25, 0.75], [0.75, 0.75], [0.25, 0.25], [0.75, 0.25]])
    c = grid_centres(30).reshape(30, 30, 2)
    assert np.allclose(c[0, :, 1], 1 - 0.5 / 30) and np.allclose(c[:, 0, 0], 0.5 / 30)
    # Over an extent (x0, y0, x1, y1): x0 + w (j + .5) / n along a row, y1 - h (i + .5) / n down.
    c = grid_centres(2, (-1.0, 0.0, 1.0, 4.0))
    assert np.allclose(c, [[-0.5, 3.0], [0.5, 3.0], [-0.5, 1.0], [0.5, 1.0]])


def _linear_d(w=(0.0, 20.0), b=-10.0, **kw):
    t = Trainer(discriminator={"layers": 0}, seed=0, **kw)
    t.D.W[0][:] = [[w[0], w[1], b]]
    return t


def test_heatmap_is_d_on_the_grid_top_row_first():
    t = _linear_d()  # D = sigmoid(20 y - 10): high at the top
    h = heatmap(t, 40)
    assert h.shape == (40, 40)
    assert np.allclose(h.ravel(), t.discriminate(grid_centres(40)))
    assert h[0, 0] > 0.99 and h[-1, 0] < 0.01 and np.allclose(h[:, 0], h[:, -1])
    with pytest.raises(ValueError, match="30..200"):
        heatmap(t, 10)


def test_gradients_are_dd_dx_and_the_generator_loss_push():
    t = Trainer(seed=1)
    t.train(3)
    fake = t.sample(noise=t.viz_noise(50))
    d, g = gradients(t, fake)
    assert np.array_equal(d, t.d_grad(fake)) and np.array_equal(g, t.g_loss_grad(fake))
    # Non-saturating loss: -dl_G/dx = (1 - D) dlogit/dx, dD/dx = D (1 - D) dlogit/dx: parallel.
    cos = (d * g).sum(1) / np.linalg.norm(d, axis=1) / np.linalg.norm(g, axis=1)
    assert np.allclose(cos, 1.0)
    f = gradient_field(t, 30)
    assert f.shape == (30, 30, 2) and np.allclose(f.reshape(-1, 2), t.d_grad(grid_centres(30)))
    assert np.allclose(gradient_field(t, 30, "g").reshape(-1, 2), t.g_loss_grad(grid_centres(30)))


def _linear_g(noise, dim, A, c):
    """G(z) = A z + c exactly (no hidden layer, linear output)."""
    t = Trainer(generator={"layers": 0, "output": "linear"}, noise=noise, noise_dim=dim, seed=0)
    t.G.W[0][:] = np.column_stack([A, c])
    return t


@pytest.mark.parametrize("noise", list(NOISE_SUPPORT))
def test_manifold_of_a_linear_generator(noise):
    A, c = np.array([[0.2, 0.1], [-0.05, 0.3]]), np.array([0.4, 0.3])
    t = _linear_g(noise, 2, A, c)
    pts, areas = manifold(t, 5)
    lo, hi = NOISE_SUPPORT[noise]
    u = np.linspace(lo, hi, 5)
    assert pts.shape == (5, 5, 2) and areas.shape == (4, 4)
    assert np.allclose(pts[2, 3], A @ [u[3], u[2]] + c)  # row i: z_1 = u_i; column j: z_0 = u_j
    # A linear map scales every area by |det A|.
    assert np.allclose(areas, abs(np.linalg.det(A)) * ((hi - lo) / 4) ** 2)


def test_manifold_1d_is_a_line_with_segment_lengths():
    t = _linear_g("uniform", 1, np.array([[0.3], [0.4]]), np.array([0.1, 0.1]))
    pts, lengths = manifold(t, 11)
    assert pts.shape == (1, 11, 2) and lengths.shape == (1, 10)
    assert np.allclose(lengths, 0.5 / 10)  # |(0.3, 0.4)| = 0.5 over 10 equal steps


def test_manifold_fixes_extra_noise_dims_at_the_centre():
    A = np.array([[0.1, 0.0, 1.0], [0.0, 0.1, -1.0]])
    t = _linear_g("normal", 3, A, np.array([0.5, 0.5]))
    pts, _ = manifold(t, 3)
    assert np.allclose(pts[0, 0], A @ [-2, -2, 0] + 0.5)
    z = noise_grid("uniform_signed", 4, 3)
    assert z.shape == (9, 4) and np.all(z[:, 2:] == 0.0)


def test_quad_areas_by_shoelace():
    # One trapezoid (0,0), (2,0), (1.5,1), (0.5,1): area 1.5, in grid order p[i, j].
    p = np.array([[[0, 0], [2, 0]], [[0.5, 1], [1.5, 1]]], dtype=float)
    assert np.allclose(quad_areas(p), [[1.5]])
    assert np.allclose(quad_areas(p[:, ::-1]), [[1.5]])  # orientation does not matter


def test_optimal_discriminator_closed_forms():
    rng = np.random.default_rng(0)
    real = rng.random((40000, 2))  # uniform on the square
    fake = rng.random((40000, 2)) * [0.5, 1]  # uniform on the left half: twice the density
    d = optimal_discriminator(real, fake, 10)
    assert np.allclose(d[:, :5], 1 / 3, atol=0.05)  # p_r / (p_r + p_g) = 1 / (1 + 2)
    assert np.allclose(d[:, 5:], 1.0)
    top = rng.random((1000, 2)) * [1, 0.5] + [0, 0.5]
    d = optimal_discriminator(top, top * [1, 0.1], 10)  # real at the top, fake at the bottom
    assert np.all(d[:5] == 1.0) and np.all(d[-1] == 0.0)
    assert np.all(optimal_discriminator(top, top, 10)[5:9] == 0.5)  # both empty there
    # Over an extent twice as wide: the same samples fill the extent's upper-right quarter.
    wide = optimal_discriminator(real, fake, 20, (-1.0, -1.0, 1.0, 1.0))
    assert np.allclose(wide[:10, 10:], optimal_discriminator(real, fake, 10), atol=1e-12)
    assert np.all(wide[10:] == 0.5) and np.all(wide[:, :10] == 0.5)


def test_trained_discriminator_approaches_the_optimal_one():
    # Real N((0.6, 0.5), 0.1^2 I), fake N((0.5, 0.5), 0.1^2 I) from a frozen linear G: the optimal
    # D is sigmoid(log p_r - log p_g) = sigmoid(10 x - 5.5), which a logistic D can represent.
    t = Trainer(data="mixture", data_params={"means": [[0.6, 0.5]], "sds": [[0.1, 0.1]]},
                generator={"layers": 0, "output": "linear"}, noise="normal",
                discriminator={"layers": 0}, loss="minimax", k_d=1, k_g=0,
                d_optimizer={"kind": "adam", "lr": 0.05}, batch_size=512, seed=0)
    t.G.W[0][:] = [[0.1, 0.0, 0.5], [0.0, 0.1, 0.5]]
    t.train(1500)
    x = grid_centres(30)
    exact = 1 / (1 + np.exp(-(10 * x[:, 0] - 5.5)))
    mass = np.hypot(x[:, 0] - 0.55, x[:, 1] - 0.5) < 0.25  # where the data is
    assert np.abs(heatmap(t, 30).ravel() - exact)[mass].max() < 0.03
    est = optimal_discriminator(t.real(200_000), t.sample(200_000), 30).ravel()
    assert np.abs(est - exact)[mass].mean() < 0.03
