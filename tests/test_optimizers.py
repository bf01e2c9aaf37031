"""Optimizer update rules against values computed by hand, and live hyperparameter changes."""

import math

import numpy as np
import pytest

from ganlab import Trainer
from ganlab.config import OptimizerConfig
from ganlab.optimizers import make_optimizer


def run(kind, grads, **hp):
    opt = make_optimizer(1, OptimizerConfig(kind=kind, **hp))
    p = np.array([1.0])
    out = []
    for g in grads:
        opt.step(p, np.array([g]))
        out.append(p[0])
    return out


def test_sgd():
    assert run("sgd", [2.0, -1.0], lr=0.1) == pytest.approx([0.8, 0.9], abs=1e-15)


def test_momentum_and_nesterov():
    # v1 = 2, p1 = 1 - 0.1*2 = 0.8;  v2 = 0.5*2 + 1 = 2, p2 = 0.8 - 0.2 = 0.6
    assert run("momentum", [2.0, 1.0], lr=0.1, momentum=0.5) == pytest.approx([0.8, 0.6])
    # Nesterov: step = g + mu v.  v1 = 2 -> 1 - 0.1*(2 + 1) = 0.7;  v2 = 2 -> 0.7 - 0.1*(1 + 1) = 0.5
    assert run("momentum", [2.0, 1.0], lr=0.1, momentum=0.5, nesterov=True) == pytest.approx([0.7, 0.5])


def test_adam_two_steps_by_hand():
    b1, b2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    p, m, v = 1.0, 0.0, 0.0
    want = []
    for t, g in enumerate([0.5, -2.0], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p -= lr / (1 - b1**t) * m / (math.sqrt(v / (1 - b2**t)) + eps)
        want.append(p)
    # First Adam step moves by ~lr whatever the gradient's size.
    assert want[0] == pytest.approx(1.0 - 0.01, abs=1e-7)
    assert run("adam", [0.5, -2.0], lr=lr) == pytest.approx(want, rel=1e-14)


def test_rmsprop_by_hand():
    rho, eps, lr = 0.9, 1e-8, 0.01
    p, v, want = 1.0, 0.0, []
    for g in [0.5, -2.0]:
        v = rho * v + (1 - rho) * g * g
        p -= lr * g / (math.sqrt(v) + eps)
        want.append(p)
    assert run("rmsprop", [0.5, -2.0], lr=lr, rho=rho) == pytest.approx(want, rel=1e-14)


def test_learning_rate_change_keeps_adam_state():
    t = Trainer(seed=1, g_optimizer={"kind": "adam", "lr": 0.01}, d_optimizer={"kind": "adam", "lr": 0.01})
    t.train(5)
    opt = t.g_opt
    m, v, steps = opt.m.copy(), opt.v.copy(), opt.t
    notes = t.update({"g_optimizer.lr": 0.001, "g_optimizer.beta1": 0.5})
    assert t.g_opt is opt and opt.t == steps
    np.testing.assert_array_equal(opt.m, m)
    np.testing.assert_array_equal(opt.v, v)
    assert not any("reset" in n for n in notes)
    # ... and the new rate is the one used by the next step.
    t.train(1)
    assert opt.hp.lr == 0.001 and opt.hp.beta1 == 0.5


def test_same_trajectory_as_uninterrupted_when_rate_is_set_to_its_own_value():
    a = Trainer(seed=3, d_optimizer={"kind": "adam", "lr": 0.01})
    b = Trainer(seed=3, d_optimizer={"kind": "adam", "lr": 0.01})
    a.train(10)
    b.train(4)
    b.update({"d_optimizer": {"lr": 0.01}})
    b.train(6)
    np.testing.assert_array_equal(a.D.params, b.D.params)


def test_switching_kind_resets_state_and_says_so():
    t = Trainer(seed=1, d_optimizer={"kind": "adam", "lr": 0.01})
    t.train(3)
    notes = t.update({"d_optimizer.kind": "rmsprop"})
    assert t.d_opt.kind == "rmsprop" and t.d_opt.t == 0
    assert any("discriminator optimizer" in n and "reset" in n for n in notes)


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam", "rmsprop"])
def test_learning_rate_decay_is_lr_over_one_plus_decay_t(kind):
    """With decay d, the step after t earlier steps is the same rule at lr / (1 + d t): checked
    against optimizers run at each step's rate by hand (the rate is read live every step)."""
    grads, lr, d = [0.5, -2.0, 1.0, 3.0], 0.05, 0.3
    decayed = run(kind, grads, lr=lr, decay=d)
    opt = make_optimizer(1, OptimizerConfig(kind=kind, lr=lr))
    p, want = np.array([1.0]), []
    for t, g in enumerate(grads):
        opt.configure(OptimizerConfig(kind=kind, lr=lr / (1 + d * t)))
        opt.step(p, np.array([g]))
        want.append(p[0])
    assert decayed == pytest.approx(want, rel=1e-14)
    assert decayed != pytest.approx(run(kind, grads, lr=lr), rel=1e-6)  # the decay did something
