"""The metrics of an image run's rows (docs/image-api.md, docs/runs.md): the set's classifier on
G's samples (classes captured, confident share, digit score, FD and its floor) and D's mean output
on real and fake images. Every draw comes from a fixed private stream (``ROW_SEED``): recording
a row touches no random stream of the trainer, so recording never changes training or its
snapshot, and rows at two epochs measure G on the same noise."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..noise import sample_noise

ROW_SEED = 20_251_130
ROW_SAMPLES = 1000  # fakes per row (the FD floor is computed at the same size)
D_SAMPLES = 500  # real and fake images for D's means


@functools.lru_cache(maxsize=2)
def _reference(name: str):
    from ..metrics.images import ImageReference

    try:
        return ImageReference.for_set(name)
    except (OSError, KeyError, ValueError):  # an uploaded set: no shipped classifier
        return None


def image_row_metrics(trainer, n: int = ROW_SAMPLES) -> dict[str, Any]:
    """classes_captured, classes_total, class_counts, confident, digit_score, fd, fd_floor
    (``ImageReference.measure`` of n fakes; absent for a set without a classifier) and
    d_real, d_fake: mean D(x) on D_SAMPLES real and fake images."""
    cfg = trainer.config
    rng = np.random.default_rng(ROW_SEED)
    n = min(n, len(trainer.sampler.X) // 2)
    z = sample_noise(rng, cfg.noise, n, cfg.noise_dim)
    cond = bool(cfg.conditional)
    labels = rng.integers(0, trainer.classes, n) if cond else None
    fake = trainer.sample(noise=z, labels=labels)
    out: dict[str, Any] = {}
    ref = _reference(cfg.data)
    if ref is not None:
        out.update(ref.measure(fake))
        out.pop("nearest_real", None)  # indices into the set: nothing a curve can show
    x, y = trainer.sampler.labelled(rng, D_SAMPLES)
    k = min(D_SAMPLES, n)
    out["d_real"] = float(np.mean(trainer.discriminate(x, labels=y if cond else None)))
    out["d_fake"] = float(np.mean(trainer.discriminate(fake[:k], labels=labels[:k] if cond else None)))
    return out
