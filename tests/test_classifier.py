"""The image classifiers: softmax MLP gradients against finite differences, the held-out split, and
the shipped weights' held-out accuracy (the figures scripts/train_classifier.py printed)."""

import os

import numpy as np
import pytest

from ganlab.data.images import fashion_available, load_images, to_unit
from ganlab.metrics.classifier import Classifier, heldout_split, load_classifier, recipe_split, softmax


@pytest.mark.parametrize("sizes", [[6, 5, 4], [5, 7, 6, 3]])
@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_gradient_matches_finite_differences(sizes, wd):
    rng = np.random.default_rng(0)
    net = Classifier(sizes, rng=rng, dtype=np.float64)
    net.params += rng.normal(0, 0.1, net.size)  # nonzero biases
    x = rng.normal(0, 1, (9, sizes[0]))
    y = rng.integers(0, sizes[-1], 9)
    net.loss_grad(x, y, wd)
    g = net.grad.copy()
    num = np.empty_like(g)
    eps = 1e-6
    for i in range(net.size):
        old = net.params[i]
        net.params[i] = old + eps
        up = net.loss_grad(x, y, wd)
        net.params[i] = old - eps
        down = net.loss_grad(x, y, wd)
        net.params[i] = old
        num[i] = (up - down) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)
    assert np.abs(g).max() > 1e-3  # the check is not vacuous


def test_loss_is_cross_entropy_and_softmax_is_stable():
    net = Classifier([3, 4, 2], rng=np.random.default_rng(1), dtype=np.float64)
    x = np.random.default_rng(2).normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    p = net.probs(x)
    assert net.loss_grad(x, y) == pytest.approx(-np.mean(np.log(p[np.arange(5), y])), rel=1e-12)
    big = softmax(np.array([[1000.0, 0.0], [-1000.0, 1000.0]]))
    assert np.isfinite(big).all() and np.allclose(big, [[1, 0], [0, 1]])


def test_heldout_split_is_stratified_and_disjoint():
    y = np.repeat(np.arange(10), 50)
    tr, te = heldout_split(y, 0.1, seed=0)
    assert np.bincount(y[te]).tolist() == [5] * 10
    assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 500
    assert np.array_equal(heldout_split(y, 0.1, seed=0)[1], te)


def test_save_load_round_trip(tmp_path):
    net = Classifier([4, 3, 2], rng=np.random.default_rng(3), meta={"data": "x"})
    net.save(tmp_path / "c.npz")
    back = Classifier.load(tmp_path / "c.npz")
    assert back.sizes == net.sizes and back.meta == {"data": "x"}
    assert np.array_equal(back.params, net.params)


def test_missing_classifier_says_how_to_train_it():
    with pytest.raises(FileNotFoundError, match="train_classifier.py --data cifar"):
        load_classifier("cifar")


# Held-out accuracy of the shipped weights, recomputed here on the split their recipe names.
@pytest.mark.parametrize("name, floor", [("digits8", 0.95), ("mnist", 0.97), ("fashion", 0.85)])
def test_shipped_classifier_accuracy(name, floor):
    if name == "fashion" and not fashion_available() and os.environ.get("GANLAB_REQUIRE_DATASETS") != "1":
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    net = load_classifier(name)  # digits8 and mnist always ship; fashion ships when trained with its data
    X, y, meta = load_images(name)
    x = to_unit(X, meta["max_value"])
    te = recipe_split(net.meta["recipe"], y, meta.get("n_train"))[1]
    acc = net.accuracy(x[te], y[te])
    assert acc == pytest.approx(net.meta["result"]["heldout_acc"], abs=1e-9)
    assert acc >= floor
