"""The d-dimensional Trainer on image data (issue 10): the API contract the page codes against,
exact pixels, conditional labels, dropout replays, caps per kind of data."""

import json

import numpy as np
import pytest

from ganlab import ConfigError, Trainer
from ganlab.data.images import fashion_available, load_images

SMALL = dict(noise_dim=5, batch_size=16, generator={"layers": 1, "units": 16, "activation": "leaky_relu"},
             discriminator={"layers": 1, "units": 16, "activation": "leaky_relu"})
RICH = dict(SMALL, conditional=True, label_smoothing=0.1, k_d=2,
            discriminator={"layers": 2, "units": 16, "activation": "leaky_relu", "dropout": 0.3},
            d_optimizer={"kind": "adam", "lr": 0.002, "decay": 0.01},
            g_optimizer={"kind": "sgd", "lr": 0.05, "decay": 0.01})


def params(t):
    return np.concatenate([t.G.params, t.D.params])


@pytest.mark.parametrize(("data", "dim", "shape", "classes"), [
    ("gaussians", 2, None, None), ("digits8", 64, (8, 8), 10), ("mnist", 784, (28, 28), 10)])
def test_shapes_and_precision_per_kind_of_data(data, dim, shape, classes):
    t = Trainer(data=data, **SMALL)
    assert (t.dim, t.image_shape, t.classes) == (dim, shape, classes)
    assert t.config.precision == ("float64" if dim == 2 else "float32")
    assert t.G.sizes[-1] == dim and t.D.sizes[0] == dim
    assert t.sample(7).shape == (7, dim) and t.real(3).shape == (3, dim)
    assert t.viz_noise(6).shape == (6, 5)
    x = t.sample(noise=t.viz_noise(4))
    assert t.discriminate(x).shape == (4,) and t.d_grad(x).shape == (4, dim)
    assert Trainer(data=data, precision="float64", **SMALL).G.params.dtype == np.float64


@pytest.mark.parametrize(("data", "ink"), [("digits8", 16), ("mnist", 255)])
def test_real_images_are_exact_pixels_scaled_to_minus_one_one(data, ink):
    t = Trainer(data=data, **SMALL)
    x, y = t.real_labelled(500)
    pixels = (x + 1) * (ink / 2)
    np.testing.assert_allclose(pixels, np.round(pixels), atol=1e-9)
    assert x.min() == -1.0 and x.max() == 1.0 and x.dtype == np.float64
    X, Y, _ = load_images(data)
    flat = X.reshape(len(X), -1).astype(int)
    labels_of: dict[bytes, set] = {}
    for r, lab in zip(flat, Y, strict=True):
        labels_of.setdefault(r.tobytes(), set()).add(int(lab))
    for r, lab in zip(np.round(pixels).astype(int), y, strict=True):  # every drawn image is a real one, with its label
        assert int(lab) in labels_of[r.tobytes()]
    assert set(np.unique(y)) == set(range(10))
    with pytest.raises(ValueError, match="has no labels"):
        Trainer().real_labelled(3)


def test_conditional_labels_in_and_out():
    t = Trainer(data="digits8", **RICH)
    assert t.G.sizes[0] == 5 + 10 and t.D.sizes[0] == 64 + 10
    x = t.sample(noise=t.viz_noise(10), labels=np.arange(10))
    assert x.shape == (10, 64)
    y = np.arange(10)
    # Another label on the same noise is another image; the same label is the same one.
    assert not np.allclose(x, t.sample(noise=t.viz_noise(10), labels=(y + 1) % 10))
    np.testing.assert_array_equal(x, t.sample(noise=t.viz_noise(10), labels=y))
    assert t.discriminate(x, labels=y).shape == (10,) and t.d_grad(x, labels=y).shape == (10, 64)
    assert t.sample(5).shape == (5, 64)  # labels drawn uniformly when not given
    for bad in (np.arange(9), np.full(10, 10), np.full(10, -1), np.linspace(0, 1, 10)):
        with pytest.raises(ValueError, match=r"labels: must be 10 whole numbers in 0\.\.9"):
            t.sample(noise=t.viz_noise(10), labels=bad)
    with pytest.raises(ValueError, match="needs the label"):
        t.discriminate(x)
    plain = Trainer(data="digits8", **SMALL)
    with pytest.raises(ValueError, match="only a conditional generator"):
        plain.sample(3, labels=[1, 2, 3])
    with pytest.raises(ValueError, match="only a conditional discriminator"):
        plain.discriminate(plain.real(3), labels=[1, 2, 3])
    with pytest.raises(ValueError, match=r"images must have shape \(n, 64\)"):
        plain.discriminate(np.zeros((3, 2)))


def test_d_grad_is_the_derivative_of_discriminate():
    d = {"layers": 1, "units": 4, "activation": "tanh", "dropout": 0.5}
    t = Trainer(data="digits8", precision="float64", **{**RICH, "discriminator": d})
    x, y = t.real_labelled(3)
    for out in ("logit", "prob"):
        g = t.d_grad(x, out, labels=y)
        h = 1e-6
        for i in range(0, 64, 7):
            e = np.zeros_like(x)
            e[:, i] = h
            num = (t.discriminate(x + e, out, labels=y) - t.discriminate(x - e, out, labels=y)) / (2 * h)
            np.testing.assert_allclose(g[:, i], num, rtol=1e-5, atol=1e-8)


def test_evaluation_and_sampling_do_not_disturb_training():
    a, b = Trainer(data="digits8", **RICH), Trainer(data="digits8", **RICH)
    for _ in range(3):
        a.train(7)
        b.train(7)
        x = b.sample(20)
        b.discriminate(x[:5], labels=np.arange(5))
        b.d_grad(x[:5], labels=np.arange(5))
        b.real_labelled(30)
        b.real(4)
        b.sample(noise=b.viz_noise(8), labels=np.zeros(8, int))
    np.testing.assert_array_equal(params(a), params(b))
    assert a.losses == b.losses


def test_dropout_acts_and_replays_bit_for_bit():
    same = [Trainer(data="digits8", seed=3, **RICH) for _ in range(2)]
    for t in same:
        t.train(15)
    np.testing.assert_array_equal(params(same[0]), params(same[1]))
    no_drop = Trainer(data="digits8", seed=3, **{**RICH, "discriminator": {**RICH["discriminator"], "dropout": 0.0}})
    no_drop.train(15)
    assert not np.array_equal(params(no_drop), params(same[0]))
    # Dropout is live: switched off mid-run, training goes on from the same state without masks
    # (none applied, none drawn), and D's evaluation never depended on them.
    t = same[0]
    x, y = t.real_labelled(5)
    seen = t.discriminate(x, labels=y)
    t.update({"discriminator.dropout": 0.0})
    assert t.epoch == 15 and not t._buf.d_both.dropout and not t._buf.d_fake.dropout
    drawn = t._drop_rng.bit_generator.state
    t.train(3)
    assert t._drop_rng.bit_generator.state == drawn
    np.testing.assert_array_equal(same[1].discriminate(x, labels=y), seen)


@pytest.mark.parametrize("cfg", [RICH, dict(SMALL, g_ema=0.99, loss="lsgan", label_smoothing=0.2)])
def test_snapshot_restore_continue_is_bit_identical_on_images(cfg):
    straight = Trainer(data="digits8", seed=4, **cfg)
    straight.train(23)
    straight.step("discriminator")
    straight.train(9)
    a = Trainer(data="digits8", seed=4, **cfg)
    a.train(23)
    b = Trainer.from_snapshot(json.loads(json.dumps(a.snapshot())))
    assert (b.dim, b.image_shape, b.classes) == (64, (8, 8), 10)
    b.step("discriminator")
    b.train(9)
    np.testing.assert_array_equal(params(b), params(straight))
    assert b.losses == straight.losses
    np.testing.assert_array_equal(b.sample(4), straight.sample(4))


def test_caps_depend_on_the_kind_of_data():
    for field, value in (("generator.units", 129), ("discriminator.units", 256), ("noise_dim", 9)):
        with pytest.raises(ConfigError) as e:
            Trainer({field: value})
        (path, msg), = e.value.errors
        assert path == field
        assert msg.startswith(f"at most {8 if field == 'noise_dim' else 128} for 2D data (up to")
        assert f"got {value}" in msg
    t = Trainer(data="mnist", noise_dim=128, generator={"units": 1024, "layers": 1},
                discriminator={"units": 1024, "layers": 1})
    assert t.G.sizes == [128, 1024, 784]
    with pytest.raises(ConfigError, match=r"generator\.units.*1\.\.1024"):
        Trainer(data="mnist", generator={"units": 1025})
    with pytest.raises(ConfigError, match=r"noise_dim: at most 8 for 2D data"):
        t.update(data="gaussians")  # a 2D distribution with image-sized noise is refused as a whole
    assert t.config.data == "mnist"


@pytest.mark.parametrize("loss", ["wgan", "wgan-gp", "hinge"])
def test_label_smoothing_is_refused_where_the_loss_has_no_target(loss):
    with pytest.raises(ConfigError) as e:
        Trainer(loss=loss, label_smoothing=0.1)
    assert e.value.errors[0][0] == "label_smoothing" and "no real-data target" in e.value.errors[0][1]
    t = Trainer(label_smoothing=0.1)
    with pytest.raises(ConfigError, match="label_smoothing"):
        t.update(loss=loss)
    Trainer(loss=loss, label_smoothing=0.0)


def test_conditional_needs_labelled_image_data():
    with pytest.raises(ConfigError, match=r"conditional: needs labelled image data"):
        Trainer(conditional=True)


def test_switching_between_points_and_images_restarts_with_the_right_precision():
    t = Trainer(seed=2)
    t.train(3)
    notes = t.update(data="digits8")
    assert notes and notes[0].startswith("restarted: data") and t.epoch == 0
    assert (t.dim, t.config.precision) == (64, "float32")
    assert t.update(data="mnist")[0].startswith("restarted: data") and t.dim == 784
    t.train(2)
    notes = t.update({"data": "mnist", "k_d": 2})  # same data: no restart
    assert t.epoch == 2 and not any(n.startswith("restarted") for n in notes)
    t.update(data="gaussians", precision="float64")
    assert (t.dim, t.image_shape, t.classes, t.config.precision) == (2, None, None, "float64")
    t.update(data="digits8", precision="float64")
    assert t.config.precision == "float64"  # an explicit precision wins


def test_missing_fashion_says_how_to_get_it(monkeypatch, tmp_path):
    import ganlab.data.images as images

    monkeypatch.setattr(images, "FASHION_DIR", tmp_path)  # a machine without Debian's package
    assert not images.fashion_available()
    with pytest.raises(ConfigError, match=r"data: Fashion-MNIST is not installed.*apt-get install"):
        Trainer(data="fashion")


@pytest.mark.skipif(not fashion_available(), reason="Fashion-MNIST is not installed")
def test_fashion_trains():
    t = Trainer(data="fashion", **SMALL)
    assert t.train(3) == 3 and t.dim == 784
