"""Distributions: every one samples, is seedable and has a valid preset; the benchmarks are the
literature's mixtures; the mixture, drawn and points data validate their parameters."""

import numpy as np
import pytest

from ganlab import ConfigError, Trainer, make_config
from ganlab.data import DISTRIBUTIONS, DataError, make_sampler, modes_of, sample_points
from ganlab.data.benchmarks import GRID25_MEANS, RING8_MEANS
from ganlab.data.drawn import DOT_LENGTH, MAX_DRAWN_POINTS, segments

PARAMS = {
    "drawn": {"strokes": [[[0.1, 0.1], [0.5, 0.5]], [[0.8, 0.2]]], "spread": 0.01},
    "points": {"points": [[0.1, 0.2], [0.3, 0.4], [0.9, 0.9]]},
}


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_every_distribution_samples_seedably_with_a_valid_preset(name):
    d = DISTRIBUTIONS[name]
    assert d.label and len(d.description) > 20
    make_config(d.preset)  # raises if the preset is not a valid config
    params = PARAMS.get(name)
    a = sample_points(name, 3000, params, seed=1)
    assert a.shape == (3000, 2) and np.isfinite(a).all()
    assert np.array_equal(a, sample_points(name, 3000, params, seed=1))
    assert not np.array_equal(a, sample_points(name, 3000, params, seed=2))
    # Everything lives in the unit square, up to Gaussian tails (GAN Lab's gaussians: ~1% out).
    assert np.mean(((a >= 0) & (a <= 1)).all(axis=1)) > 0.98


@pytest.mark.parametrize("name", ["line", "gaussians", "ring", "disjoint", "ring8", "spiral"])
def test_recommended_preset_trains_through_the_trainer(name):
    t = Trainer(DISTRIBUTIONS[name].preset, data=name, seed=0)
    assert t.train(5) == 5 and t.status.ok


def test_ganlab_presets_keep_their_exact_formulas():
    rng = np.random.default_rng(0)
    x = make_sampler("disjoint")(rng, 30000)
    k = np.argmin(((x[:, None] - np.array([[0.35, 0.75], [0.75, 0.6], [0.45, 0.35]])) ** 2).sum(-1), 1)
    assert np.allclose(np.bincount(k) / len(k), 1 / 3, atol=0.01)
    assert np.allclose(x[k == 1].std(axis=0), 0.025, rtol=0.03)


def test_ring8_is_the_pacgan_ring_scaled():
    r = np.hypot(*(RING8_MEANS - 0.5).T)
    assert np.allclose(r, 0.35)
    angles = np.sort(np.mod(np.arctan2(*(RING8_MEANS - 0.5).T[::-1]), 2 * np.pi))
    assert np.allclose(angles, 2 * np.pi * np.arange(8) / 8)  # 8 distinct centres, 45 degrees apart
    means, sds = modes_of("ring8")
    assert np.allclose(sds, 0.0035) and np.allclose(sds / 0.35, 0.01)  # sd/radius as in PacGAN
    x = sample_points("ring8", 40000, seed=0)
    k = np.argmin(((x[:, None] - means) ** 2).sum(-1), 1)
    assert np.allclose(np.bincount(k, minlength=8) / len(x), 1 / 8, atol=0.01)
    resid = x - means[k]
    assert np.allclose(resid.std(axis=0), 0.0035, rtol=0.03)


def test_grid25_is_the_veegan_grid_scaled():
    assert sorted(set(np.round(GRID25_MEANS.ravel(), 12))) == [0.1, 0.3, 0.5, 0.7, 0.9]
    assert len({tuple(m) for m in np.round(GRID25_MEANS, 9)}) == 25
    means, sds = modes_of("grid25")
    assert np.allclose(sds / 0.2, 0.05 / 2)  # sd / spacing as in the paper (0.05 / 2)
    x = sample_points("grid25", 50000, seed=0)
    k = np.argmin(((x[:, None] - means) ** 2).sum(-1), 1)
    assert np.allclose(np.bincount(k, minlength=25) / len(x), 1 / 25, atol=0.006)
    assert np.allclose((x - means[k]).std(axis=0), 0.005, rtol=0.03)


# -- mixture ------------------------------------------------------------------------------------


def test_mixture_with_full_covariance_has_that_covariance_and_weights():
    cov = [[0.002, 0.0012], [0.0012, 0.001]]
    p = {"weights": [3, 1], "means": [[0.3, 0.3], [0.8, 0.8]],
         "covs": [cov, [[1e-4, 0], [0, 1e-4]]]}
    x = sample_points("mixture", 60000, p, seed=3)
    first = x[:, 0] < 0.6
    assert abs(first.mean() - 0.75) < 0.01  # weights normalised: 3/4
    assert np.allclose(np.cov(x[first].T), cov, atol=1e-4)
    assert np.allclose(x[first].mean(axis=0), [0.3, 0.3], atol=0.002)
    means, sds = modes_of("mixture", p)
    assert np.allclose(sds[0], np.sqrt([0.002, 0.001])) and np.allclose(means[1], [0.8, 0.8])


def test_mixture_per_axis_sds_and_default():
    x = sample_points("mixture", 40000, {"means": [[0.5, 0.5]], "sds": [[0.1, 0.02]]}, seed=0)
    assert np.allclose(x.std(axis=0), [0.1, 0.02], rtol=0.03)
    assert modes_of("mixture", {})[0].shape == (3, 2)  # the default mixture


@pytest.mark.parametrize("params, words", [
    ({"weights": [1]}, "needs means"),
    ({"means": [[0.5, 0.5, 0.5]]}, "shape"),
    ({"means": [[1.5, 0.5]]}, "unit square"),
    ({"means": [[0.5, 0.5]], "weights": [1, 2]}, "shape"),
    ({"means": [[0.5, 0.5]], "weights": [-1]}, ">= 0"),
    ({"means": [[0.5, 0.5]], "sds": [[0.0, 0.1]]}, "sds"),
    # positive but so small that 1 / s^2 overflows in mode coverage (the fuzzer found it)
    ({"means": [[0.5, 0.5]], "sds": [[1e-200, 0.1]]}, r"sds must be in \[0.0001, 1\]"),
    ({"means": [[0.5, 0.5]], "covs": [[[1e-320, 0], [0, 0.01]]]}, r"variances must be in \[1e-08, 1\]"),
    ({"means": [[0.5, 0.5]], "covs": [[[0.01, 0.02], [0.02, 0.01]]]}, "positive definite"),
    ({"means": [[0.5, 0.5]], "covs": [[[0.01, 0.0], [0.001, 0.01]]]}, "symmetric"),
    ({"means": [[0.5, 0.5]], "sds": [[0.1, 0.1]], "covs": [[[0.01, 0], [0, 0.01]]]}, "not both"),
    ({"means": [[0.5, "a"]]}, "numbers"),
    ({"means": [[0.5, float("nan")]]}, "finite"),
    ({"means": [[0.5, 0.5]], "colour": 1}, "unknown"),
])
def test_mixture_rejects_bad_params_clearly(params, words):
    with pytest.raises(DataError, match=words):
        make_sampler("mixture", params)


# -- drawn ----------------------------------------------------------------------------------------


def test_drawn_density_is_uniform_in_arc_length_whatever_the_mouse_speed():
    # A slow start (200 events in the first 10%) and a fast finish (2 events for the rest).
    slow = [[0.1 + 0.08 * t, 0.5] for t in np.linspace(0, 1, 200)]
    stroke = slow + [[0.5, 0.5], [0.9, 0.5]]
    x = sample_points("drawn", 80000, {"strokes": [stroke], "spread": 0.0}, seed=0)
    assert np.allclose(x[:, 1], 0.5)
    h = np.histogram(x[:, 0], bins=8, range=(0.1, 0.9))[0] / len(x)
    assert np.allclose(h, 1 / 8, atol=0.006)


def test_drawn_weights_strokes_by_length_and_dots_by_dot_length():
    strokes = [[[0.1, 0.1], [0.1, 0.5]], [[0.9, 0.9]]]  # length 0.4, and a dot
    a, v, w = segments(strokes)
    assert np.allclose(w, np.array([0.4, DOT_LENGTH]) / (0.4 + DOT_LENGTH))
    x = sample_points("drawn", 40000, {"strokes": strokes, "spread": 0.01}, seed=0)
    dot = np.hypot(*(x - 0.9).T) < 0.06
    assert abs(dot.mean() - DOT_LENGTH / 0.42) < 0.005
    assert np.allclose(x[dot].std(axis=0), 0.01, rtol=0.05)


def test_drawn_flat_points_are_dots():
    x = sample_points("drawn", 1000, {"points": [[0.2, 0.2], [0.6, 0.6]], "spread": 0.0}, seed=0)
    assert set(map(tuple, np.round(x, 9))) == {(0.2, 0.2), (0.6, 0.6)}


@pytest.mark.parametrize("params, words", [
    ({"strokes": [[[0.1, 0.1]] * (MAX_DRAWN_POINTS + 1)]}, "more than 10000"),
    ({"strokes": [[[0.1, 0.1]] * 6000, [[0.2, 0.2]] * 6000]}, "more than 10000"),
    ({"strokes": [[[0.1, 0.1], [1.2, 0.5]]]}, r"stroke 0: point 1 .* outside"),
    ({"strokes": [[[0.1, 0.1]], [[0.1, float("nan")]]]}, "stroke 1: point 0 is not finite"),
    ({"strokes": [[[0.1, 0.1, 0.3]]]}, "pairs"),
    ({"strokes": [[["a", 0.1]]]}, "numbers"),
    ({"strokes": []}, "non-empty"),
    ({"strokes": [[], []]}, "empty"),
    ({"strokes": [[[0.1, 0.1]]], "spread": -1}, "spread"),
    ({"strokes": [[[0.1, 0.1]]], "spread": "wide"}, "spread"),
    ({"strokes": [[[0.1, 0.1]]], "speed": 1}, "unknown"),
])
def test_drawn_rejects_bad_strokes_clearly(params, words):
    with pytest.raises(DataError, match=words):
        make_sampler("drawn", params)


def test_drawn_errors_reach_the_trainer_as_config_errors():
    with pytest.raises(ConfigError, match="outside the unit square"):
        Trainer(data="drawn", data_params={"strokes": [[[0.1, 0.1], [2.0, 0.0]]]})
    t = Trainer(data="drawn", data_params=PARAMS["drawn"])
    assert t.train(3) == 3


# -- points ---------------------------------------------------------------------------------------


def test_points_draws_rows_with_replacement_plus_spread():
    pts = [[0.1, 0.2], [0.3, 0.4], [0.9, 0.9]]
    x = sample_points("points", 30000, {"points": pts}, seed=0)
    rows, counts = np.unique(x, axis=0, return_counts=True)
    assert np.allclose(rows, sorted(pts)) and np.allclose(counts / len(x), 1 / 3, atol=0.01)
    y = sample_points("points", 30000, {"points": pts, "spread": 0.02}, seed=0)
    near = np.argmin(((y[:, None] - np.array(pts)) ** 2).sum(-1), 1)
    assert np.allclose((y - np.array(pts)[near]).std(axis=0), 0.02, rtol=0.05)


@pytest.mark.parametrize("params, words", [
    ({}, "needs points"),
    ({"points": []}, "empty"),
    ({"points": [[0.1, 0.2, 0.3]]}, "pairs"),
    ({"points": [[0.1, float("inf")]]}, "not finite"),
    ({"points": [[0.1, -0.2]]}, "outside"),
    ({"points": [[0.5, 0.5]] * 100_001}, "at most 100000"),
])
def test_points_rejects_bad_sets_clearly(params, words):
    with pytest.raises(DataError, match=words):
        make_sampler("points", params)


def test_uploaded_points_are_converted_once(monkeypatch):
    """The points sampler converts the uploaded list once (it re-read the whole list on every
    call: ~20 ms per batch and per frame for 100,000 points)."""
    from ganlab.data import make_sampler

    sample = make_sampler("points", {"points": [[0.25, 0.25]] * 1000})
    converted, asarray = [], np.asarray
    monkeypatch.setattr(np, "asarray", lambda a, *args, **kw: (
        converted.append(type(a)), asarray(a, *args, **kw))[1])
    for _ in range(3):
        assert np.allclose(sample(np.random.default_rng(0), 50), 0.25)
    assert list not in converted, converted


def test_drawn_segments_are_computed_once(monkeypatch):
    """The drawn sampler's segments come from the check, not from every call (10,000 drawn
    points cost ~3 ms per batch and per frame)."""
    from ganlab.data import drawn, make_sampler

    sample = make_sampler("drawn", {"strokes": [[[0.2, 0.2], [0.8, 0.8]]], "spread": 0.0})
    calls = []
    monkeypatch.setattr(drawn, "segments", lambda s: calls.append(s))
    for _ in range(3):
        x = sample(np.random.default_rng(0), 50)
        assert np.allclose(x[:, 0], x[:, 1]) and (x >= 0.2).all() and (x <= 0.8).all()
    assert calls == []
