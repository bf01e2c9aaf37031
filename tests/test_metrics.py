"""Metrics against closed forms: divergences, mode coverage, precision/recall, D accuracy, gradient
norms and the live frame's metrics."""

import json
import math
import time

import numpy as np
import pytest

from ganlab import Trainer
from ganlab.cli_data import train_metrics
from ganlab.data import make_sampler, modes_of, sample_points
from ganlab.metrics import (
    count_divergences,
    d_accuracy,
    divergence_floor,
    divergence_floor_of,
    divergence_samples,
    divergences,
    frame_metrics,
    grad_norms,
    histogram,
    mode_coverage,
    precision_recall,
    reference_real,
)
from ganlab.metrics.divergence import smooth
from ganlab.metrics.modes import js_bits
from ganlab.metrics.training import REF_SAMPLES

# -- divergences ----------------------------------------------------------------------------------


def test_identical_samples_give_zero():
    x = sample_points("gaussians", 3000, seed=0)
    assert divergences(x, x) == {"kl": 0.0, "js": 0.0}


def test_disjoint_supports_give_js_one_bit():
    rng = np.random.default_rng(0)
    left = rng.random((3000, 2)) * [0.5, 1]
    right = left + [0.5, 0]
    d = divergences(left, right)
    assert 0.999 < d["js"] <= 1.0
    assert d["kl"] > 10  # KL of disjoint supports is infinite; smoothing keeps it finite


def test_points_outside_the_square_are_counted_not_dropped_or_wrapped():
    rng = np.random.default_rng(1)
    real = rng.random((2000, 2))
    outside = real + [1.0, 0.0]  # GAN Lab would wrap these back into the square's bins
    h = histogram(outside, 10)
    assert h[-1] == 2000 and h[:-1].sum() == 0
    assert divergences(real, outside)["js"] > 0.999
    half = np.concatenate([real[:1000], outside[:1000]])  # half the mass outside
    assert histogram(half, 10)[-1] == 1000
    # JS(U, U/2 + delta/2) in closed form: 1 - (3/4) log2(3) / 2 ... computed on the cells:
    p = np.full(101, 0.01)
    p[-1] = 0
    q = np.full(101, 0.005)
    q[-1] = 0.5
    assert divergences(real, half, bins=10)["js"] == pytest.approx(js_bits(p, q), abs=0.02)
    nan = np.full((10, 2), np.nan)
    assert histogram(nan, 4)[-1] == 10


def test_kl_is_never_negative():
    rng = np.random.default_rng(2)
    for _ in range(20):
        a, b = rng.random((50, 2)), rng.random((60, 2)) * rng.random()
        d = divergences(a, b, bins=rng.integers(2, 30))
        assert d["kl"] >= 0 and 0 <= d["js"] <= 1


def _kl_gauss_bits(m0, S0, m1, S1):
    """KL(N(m0, S0) || N(m1, S1)) = (tr(S1^-1 S0) + d^T S1^-1 d - k + ln det S1 / det S0) / 2."""
    inv = np.linalg.inv(S1)
    d = np.subtract(m1, m0)
    nats = 0.5 * (np.trace(inv @ S0) + d @ inv @ d - 2 + np.log(np.linalg.det(S1) / np.linalg.det(S0)))
    return nats / math.log(2)


def test_two_gaussians_match_the_analytic_kl():
    # 400k samples per set on a 40 x 40 grid (cell 0.025 << sd 0.1): sampling bias ~ 1600 /
    # (2 * 400k ln 2) ~ 0.003 bits, binning bias smaller; tolerance 0.012 bits (~7%).
    m0, S0 = [0.5, 0.5], np.diag([0.1**2, 0.1**2])
    m1, S1 = [0.55, 0.5], np.array([[0.12**2, 0.002], [0.002, 0.1**2]])
    rng = np.random.default_rng(3)
    p = rng.multivariate_normal(m0, S0, 400_000)
    q = rng.multivariate_normal(m1, S1, 400_000)
    exact = _kl_gauss_bits(m0, S0, m1, S1)
    assert 0.15 < exact < 0.3
    assert divergences(p, q, bins=40)["kl"] == pytest.approx(exact, abs=0.012)


# -- mode coverage --------------------------------------------------------------------------------


def test_real_ring8_samples_are_high_quality_at_the_chi2_rate():
    # For exact Gaussian samples, d^2 ~ chi^2_2, so P(d <= 3) = 1 - exp(-9/2) = 0.98889.
    means, sds = modes_of("ring8")
    m = mode_coverage(sample_points("ring8", 40000, seed=1), means, sds)
    assert m["modes_captured"] == m["modes_total"] == 8
    assert m["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert sum(m["mode_counts"]) == round(m["high_quality"] * 40000)
    assert m["mode_js"] < 0.001


def test_mode_coverage_counts_by_per_axis_scaled_distance():
    means = np.array([[0.2, 0.2], [0.8, 0.8], [0.2, 0.8]])
    sds = np.array([[0.01, 0.1], [0.01, 0.01], [0.01, 0.01]])
    pts = np.array([
        [0.2, 0.2 + 0.29],  # 2.9 sd along y for mode 0 (sd 0.1): high quality
        [0.2 + 0.031, 0.2],  # 3.1 sd along x for mode 0 (sd 0.01): not
        [0.8, 0.8 + 0.029],  # 2.9 sd for mode 1
        [0.8 + 0.02, 0.8 + 0.0224],  # sqrt(2^2 + 2.24^2) = 3.003 sd: not
        [np.nan, 0.5],  # non-finite: never high quality
    ])
    m = mode_coverage(pts, means, sds)
    assert m["mode_counts"] == [1, 1, 0]
    assert m["modes_captured"] == 2 and m["modes_total"] == 3
    assert m["high_quality"] == pytest.approx(2 / 5)
    # Two of three modes, equally: JS([1/2, 1/2, 0], uniform) in closed form.
    a = np.array([1 / 2, 1 / 2, 0])
    u = np.full(3, 1 / 3)
    mix = (a + u) / 2
    js = 0.5 * np.sum(a[:2] * np.log2(a[:2] / mix[:2])) + 0.5 * np.sum(u * np.log2(u / mix))
    assert m["mode_js"] == pytest.approx(js)


def test_collapse_to_one_mode_and_no_samples():
    means, sds = modes_of("grid25")
    m = mode_coverage(np.repeat(means[:1], 100, axis=0), means, sds)
    assert m["modes_captured"] == 1 and m["high_quality"] == 1.0 and m["mode_counts"][0] == 100
    assert m["mode_js"] > 0.5
    far = mode_coverage(np.full((10, 2), 5.0), means, sds)
    assert far["modes_captured"] == 0 and far["mode_js"] is None
    assert mode_coverage(np.zeros((0, 2)), means, sds)["modes_total"] == 25


# -- precision / recall ---------------------------------------------------------------------------


def test_precision_recall_on_known_overlaps():
    means, _ = modes_of("grid25")
    real = sample_points("grid25", 500, seed=0)
    assert precision_recall(real, real) == {"precision": 1.0, "recall": 1.0}
    # Fakes on 5 of 25 modes: all precise, about a fifth of the data covered.
    fake = real[np.argmin(((real[:, None] - means) ** 2).sum(-1), 1) < 5]
    pr = precision_recall(real, fake)
    assert pr["precision"] == 1.0 and pr["recall"] == pytest.approx(len(fake) / len(real), abs=0.02)
    # Fakes spread uniformly: little precision (modes are tiny), and they cover few real points.
    unif = np.random.default_rng(0).random((500, 2))
    pr = precision_recall(real, unif)
    assert pr["precision"] < 0.1
    assert precision_recall(real, np.full((5, 2), 3.0)) == {"precision": 0.0, "recall": 0.0}
    assert precision_recall(real, np.zeros((1, 2))) == {"precision": None, "recall": None}


# -- the networks ---------------------------------------------------------------------------------


def _linear_d_trainer():
    """D(x) = sigmoid(20 (x - 0.5)): > 1/2 exactly right of x = 0.5."""
    t = Trainer(discriminator={"layers": 0}, seed=0)
    t.D.W[0][:] = [[20.0, 0.0, -10.0]]
    return t


def test_d_accuracy_is_balanced_accuracy_at_one_half():
    t = _linear_d_trainer()
    right = np.array([[0.7, 0.5], [0.9, 0.1]])
    left = np.array([[0.2, 0.5], [0.4, 0.9], [0.1, 0.1]])
    assert d_accuracy(t, right, left) == 1.0
    assert d_accuracy(t, left, right) == 0.0
    assert d_accuracy(t, np.vstack([right, left[:2]]), left) == pytest.approx((0.5 + 1) / 2)
    assert d_accuracy(t, right, np.zeros((0, 2))) is None


def test_grad_norms_read_the_last_updates():
    t = Trainer(seed=0)
    assert grad_norms(t) == {"grad_norm_d": None, "grad_norm_g": None}
    t.step("discriminator")
    g = grad_norms(t)
    assert g["grad_norm_d"] == pytest.approx(np.linalg.norm(t.D.grad)) and g["grad_norm_d"] > 0
    assert g["grad_norm_g"] is None
    t.step("generator")
    assert grad_norms(t)["grad_norm_g"] == pytest.approx(np.linalg.norm(t.G.grad))


# -- frame metrics --------------------------------------------------------------------------------


def test_frame_metrics_keys_json_safety_and_smoothness():
    t = Trainer(data="ring8", seed=0)
    t.train(20)
    fake = t.sample(noise=t.viz_noise(500))
    m = frame_metrics(t, t.real(500), fake)
    for key in ("kl", "js", "kl_floor", "js_floor", "modes_captured", "modes_total", "high_quality", "mode_counts",
                "precision", "recall", "d_accuracy", "grad_norm_d", "grad_norm_g"):
        assert key in m
    assert m["modes_total"] == 8 and len(m["mode_counts"]) == 8
    json.dumps(m, allow_nan=False)
    # Fixed real set and fixed noise: the same model gives the same numbers frame after frame.
    assert frame_metrics(t, t.real(500), fake)["kl"] == m["kl"]
    s = frame_metrics(Trainer(data="spiral", seed=0))
    assert "modes_captured" not in s and s["grad_norm_d"] is None


def test_frame_metrics_stay_json_safe_when_the_generator_breaks():
    t = Trainer(data="grid25", seed=0)
    t.train(2)
    t.G.params[:] = np.nan
    m = frame_metrics(t)
    json.dumps(m, allow_nan=False)
    assert m["js"] > 0.999  # all fakes non-finite: all in the outside bin
    assert m["modes_captured"] == 0 and m["precision"] is None


def test_frame_metrics_are_cheap():
    # GAN Lab-sized networks: ~1.5 ms on an idle core. The bound only catches a blow-up (say an
    # O(n^2) pass over the 2,500 samples), not noise from a shared machine.
    t = Trainer(data="grid25", seed=0)
    real, fake = t.real(500), t.sample(noise=t.viz_noise(500))
    frame_metrics(t, real, fake)
    best = math.inf
    for _ in range(5):
        t0 = time.perf_counter()
        frame_metrics(t, real, fake)
        best = min(best, time.perf_counter() - t0)
    assert best < 0.03, f"frame_metrics took {best * 1e3:.1f} ms"


def test_frame_metrics_follow_a_data_change():
    t = Trainer(data="spiral", seed=0)
    assert "modes_total" not in frame_metrics(t)
    t.update(data="grid25", data_params={})
    assert frame_metrics(t)["modes_total"] == 25
    ref = reference_real(t)
    assert mode_coverage(ref, *modes_of("grid25"))["high_quality"] > 0.97  # grid25 points now


def test_train_metrics_for_the_cli():
    t = Trainer(data="ring8", seed=0)
    t.train(10)
    m = train_metrics(t)
    json.dumps(m, allow_nan=False)
    assert m["modes_total"] == 8 and {"kl", "js", "precision", "recall", "d_accuracy"} <= set(m)


# -- the estimator's floor and closed forms of its smoothing --------------------------------------


def _entropy_bits(counts):
    p = smooth(counts)
    return float(-(p * np.log2(p)).sum())


def test_kl_of_disjoint_supports_is_log2_inverse_eps_minus_the_entropy():
    # q_i = eps / (1 + M eps) on P's cells, so KL = sum p_i log2(p_i / q_i) = log2((1 + M eps)/eps) - H(P)
    # up to the p_i ~ eps terms on Q's cells.
    real = sample_points("gaussians", 200_000, seed=0)
    far = np.full((1000, 2), [0.99, 0.01])  # G collapsed into a corner cell no real point reaches
    eps, M = 1e-10, 401
    hp = _entropy_bits(histogram(real))
    assert divergences(real, far)["kl"] == pytest.approx(math.log2((1 + M * eps) / eps) - hp, abs=1e-5)
    assert divergences(real, far)["kl"] == pytest.approx(26.2, abs=0.1)  # not log2(1/eps) = 33.2


def test_real_against_independent_real_reads_within_the_floor():
    s = make_sampler("gaussians")
    ref = histogram(s(np.random.default_rng(1), REF_SAMPLES))
    rng = np.random.default_rng(2)
    for n in (2500, 20000):
        f = divergence_floor(s, ref, n, reps=8, seed=3)
        for _ in range(5):
            d = count_divergences(ref, histogram(s(rng, n)))
            assert abs(d["kl"] - f["kl"]) < 4 * f["kl_sd"] + 0.01 * f["kl"]
            assert abs(d["js"] - f["js"]) < 4 * f["js_sd"] + 0.01 * f["js"]


def test_the_floor_shrinks_as_the_samples_grow():
    s = make_sampler("gaussians")
    ref = histogram(s(np.random.default_rng(1), REF_SAMPLES))
    floors = [divergence_floor(s, ref, n, reps=4) for n in (1000, 4000, 16000)]
    for a, b in zip(floors, floors[1:], strict=False):
        assert b["kl"] < 0.7 * a["kl"] and b["js"] < 0.7 * a["js"]


def test_live_kl_of_the_default_model_has_a_low_floor_and_carries_it():
    # Before: 2,500 fakes against 2,500 real points, real vs real read 0.35 +- 0.06 bits. Now the
    # default (2 x 8) G affords 20,000 fakes against a fixed 50,000-point reference.
    t = Trainer(seed=0)
    assert divergence_samples(t) == 20000
    m = frame_metrics(t)
    assert m["kl_floor"] < 0.06 and 0 < m["js_floor"] < 0.01
    assert m["kl_floor"] == divergence_floor_of(t)["kl"]
    big = Trainer(generator={"layers": 3, "units": 64})  # costlier G: fewer fakes, a higher floor
    assert 2500 <= divergence_samples(big) < 20000
    assert frame_metrics(big)["kl_floor"] > m["kl_floor"]
