"""A short image GAN run learns: on the 8x8 digits the recommended preset's classes captured rise
and its FD falls toward the floor, while the teaching preset collapses onto a class or two."""

import pytest

from ganlab import Trainer
from ganlab.data.image_presets import IMAGE_PRESETS, image_preset
from ganlab.metrics.images import ImageReference


@pytest.fixture(scope="module")
def ref():
    return ImageReference.for_set("digits8")


def test_classes_captured_rise_and_fd_falls(ref):
    t = Trainer(image_preset("digits8"), data="digits8", seed=1)
    before = ref.measure(t.sample(500))
    t.train(1000)
    after = ref.measure(t.sample(500))
    assert before["classes_captured"] <= 6 and after["classes_captured"] >= 9
    assert after["confident"] > before["confident"] + 0.2
    assert after["fd"] < before["fd"] / 5
    assert after["fd"] < 10 * after["fd_floor"]["mean"]


def test_the_collapse_preset_writes_few_classes(ref):
    t = Trainer(image_preset("digits8", "collapse"), data="digits8", seed=0)
    for epochs in (1000, 2000):
        t.train(epochs - t.epoch)
        m = ref.measure(t.sample(500))
        assert m["classes_captured"] <= 2, m["class_counts"]


def test_every_image_set_has_both_presets():
    for name, presets in IMAGE_PRESETS.items():
        assert set(presets) == {"recommended", "collapse"}, name
        for p in presets:
            assert image_preset(name, p) == presets[p] and image_preset(name, p) is not presets[p]
    with pytest.raises(KeyError, match="choose one of recommended, collapse"):
        image_preset("mnist", "best")
