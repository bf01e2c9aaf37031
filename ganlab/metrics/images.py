"""Image GAN metrics from a classifier trained on the real data: the image version of mode coverage.

Samples are images flattened to (n, h*w) with pixels in [-1, 1] (G's tanh range; real images via
``ganlab.data.images.to_unit``). With p_i = p(y | x_i) from the set's classifier (K = 10 classes):

- *confident*: max_y p_i(y) >= ``confidence`` (0.9: blurs and blends between classes fall below
  it, while the shipped classifiers put 96.7 % of held-out real 8x8 digits and 92.8 % of MNIST
  digits above it, 99 % of those correctly; on Fashion-MNIST, whose shirts, T-shirts, pullovers and
  coats overlap, only 71.4 % of real test images are confident: the real share is the yardstick);
- ``class_counts[k]``: confident samples classified as k (the histogram; a GAN that writes only
  1s shows one bar);
- class k is *captured* iff class_counts[k] >= max(1, ``min_share`` * n / K), with min_share = 0.1:
  G must write k at a tenth of its fair share, so a handful of stray samples the classifier happens
  to be sure of does not count as a mode, yet a class G writes at all is counted (as in the 2D mode
  coverage, where one high-quality sample captures a mode, but robust to classifier errors);
- the digit score, Salimans et al.'s Inception Score on our classifier:
  IS = exp( mean_i KL(p_i || p_bar) ),  p_bar = mean_i p_i;  1 <= IS <= K; 1 when every sample
  gets the same p (one repeated image), K when each is certain and the classes are balanced;
- FD, the Frechet distance between Gaussians fitted to the classifier's last hidden layer
  (FID's construction on our own classifier, not Inception's, so its values are not FIDs):
  d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2}). It is biased upward at small n, so it is
  shown beside its *floor*: the same FD between real samples of the same size n and the reference;
- nearest real neighbour (L2 in pixel space, [-1, 1] scale) of a few fakes: is G copying?

Caveat: a classifier is only sure within the data it has seen; far outside it, an MLP can be
confidently wrong (noise around the mean MNIST digit reads as a confident 8). Such samples then
count as confident, but they fill one bar of the histogram, score near 1 and sit far above the FD
floor, so read the numbers together.
"""

from __future__ import annotations

import numpy as np

from ..data.images import load_images, to_unit
from .classifier import Classifier, load_classifier

CONFIDENCE = 0.9
MIN_SHARE = 0.1


def class_coverage(probs: np.ndarray, confidence: float = CONFIDENCE, min_share: float = MIN_SHARE) -> dict:
    """{"classes_captured", "classes_total", "class_counts" (list), "confident" (fraction),
    "min_count"} for class probabilities (n, K), as defined in the module docstring."""
    p = np.asarray(probs, dtype=float)
    n, K = p.shape
    if n == 0:
        return {"classes_captured": 0, "classes_total": K, "class_counts": [0] * K, "confident": 0.0,
                "min_count": 1}
    sure = p.max(axis=1) >= confidence
    counts = np.bincount(p.argmax(axis=1)[sure], minlength=K)
    min_count = max(1, int(np.ceil(min_share * n / K)))
    return {"classes_captured": int((counts >= min_count).sum()), "classes_total": K,
            "class_counts": counts.tolist(), "confident": float(sure.mean()), "min_count": min_count}


def inception_score(probs: np.ndarray) -> float:
    """exp(mean_i KL(p_i || p_bar)) with p_bar = mean_i p_i (0 log 0 = 0)."""
    p = np.asarray(probs, dtype=float)
    pbar = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(pbar)), 0.0)
    return float(np.exp(max(0.0, terms.sum(axis=1).mean())))


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean (d,), covariance (d, d) with the 1/(n-1) normalisation) of features (n, d)."""
    f = np.asarray(features, dtype=float)
    if len(f) < 2:
        raise ValueError("a covariance needs at least 2 samples")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    """The symmetric PSD square root via eigh, negative round-off eigenvalues set to 0."""
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray,
                     sqrt_s1: np.ndarray | None = None) -> float:
    """|mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2}).

    S1 S2 is not symmetric, but it is similar to A = S1^{1/2} S2 S1^{1/2}, which is symmetric PSD:
    Tr((S1 S2)^{1/2}) = sum_i sqrt(lambda_i(A)), computed by eigh (no complex sqrtm, stable).
    ``sqrt_s1``: S1^{1/2} if already known (a fixed reference), saving one eigendecomposition."""
    r = _psd_sqrt(s1) if sqrt_s1 is None else sqrt_s1
    lam = np.linalg.eigvalsh(r @ s2 @ r)
    tr_sqrt = float(np.sqrt(np.clip(lam, 0, None)).sum())
    d = np.asarray(mu1, float) - np.asarray(mu2, float)
    return max(0.0, float(d @ d + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt))


def nearest_real(fakes: np.ndarray, reals: np.ndarray, real_sq: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(index into reals (n,), L2 distance (n,)) of each fake's nearest real image.

    The search uses |a - b|^2 = |a|^2 - 2 a.b + |b|^2 in the reals' own precision (``real_sq``:
    their squared norms, if already known), without copying the real set; the winner's distance
    is then recomputed directly in float64, so a copied real image reports exactly 0."""
    b = np.asarray(reals).reshape(len(reals), -1)
    if b.dtype.kind != "f":
        b = b.astype(np.float32)
    a = np.asarray(fakes, b.dtype).reshape(len(fakes), b.shape[1])  # -1 cannot be inferred for 0 fakes
    if real_sq is None:
        real_sq = np.einsum("ij,ij->i", b, b)
    k = (real_sq[None, :] - 2.0 * (a @ b.T)).argmin(axis=1)  # |a|^2 is the same along each row
    diff = a.astype(np.float64) - b[k].astype(np.float64)
    return k, np.sqrt(np.einsum("ij,ij->i", diff, diff))


class ImageReference:
    """A data set's classifier, its real images in [-1, 1] and the reference Gaussian for FD.

    The real images are split once (``seed``) into a reference half, whose features give
    (mu_r, S_r), and a pool half from which the floor draws real samples of any size n <= its size.
    """

    def __init__(self, reals: np.ndarray, classifier: Classifier, seed: int = 0):
        self.classifier = classifier
        self.reals = np.asarray(reals, np.float32).reshape(len(reals), -1)
        order = np.random.default_rng(seed).permutation(len(self.reals))
        half = len(order) // 2
        self.ref_idx, self.pool_idx = order[:half], order[half:]
        _, feats = classifier.logits_and_features(self.reals)
        self.features = feats
        self.real_sq = np.einsum("ij,ij->i", self.reals, self.reals)
        self.mu, self.sigma = gaussian_stats(feats[self.ref_idx])
        self.sqrt_sigma = _psd_sqrt(self.sigma)
        self._floors: dict[tuple[int, int], list[float]] = {}

    @classmethod
    def for_set(cls, name: str, seed: int = 0) -> ImageReference:
        """The reference for a built-in set ("digits8", "mnist", "fashion") and its shipped classifier."""
        X, _, meta = load_images(name)
        return cls(to_unit(X, meta["max_value"]), load_classifier(name), seed)

    def fd(self, features: np.ndarray) -> float:
        mu, s = gaussian_stats(features)
        return frechet_distance(self.mu, self.sigma, mu, s, sqrt_s1=self.sqrt_sigma)

    def floor(self, n: int, repeats: int = 5, seed: int = 0) -> list[float]:
        """FD of ``repeats`` draws of n real images (from the pool half) against the reference:
        the value a perfect generator would score at this sample size."""
        if n > len(self.pool_idx):
            raise ValueError(f"the floor needs n <= {len(self.pool_idx)} real images, got {n}")
        key = (n, repeats, seed)
        if key not in self._floors:
            rng = np.random.default_rng(seed)
            self._floors[key] = [self.fd(self.features[rng.choice(self.pool_idx, n, replace=False)])
                                 for _ in range(repeats)]
        return self._floors[key]

    def measure(self, samples: np.ndarray, neighbours: int = 4, confidence: float = CONFIDENCE,
                min_share: float = MIN_SHARE) -> dict:
        """Every metric of the module docstring for generated samples (n, h*w) in [-1, 1]."""
        if len(samples) == 0:
            raise ValueError("measuring needs at least one generated sample, got 0")
        x = np.asarray(samples, np.float32).reshape(len(samples), -1)
        logits, feats = self.classifier.logits_and_features(x)
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        out = class_coverage(p, confidence, min_share)
        out["digit_score"] = inception_score(p)
        n = len(x)
        if n >= 2 and n <= len(self.pool_idx):
            floor = self.floor(n)
            out["fd"] = self.fd(feats)
            out["fd_floor"] = {"mean": float(np.mean(floor)), "min": float(min(floor)), "max": float(max(floor))}
        k = min(neighbours, n)
        idx, dist = nearest_real(x[:k], self.reals, self.real_sq)
        out["nearest_real"] = [{"fake": i, "real": int(j), "distance": float(d)}
                               for i, (j, d) in enumerate(zip(idx, dist, strict=True))]
        return out
