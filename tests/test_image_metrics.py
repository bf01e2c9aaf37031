"""Image metrics against closed forms: Frechet distance, digit (Inception) score, classes captured;
and on the shipped classifiers: real digits give 10/10 at the FD floor, one repeated image gives
1/10 and a score of 1, a Gaussian-blob generator is far."""

import numpy as np
import pytest

from ganlab.metrics.images import (
    ImageReference,
    class_coverage,
    frechet_distance,
    gaussian_stats,
    inception_score,
    nearest_real,
)

# -- Frechet distance ------------------------------------------------------------------------------


def random_cov(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_fd_of_identical_gaussians_is_zero():
    rng = np.random.default_rng(0)
    mu, s = rng.normal(size=20), random_cov(rng, 20)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    low = random_cov(rng, 20, rank=3)  # singular: eigh clips the round-off negatives, no NaN
    assert frechet_distance(mu, low, mu, low) == pytest.approx(0.0, abs=1e-7)


def test_fd_of_shifted_gaussians_is_the_squared_shift():
    rng = np.random.default_rng(1)
    mu1, mu2, s = rng.normal(size=16), rng.normal(size=16), random_cov(rng, 16)
    assert frechet_distance(mu1, s, mu2, s) == pytest.approx(np.sum((mu1 - mu2) ** 2), rel=1e-9)


def test_fd_closed_forms_with_different_covariances():
    rng = np.random.default_rng(2)
    # Commuting (diagonal in one rotated basis): d^2 = |dmu|^2 + sum (sqrt a - sqrt b)^2.
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    a, b = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    want = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-9)
    # Non-commuting: Tr((S1 S2)^{1/2}) equals the trace of the principal square root, which
    # (S1 S2)^{1/2} = S1^{1/2} (S1^{1/2} S2 S1^{1/2})^{1/2} S1^{-1/2} gives independently.
    s1, s2 = random_cov(rng, 6), random_cov(rng, 6)
    w, v = np.linalg.eigh(s1)
    r, rinv = (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T
    w2, v2 = np.linalg.eigh(r @ s2 @ r)
    root = r @ ((v2 * np.sqrt(w2)) @ v2.T) @ rinv
    np.testing.assert_allclose(root @ root, s1 @ s2, atol=1e-9)
    want = np.trace(s1) + np.trace(s2) - 2 * np.trace(root)
    assert frechet_distance(np.zeros(6), s1, np.zeros(6), s2) == pytest.approx(want, rel=1e-9)
    assert frechet_distance(np.zeros(6), s1, np.zeros(6), s2, sqrt_s1=r) == pytest.approx(want, rel=1e-9)
    # Symmetric in its two Gaussians.
    assert frechet_distance(mu1[:6], s2, mu2[:6], s1) == pytest.approx(frechet_distance(mu2[:6], s1, mu1[:6], s2))


def test_gaussian_stats_match_numpy():
    f = np.random.default_rng(3).normal(size=(50, 4))
    mu, s = gaussian_stats(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(s, np.cov(f.T))
    with pytest.raises(ValueError, match="at least 2"):
        gaussian_stats(f[:1])


# -- digit score and classes captured --------------------------------------------------------------


def test_inception_score_closed_forms():
    p = np.tile([0.2, 0.5, 0.3], (40, 1))
    assert inception_score(p) == pytest.approx(1.0, abs=1e-12)  # every sample the same p
    assert inception_score(np.eye(10)[np.arange(100) % 10]) == pytest.approx(10.0)  # certain, balanced
    assert inception_score(np.eye(10)[[3] * 50 + [7] * 50]) == pytest.approx(2.0)  # two classes
    # Two classes, each sample (1 - e, e) or (e, 1 - e), balanced: IS = exp(log 2 - H(e)).
    e = 0.1
    p = np.array([[1 - e, e], [e, 1 - e]] * 10)
    h = -(e * np.log(e) + (1 - e) * np.log(1 - e))
    assert inception_score(p) == pytest.approx(np.exp(np.log(2) - h), rel=1e-12)


def test_class_coverage_thresholds():
    K, n = 10, 1000
    labels = np.repeat(np.arange(K), 100)
    p = np.full((n, K), 0.05 / 9)
    p[np.arange(n), labels] = 0.95
    out = class_coverage(p)
    assert out["classes_captured"] == 10 and out["confident"] == 1.0 and out["class_counts"] == [100] * 10
    assert out["min_count"] == 10  # a tenth of the fair share n / K
    # Class 3 written only 9 times (below 10): not captured; its samples still counted.
    p2 = p.copy()
    p2[300:391] = p[0]  # 91 of class 3's samples now confidently 0s
    out = class_coverage(p2)
    assert out["class_counts"][3] == 9 and out["classes_captured"] == 9
    # Unsure samples (max p < 0.9) count in no class.
    p3 = np.full((n, K), 0.1)
    out = class_coverage(p3)
    assert out["classes_captured"] == 0 and out["confident"] == 0.0 and sum(out["class_counts"]) == 0
    assert class_coverage(np.zeros((0, K)))["classes_captured"] == 0


def test_nearest_real_finds_copies():
    rng = np.random.default_rng(4)
    reals = rng.uniform(-1, 1, (30, 16))
    idx, dist = nearest_real(reals[[4, 17]] + 0.001, reals)
    assert idx.tolist() == [4, 17]
    np.testing.assert_allclose(dist, 0.004, rtol=1e-6)
    # Against brute force, in float32 as the reference keeps its images.
    fakes = rng.uniform(-1, 1, (5, 16)).astype(np.float32)
    brute = np.sqrt(((fakes[:, None, :].astype(float) - reals[None].astype(np.float32)) ** 2).sum(-1))
    idx, dist = nearest_real(fakes, reals.astype(np.float32))
    assert idx.tolist() == brute.argmin(1).tolist()
    np.testing.assert_allclose(dist, brute.min(1), rtol=1e-6)


# -- on the shipped classifiers --------------------------------------------------------------------


@pytest.fixture(scope="module", params=["digits8", "mnist"])
def ref(request):
    return ImageReference.for_set(request.param)


def test_real_samples_capture_every_class_at_the_floor(ref):
    n = 400
    real = ref.reals[np.random.default_rng(5).choice(ref.pool_idx, n, replace=False)]
    m = ref.measure(real)
    assert m["classes_captured"] == 10 and min(m["class_counts"]) >= m["min_count"]
    assert m["confident"] > 0.85
    assert m["digit_score"] > 8.0
    floor = m["fd_floor"]
    assert 0 < floor["min"] <= floor["mean"] <= floor["max"]
    assert 0.7 * floor["min"] <= m["fd"] <= 1.3 * floor["max"]
    assert all(d["distance"] == 0.0 for d in m["nearest_real"])  # real images are their own neighbours


def test_one_repeated_image_gives_one_class_and_score_one(ref):
    k = int(np.flatnonzero(ref.classifier.probs(ref.reals).max(axis=1) > 0.99)[0])
    m = ref.measure(np.repeat(ref.reals[k : k + 1], 400, axis=0))
    assert m["classes_captured"] == 1 and m["confident"] == 1.0
    assert m["digit_score"] == pytest.approx(1.0, abs=1e-9)
    assert m["fd"] > 5 * m["fd_floor"]["max"]
    assert m["nearest_real"][0]["distance"] == 0.0  # a copy of a real image


def test_gaussian_blob_generator_is_far(ref):
    rng = np.random.default_rng(6)
    mean = ref.reals.mean(axis=0)  # a blob around the average digit: G before it learns shapes
    blobs = np.clip(mean + rng.normal(0, 0.3, (400, ref.reals.shape[1])), -1, 1)
    m = ref.measure(blobs)
    assert m["fd"] > 10 * m["fd_floor"]["max"]
    assert m["classes_captured"] <= 3
    assert m["digit_score"] < 3.0
    assert min(d["distance"] for d in m["nearest_real"]) > 1.0


def test_measure_without_neighbours_or_samples(ref):
    """neighbours=0 asks for no nearest-real pairs (it crashed reshaping an empty batch); an empty
    batch is refused by name instead of a numpy reshape error."""
    fakes = np.random.default_rng(5).uniform(-1, 1, (8, ref.reals.shape[1])).astype(np.float32)
    assert ref.measure(fakes, neighbours=0)["nearest_real"] == []
    idx, dist = nearest_real(fakes[:0], ref.reals)
    assert idx.shape == (0,) and dist.shape == (0,)
    with pytest.raises(ValueError, match="at least one generated sample"):
        ref.measure(fakes[:0])
