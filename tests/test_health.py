"""Failure hints (ganlab.metrics.health): each failure reproduced with a real config and named; a
healthy run has none; frames and `ganlab train` carry them."""

import json

import numpy as np
import pytest

from ganlab import Trainer
from ganlab.cli import main
from ganlab.data import DISTRIBUTIONS
from ganlab.metrics import frame_metrics, health_hints, reference_real
from ganlab.metrics.health import MIN_EPOCH, spread

WGAN_DEAD = {"loss": "wgan", "clip": 10, "d_optimizer": {"lr": 1.0}, "g_optimizer": {"lr": 1.0}}
LSGAN_RUNAWAY = {"loss": "lsgan", "g_optimizer": {"kind": "adam", "lr": 0.03}}


def codes(m):
    return [h["code"] for h in m["hints"]]


def test_wgan_at_lr_1_clip_10_is_named_dead_collapsed_and_outside():
    t = Trainer(WGAN_DEAD, seed=0)
    t.train(MIN_EPOCH + 100)
    assert t.status.ok and abs(t.losses["d"]) < 1e-6  # the silent state: losses 0.000
    m = frame_metrics(t)
    assert codes(m) == ["d_dead", "g_collapsed", "fakes_outside"]
    msg = {h["code"]: h["message"] for h in m["hints"]}
    assert "hidden layer 1 are off on every sample" in msg["d_dead"]
    assert "spread 0.000 against the data's 0.3" in msg["g_collapsed"]
    assert msg["fakes_outside"].startswith("100% of the fake samples are outside the unit square")


def test_lsgan_with_a_fast_adam_g_is_named_saturated_and_outside():
    t = Trainer(LSGAN_RUNAWAY, seed=0)
    t.train(2000)
    m = frame_metrics(t)
    assert {"d_saturated", "fakes_outside"} <= set(codes(m))
    sat = next(h["message"] for h in m["hints"] if h["code"] == "d_saturated")
    assert "classifies 100% of samples correctly" in sat and "D loss 0.00" in sat


@pytest.mark.parametrize("name", ["gaussians", "ring", "line"])
def test_a_healthy_run_has_no_hints(name):
    # (scanned by hand: GAN Lab's four and the shapes' presets, seeds 0-2, to 6,000 epochs, and
    # ring8, grid25, mixture, seeds 0-1, to 3,000: no hint but on disjoint, whose G does collapse
    # onto one cluster there, spread 0.004 against the data's 0.24)
    t = Trainer(DISTRIBUTIONS[name].preset, data=name, seed=1)
    for epochs in (MIN_EPOCH, 1500):
        t.train(epochs - t.epoch)
        assert frame_metrics(t)["hints"] == [], (name, t.epoch)


def test_no_hints_before_the_generator_had_time_to_spread():
    t = Trainer(WGAN_DEAD, seed=0)
    t.train(MIN_EPOCH - 1)
    assert frame_metrics(t)["hints"] == []
    t.train(1)
    assert frame_metrics(t)["hints"] != []


def test_collapse_and_outside_thresholds_on_placed_points():
    t = Trainer(seed=0)
    t.train(MIN_EPOCH)
    real = reference_real(t, 500)
    assert spread(np.array([[0.0, 0.0], [0.6, 0.8]])) == pytest.approx(0.5)  # sqrt(0.09 + 0.16)
    one_spot = np.tile(real.mean(axis=0), (500, 1)) + 0.001 * np.random.default_rng(0).standard_normal((500, 2))
    assert "g_collapsed" in [h["code"] for h in health_hints(t, real, one_spot)]
    shifted = real.copy()
    shifted[:260] += [2.0, 0.0]  # 52% off the view
    hints = health_hints(t, real, shifted)
    assert [h["code"] for h in hints if h["code"] == "fakes_outside"] == ["fakes_outside"]
    assert "52% of the fake samples are outside the unit square" in hints[-1]["message"]
    shifted[:260] -= [2.0, 0.0]
    shifted[:240] += [2.0, 0.0]  # 48%: most are still inside
    assert "fakes_outside" not in [h["code"] for h in health_hints(t, real, shifted)]


def test_ganlab_train_prints_the_hints_in_text_and_json(capsys):
    flags = ["train", "--loss", "wgan", "--clip", "10", "--d-lr", "1", "--g-lr", "1", "--epochs", "1000",
             "--report-every", "500"]
    assert main(flags) == 0
    out = capsys.readouterr().out
    assert out.count("hint: The discriminator is dead") == 2  # when it appears, and at the end
    assert "hint: The generator has collapsed" in out
    assert main([*flags, "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["hints"][0]["code"] for r in recs] == ["d_dead"] * 3
    assert recs[-1]["metrics"]["hints"] == recs[-1]["hints"]
    assert main(["train", "--data", "ring", "--epochs", "600", "--json"]) == 0
    healthy = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(r["hints"] == [] for r in healthy)
