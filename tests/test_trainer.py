"""Training loop behaviour: step modes, determinism, snapshots, divergence, config errors."""

import json

import numpy as np
import pytest

from ganlab import ConfigError, Trainer
from ganlab.data import DISTRIBUTIONS


def params(t):
    return np.concatenate([t.G.params, t.D.params])


def test_step_modes_count_updates():
    t = Trainer(seed=0, k_d=3, k_g=2)
    assert t.step("both")
    assert (t.epoch, t.d_steps, t.g_steps) == (1, 3, 2)
    g0, d0 = t.G.params.copy(), t.D.params.copy()
    assert t.step("generator")
    assert (t.epoch, t.d_steps, t.g_steps) == (1, 3, 3)
    np.testing.assert_array_equal(t.D.params, d0)
    assert not np.array_equal(t.G.params, g0)
    g1 = t.G.params.copy()
    assert t.step("discriminator")
    assert (t.epoch, t.d_steps, t.g_steps) == (1, 4, 3)
    np.testing.assert_array_equal(t.G.params, g1)
    with pytest.raises(ValueError, match="mode"):
        t.step("sideways")


@pytest.mark.parametrize("k_d", [2, 3])
def test_epochs_equal_single_steps(k_d):
    """train() draws the fakes of an epoch's k_d D steps in one G pass; single steps draw them one
    at a time. Pools hand out the same rows either way (no refill within 4 epochs), so both paths
    must give the same networks."""
    a, b = Trainer(seed=5, k_d=k_d), Trainer(seed=5, k_d=k_d)
    assert a.train(4) == 4
    for _ in range(4):
        for _ in range(k_d):
            assert b.step("discriminator")
        assert b.step("generator")
    np.testing.assert_allclose(params(a), params(b), rtol=1e-12, atol=1e-14)
    assert (a.d_steps, a.g_steps) == (b.d_steps, b.g_steps)


def test_same_seed_is_bit_identical_and_other_seed_is_not():
    a, b, c = Trainer(seed=11), Trainer(seed=11), Trainer(seed=12)
    for t in (a, b, c):
        t.train(200)
    np.testing.assert_array_equal(params(a), params(b))
    assert a.losses == b.losses
    assert not np.array_equal(params(a), params(c))


@pytest.mark.parametrize(
    "cfg",
    [
        {},
        {"loss": "wgan-gp", "d_optimizer": {"kind": "adam", "lr": 0.001}, "g_optimizer": {"kind": "adam", "lr": 0.001}},
        {"loss": "hinge", "noise": "normal", "noise_dim": 5, "batch_size": 37,
         "d_optimizer": {"kind": "momentum", "lr": 0.05, "nesterov": True},
         "g_optimizer": {"kind": "rmsprop", "lr": 0.001}},
        {"precision": "float32", "loss": "wgan-gp", "d_optimizer": {"kind": "adam", "lr": 0.001}},
        {"r1": 1.0, "g_ema": 0.99, "g_optimizer": {"kind": "adam", "lr": 0.001}},
    ],
)
def test_snapshot_restore_continue_is_bit_identical(cfg):
    straight = Trainer(seed=4, **cfg)
    straight.train(130)
    straight.step("generator")
    straight.train(70)

    a = Trainer(seed=4, **cfg)
    a.train(130)
    snap = json.loads(json.dumps(a.snapshot()))  # through real JSON, as the page holds it
    b = Trainer.from_snapshot(snap)
    assert b.epoch == 130 and b.losses == a.losses
    b.step("generator")
    b.train(70)
    np.testing.assert_array_equal(params(b), params(straight))
    assert b.losses == straight.losses
    # sampling streams are restored too
    np.testing.assert_array_equal(b.noise(5), straight.noise(5))


def test_snapshot_rejects_malformed_input_and_keeps_state():
    t = Trainer(seed=1)
    t.train(5)
    before = params(t).copy()
    snap = t.snapshot()
    for bad, msg in [
        ({}, "not a ganlab snapshot"),
        ({**snap, "version": 99}, "version"),
        ({**snap, "generator": [1.0, 2.0]}, r"snapshot\.generator: must be a list of"),
        ({**snap, "discriminator": [float("nan")] * t.D.size}, r"snapshot\.discriminator\.0: .*finite"),
        ({k: v for k, v in snap.items() if k != "noise_pool"}, r"snapshot\.noise_pool: missing"),
    ]:
        with pytest.raises(ValueError, match=msg):
            t.restore(bad)
        np.testing.assert_array_equal(params(t), before)


def test_blow_up_is_detected_and_last_finite_state_kept():
    t = Trainer(seed=0, loss="lsgan", generator={"output": "linear"},
                d_optimizer={"kind": "sgd", "lr": 10.0}, g_optimizer={"kind": "sgd", "lr": 10.0})
    done = t.train(10_000)
    assert done < 10_000
    assert t.status.state == "diverged" and "non-finite" in t.status.message
    assert np.isfinite(params(t)).all()
    frozen = params(t).copy()
    assert t.train(5) == 0 and not t.step("both")
    np.testing.assert_array_equal(params(t), frozen)
    notes = t.update({"d_optimizer.lr": 0.001, "g_optimizer.lr": 0.001})
    assert t.status.ok and any("resumed" in n for n in notes)
    assert t.train(5) == 5


def test_nonfinite_outputs_are_flagged():
    t = Trainer(seed=0, generator={"output": "linear"})
    t.G.params[:] = 1e308
    out = t.sample(4)
    assert not np.isfinite(out).all()
    assert t.status.state == "diverged" and "generator output" in t.status.message


def test_config_errors_name_field_and_range():
    with pytest.raises(ConfigError) as e:
        Trainer(generator={"layers": 9})
    assert e.value.errors[0][0] == "generator.layers"
    assert "0..6" in str(e.value)
    with pytest.raises(ConfigError, match=r"d_optimizer\.lr.*0\.0\.\.10\.0"):
        Trainer(d_optimizer={"lr": -1})
    with pytest.raises(ConfigError, match="batch_size"):
        Trainer(batch_size=0)
    with pytest.raises(ConfigError, match="unknown loss"):
        Trainer(loss="l2")
    with pytest.raises(ConfigError, match="unknown field"):
        Trainer(learning_rate=0.1)
    with pytest.raises(ConfigError, match="unknown data"):
        Trainer(data="mandelbrot")
    t = Trainer()
    with pytest.raises(ConfigError, match="k_d"):
        t.update(k_d=11)
    assert t.config.k_d == 2  # a refused change changes nothing


def test_live_changes_versus_restarts():
    t = Trainer(seed=0)
    t.train(20)
    g = t.G.params.copy()
    assert t.update(k_d=1, batch_size=64, loss="hinge") == []
    assert t.epoch == 20 and t.config.batch_size == 64
    np.testing.assert_array_equal(t.G.params, g)
    t.train(3)
    notes = t.update({"generator.units": 12})
    assert t.epoch == 0 and t.G.sizes[1] == 12
    assert notes and "generator.units" in notes[0]
    notes = t.update(data="ring")
    assert t.config.data == "ring" and "data changed" in notes[0]


def test_epoch_zero_matches_after_reset():
    t = Trainer(seed=9)
    p0 = params(t).copy()
    t.train(30)
    t.reset()
    assert t.epoch == 0
    np.testing.assert_array_equal(params(t), p0)


def test_visualisation_noise_is_fixed_and_sampling_does_not_disturb_training():
    a, b = Trainer(seed=2), Trainer(seed=2)
    np.testing.assert_array_equal(a.viz_noise(10), a.viz_noise(10))
    a.sample(100)
    a.real(100)
    a.discriminate(np.random.default_rng(0).random((10, 2)))
    a.train(50)
    b.train(50)
    np.testing.assert_array_equal(params(a), params(b))


def nearest_distance(fake, real):
    d = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    return float(d.min(axis=1).mean())


@pytest.mark.parametrize(("name", "epochs", "precision"), [
    ("line", 2000, "float64"), ("gaussians", 1000, "float64"), ("ring", 2000, "float64"),
    ("disjoint", 2000, "float64"), ("gaussians", 1000, "float32"), ("disjoint", 2000, "float32")])
def test_ganlab_presets_move_samples_onto_the_data(name, epochs, precision):
    """With GAN Lab's own per-dataset preset, fakes end up near real points (in either precision)."""
    t = Trainer(data=name, seed=1, precision=precision, **DISTRIBUTIONS[name].preset)
    real = t.real(2000)
    z = t.noise(500)
    before = nearest_distance(t.sample(noise=z), real)
    t.train(epochs)
    after = nearest_distance(t.sample(noise=z), real)
    assert t.status.ok
    # GAN training oscillates; at these epochs every preset sits within a few hundredths of the
    # data (measured 0.01-0.06 in the unit square, from 0.2-0.9 at the start).
    assert after < 0.2 * before, (before, after)
    assert after < 0.08, after


def test_refused_data_change_leaves_everything_as_it_was():
    t = Trainer(seed=0)
    t.train(5)
    before = t.config
    for changes in ({"data": "drawn", "data_params": {"strokes": []}},
                    {"data": "points", "data_params": {"points": [[0.5, float("nan")]]}, "generator.units": 3}):
        with pytest.raises(ConfigError):
            t.update(changes)
        assert t.config == before and t.epoch == 5
    assert t.train(3) == 3


def test_switching_distribution_drops_the_old_params():
    t = Trainer(data="points", data_params={"points": [[0.2, 0.2], [0.8, 0.8]]})
    t.update(data="ring8")
    assert t.config.data == "ring8" and t.config.data_params == {}
    t.update(data="drawn", data_params={"strokes": [[[0.1, 0.1], [0.9, 0.9]]]})
    assert t.real(50).shape == (50, 2)


def test_non_finite_hyperparameters_are_refused_as_such():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ConfigError, match=r"d_optimizer\.lr.*finite"):
            Trainer(d_optimizer={"lr": bad})


def test_float32_precision_runs_in_float32_throughout():
    """Every array the training step touches is float32 (a stray float64 array would make numpy
    compute in float64 and silently lose the speed); outputs handed to callers stay float64."""
    t = Trainer(seed=3, precision="float32", loss="wgan-gp", k_d=3,
                d_optimizer={"kind": "adam", "lr": 1e-3}, g_optimizer={"kind": "rmsprop", "lr": 1e-3})
    assert t.train(20) == 20 and t.status.ok
    for net in (t.G, t.D):
        assert net.params.dtype == net.grad.dtype == np.float32
        for ws in net._ws.values():
            assert all(a.dtype == np.float32 for a in ws.a[1:] + ws.d + [ws.out])
    for opt in (t.d_opt, t.g_opt):
        assert all(getattr(opt, n).dtype == np.float32 for n in opt.state_names)
    assert t.noise_pool.buf.dtype == t.data_pool.buf.dtype == np.float32
    b = t._buf
    assert b.xd_rows.dtype == b.xg.dtype == b.dl_both.dtype == np.float32
    assert t.sample(5).dtype == t.discriminate(t.real(5)).dtype == np.float64
    assert t.update({"precision": "float64"}) == ["restarted: precision changed"]
    assert t.G.params.dtype == np.float64


def test_generator_weight_average():
    """g_ema = d: after G step t, avg <- d_t avg + (1 - d_t) params with d_t = min(d, (1+t)/(10+t)),
    starting from G's weights; samples come from the average; switching it off and on says so and
    restarts it from G."""
    d = 0.9
    t, ref = Trainer(seed=7, g_ema=d), Trainer(seed=7)
    avg = ref.G.params.copy()
    for step in range(120):  # past the warm-up: d_t = d from step 80 on
        assert t.step("both") and ref.step("both")
        d_t = min(d, (1 + step) / (10 + step))
        avg = d_t * avg + (1 - d_t) * ref.G.params
    np.testing.assert_array_equal(t.G.params, ref.G.params)  # averaging never touches training
    np.testing.assert_allclose(t.G_avg.params, avg, rtol=1e-12, atol=1e-15)
    z = t.noise(50)
    np.testing.assert_array_equal(t.sample(noise=z), t.G_avg(z))
    assert not np.allclose(t.sample(noise=z), t.G(z))
    assert t.update(g_ema=0.5) == []  # a new decay keeps the average
    assert t.update(g_ema=0) == ["generator weight average dropped: samples come from G itself"]
    np.testing.assert_array_equal(t.sample(noise=z), t.G(z))
    assert t.update(g_ema=0.99) == ["generator weight average started from the current weights"]
    np.testing.assert_array_equal(t.G_avg.params, t.G.params)
