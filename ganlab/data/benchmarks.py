"""The literature's mode-collapse benchmarks, exact, scaled into the unit square.

Ring of 8 (PacGAN, VEEGAN): means (cos 2 pi k/8, sin 2 pi k/8), k = 0..7 (radius 1, sd 0.01;
VEEGAN's radius 2, sd 0.02 is the same shape). Scaled by 0.35 about (0.5, 0.5): radius 0.35,
sd 0.0035.

Grid of 25: means {-4, -2, 0, 2, 4}^2, sd 0.05. Scaled by 0.1 about (0.5, 0.5): means
{0.1, 0.3, 0.5, 0.7, 0.9}^2, sd 0.005.

Scaling keeps the ratio sd / spacing, so modes captured and % high quality (3 sd) mean exactly
what they mean in the papers. Both expose their modes for :func:`ganlab.metrics.mode_coverage`.
"""

from __future__ import annotations

import copy

import numpy as np

from .gaussian import diag_chol, sample_mixture
from .registry import Distribution, register

RING8_SCALE = 0.35
GRID25_SCALE = 0.1

_k = np.arange(8)  # not linspace(0, 2 pi, 8), which repeats the first centre
_a = 2 * np.pi * _k / 8
RING8_MEANS = 0.5 + RING8_SCALE * np.column_stack([np.cos(_a), np.sin(_a)])
RING8_SDS = np.full((8, 2), RING8_SCALE * 0.01)

_g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
GRID25_MEANS = 0.5 + GRID25_SCALE * np.array([[x, y] for y in _g for x in _g])
GRID25_SDS = np.full((25, 2), GRID25_SCALE * 0.05)


_RING8 = (np.full(8, 1 / 8), RING8_MEANS, diag_chol(RING8_SDS))
_GRID25 = (np.full(25, 1 / 25), GRID25_MEANS, diag_chol(GRID25_SDS))


def ring8(rng, n, params):
    """(1/8) sum_k N(0.5 + 0.35 (cos 2 pi k/8, sin 2 pi k/8), 0.0035^2 I)."""
    return sample_mixture(rng, n, *_RING8)


def grid25(rng, n, params):
    """(1/25) sum_{i,j} N((0.1 + 0.2 i, 0.1 + 0.2 j), 0.005^2 I), i, j = 0..4."""
    return sample_mixture(rng, n, *_GRID25)


# Recommended presets, tuned with the mode-collapse study on this 2-core machine (then
# scripts/mode_collapse.py, now `ganlab sweep examples/mode_collapse.toml`; README), one recipe
# for both benchmarks. A non-saturating GAN with Adam (beta1 0.5) and large
# batches finds the modes but loses one or two as it oscillates and leaves ~45% of its samples
# between modes (grid25: 22-24 of 25, HQ 47-59%; WGAN-GP kept ring8's 8 modes at HQ 30-73%).
# Lazy R1 (gamma 0.1 on every 4th D step, Mescheder et al. 2018) keeps D's gradient flat on the
# data, so no mode is abandoned; an average of G's weights (decay 0.999) settles the samples into
# the modes; float32 makes the whole recipe 1.7x faster.
R1_EMA_PRESET: dict = {
    "loss": "nonsaturating",
    "noise": "normal",
    "noise_dim": 2,
    "init": "he",
    "batch_size": 512,
    "k_d": 1,
    "k_g": 1,
    "r1": 0.1,
    "r1_every": 4,
    "g_ema": 0.999,
    "precision": "float32",
    "generator": {"layers": 3, "units": 64},
    "discriminator": {"layers": 3, "units": 64},
    "d_optimizer": {"kind": "adam", "lr": 0.0005, "beta1": 0.5},
    "g_optimizer": {"kind": "adam", "lr": 0.0005, "beta1": 0.5},
}
RING8_PRESET: dict = copy.deepcopy(R1_EMA_PRESET)
# Grid of 25 with Adam's default beta2 (0.999) reached ~90% high quality and then, late (52k-58k
# epochs), lost modes within 2k epochs on 2 of 2 seeds, the same with g_ema 0.9999 (the average
# only smooths what is shown: the training itself jumped, at the same epochs). beta2 0.99 held on
# 5 seeds (our reading: a second-moment estimate that forgets faster does not over-amplify a
# sudden gradient after a calm spell): every 2k checkpoint from 40k to 60k epochs with 25/25 and
# >= 80% high quality (README, "Grid of 25 over time").
GRID25_PRESET: dict = copy.deepcopy(R1_EMA_PRESET)
GRID25_PRESET["d_optimizer"]["beta2"] = GRID25_PRESET["g_optimizer"]["beta2"] = 0.99

register(Distribution(
    "ring8", "Ring of 8",
    "Eight tight Gaussians on a circle (PacGAN/VEEGAN benchmark): watch for modes that die.",
    ring8, RING8_PRESET,
    modes=lambda p: (RING8_MEANS.copy(), RING8_SDS.copy()),
))
register(Distribution(
    "grid25", "Grid of 25",
    "A 5 x 5 grid of tight Gaussians (VEEGAN/PacGAN benchmark): the classic mode-collapse test.",
    grid25, GRID25_PRESET,
    modes=lambda p: (GRID25_MEANS.copy(), GRID25_SDS.copy()),
))
