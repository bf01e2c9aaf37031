"""scripts/bench_digits.py times a hand-written GAN step: check it computes the true gradients
(finite differences at a tiny size), so its iterations/s measure a real training step."""

import importlib.util
import os
from pathlib import Path
from unittest import mock

import numpy as np

SCRIPT = Path(__file__).parent.parent / "scripts" / "bench_digits.py"
spec = importlib.util.spec_from_file_location("bench_digits", SCRIPT)
bench = importlib.util.module_from_spec(spec)
with mock.patch.dict(os.environ):  # the script pins BLAS threads for itself, not for the suite
    spec.loader.exec_module(bench)


def leaky(h):
    return np.where(h > 0, h, bench.SLOPE * h)


def softplus(v):
    return np.logaddexp(0, v)


def test_bare_step_gradients_match_finite_differences():
    B, d = 4, 6
    s = bench.BareStep(d, batch=B, z=3, gh=5, dh=4, dtype=np.float64, seed=1, lr=0.0)
    for b in (s.g1b, s.g2b, s.d1b, s.d2b):
        b[:] = np.random.default_rng(2).normal(0, 0.1, b.shape)
    G1, G2, D1, D2 = (w.copy() for w in (s.G1, s.G2, s.D1, s.D2))
    s.iteration()  # lr = 0: the gradients are computed, the weights stay
    z_d, z_g = s.noise[:B], s.noise[B : 2 * B]
    real = s.real[:B]

    def gen(G1, G2, z):
        return np.tanh(leaky(z @ G1 + s.g1b) @ G2 + s.g2b)

    def disc(D1, D2, x):
        return (leaky(x @ D1 + s.d1b) @ D2 + s.d2b)[:, 0]

    def d_loss(D1, D2):
        return softplus(-disc(D1, D2, real)).mean() + softplus(disc(D1, D2, gen(G1, G2, z_d))).mean()

    def g_loss(G1, G2):
        return softplus(-disc(D1, D2, gen(G1, G2, z_g))).mean()

    def numeric(f, args, k):
        g = np.zeros_like(args[k])
        for i in np.ndindex(g.shape):
            up = [a.copy() for a in args]
            dn = [a.copy() for a in args]
            up[k][i] += 1e-6
            dn[k][i] -= 1e-6
            g[i] = (f(*up) - f(*dn)) / 2e-6
        return g

    for got, f, args, k in [(s.gD1, d_loss, (D1, D2), 0), (s.gD2, d_loss, (D1, D2), 1),
                            (s.gG1, g_loss, (G1, G2), 0), (s.gG2, g_loss, (G1, G2), 1)]:
        want = numeric(f, args, k)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)
        assert np.abs(want).max() > 1e-4
    assert bench.flops(s.record_dots()) > 0
