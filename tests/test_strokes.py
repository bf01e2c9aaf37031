"""Closeness to drawn strokes and stroke coverage (ganlab.metrics.strokes) against closed forms."""

import math

import numpy as np
import pytest

from ganlab.data import sample_points
from ganlab.metrics.strokes import distance_to_strokes, near_share, stroke_coverage

LINE = [[0.1, 0.5], [0.5, 0.5], [0.9, 0.5]]  # a straight stroke of length 0.8, as two segments


def test_distance_to_segments_ends_and_dots():
    pts = [[0.3, 0.6], [0.95, 0.5], [0.9, 0.44], [0.3, 0.4], [np.nan, 0.0]]
    d = distance_to_strokes(pts, [LINE, [[0.3, 0.35]]])
    # above the line; past its end (to the end point); below its end; nearest to the dot
    assert d[:4] == pytest.approx([0.1, 0.05, 0.06, 0.05])
    assert d[4] == math.inf


def test_near_share_counts_points_within_the_radius():
    x = np.linspace(0.1, 0.9, 100)
    pts = np.column_stack([x, np.where(np.arange(100) < 30, 0.52, 0.6)])  # 30 at 0.02, 70 at 0.1
    assert near_share(pts, [LINE], 0.03) == pytest.approx(0.3)
    assert near_share(pts, [LINE], 0.2) == 1.0


def test_coverage_is_the_share_of_length_with_a_point_nearby():
    x = np.arange(0.1, 0.5001, 0.01)  # points along the first half of the stroke
    pts = np.column_stack([x, np.full_like(x, 0.5)])
    # covered: x in [0.1, 0.5 + 0.03] of [0.1, 0.9] -> 0.43 / 0.8, to the resolution of step
    (cov,) = stroke_coverage(pts, [LINE], 0.03, step=0.001)
    assert cov == pytest.approx(0.43 / 0.8, abs=0.002)
    assert stroke_coverage(pts, [LINE, [[0.1, 0.52]], [[0.8, 0.8]]], 0.03)[1:] == [1.0, 0.0]
    assert stroke_coverage(np.empty((0, 2)), [LINE]) == [0.0]


def test_real_drawn_samples_read_the_gaussian_band():
    # Drawn data with spread s on a closed curve: the distance to the stroke is |N(0, s^2)| across
    # it, so the share within r is erf(r / (s sqrt 2)): 86.6% for r = 0.03, s = 0.02.
    a = np.linspace(0, 2 * np.pi, 400)
    circle = np.column_stack([0.5 + 0.3 * np.cos(a), 0.5 + 0.3 * np.sin(a)]).tolist()
    pts = sample_points("drawn", 20_000, {"strokes": [circle], "spread": 0.02}, seed=0)
    assert near_share(pts, [circle], 0.03) == pytest.approx(math.erf(1.5 / math.sqrt(2)), abs=0.01)
    assert stroke_coverage(pts[:3000], [circle], 0.03) == [1.0]


ARC = np.column_stack([0.5 + 0.3 * np.cos(a := np.linspace(np.pi * 1.2, np.pi * 2.0, 60)),
                       0.6 + 0.3 * np.sin(a)]).round(4).tolist()  # a drawn 144-degree arc


def learned_arc(config: dict, seed: int, epochs: int = 2000) -> tuple[float, float]:
    """(fakes' share within 0.03 of the arc / the real samples' share, arc length covered) of
    the shown G after ``epochs`` epochs on the drawn arc (spread 0.02)."""
    from ganlab import Trainer

    t = Trainer(config, data="drawn", data_params={"strokes": [ARC], "spread": 0.02}, seed=seed)
    t.train(epochs)
    fake, real = t.sample(4000), t.real(4000)
    return near_share(fake, [ARC]) / near_share(real, [ARC]), stroke_coverage(fake, [ARC])[0]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_drawing_preset_learns_a_drawn_arc_in_2000_epochs(seed):
    """A drawing must be learned (issue 9 #1): with the drawing's recommended settings the fakes
    sit on an arc and cover it after 2,000 epochs (~2 s); GAN Lab's default 2 x 8 SGD settings,
    which the session used to keep, leave it at 0.11-0.72 of the real share (seeds 0-2)."""
    from ganlab.data import DISTRIBUTIONS

    ratio, covered = learned_arc(DISTRIBUTIONS["drawn"].preset, seed)
    assert ratio >= 0.7 and covered >= 0.8, (ratio, covered)
    assert DISTRIBUTIONS["points"].preset == DISTRIBUTIONS["drawn"].preset
