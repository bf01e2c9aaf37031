"""Issue 10's new derivatives against central finite differences (float64, small widths): dropout
with its mask fixed, the leaky slope, label smoothing, and the conditional input, at image sizes."""

import numpy as np
import pytest
from test_gradients import H, assert_close, away_from_kinks, capture_update, fd

from ganlab import Trainer
from ganlab.activations import ACTIVATIONS
from ganlab.losses import LOSSES
from ganlab.mlp import MLP, Workspace, augment


@pytest.mark.parametrize("slope", [0.0, 0.05, 0.5])
def test_leaky_relu_slope(slope):
    act = ACTIVATIONS["leaky_relu"]
    z = away_from_kinks(np.random.default_rng(2), (4, 6))
    assert_close(act(z, slope), np.where(z > 0, z, slope * z), "phi")
    num = (act(z + H, slope) - act(z - H, slope)) / (2 * H)
    assert_close(act.derivative(z, slope), num, "phi'")


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("output", ["linear", "tanh"])
def test_dropout_with_a_fixed_mask(act, output):
    """A workspace's masks stay put between passes, so the loss is a function of the weights and
    the input; its gradients match finite differences, and the masks really drop units."""
    rng = np.random.default_rng(7)
    net = MLP(9, 3, 2, 6, act, output, "he", rng, slope=0.1)
    net.params += rng.normal(0, 0.1, net.size)
    B = 5
    x = away_from_kinks(rng, (B, 9))
    c = rng.normal(size=(B, 3))
    ws = Workspace(net, B)  # a training workspace (the cached ones are for evaluation)
    net.draw_dropout(ws, 0.4, np.random.default_rng(3))
    assert ws.dropout and all(((m == 0) | (m == 1 / 0.6)).all() for m in ws.mask)
    assert 0 < sum(int((m == 0).sum()) for m in ws.mask) < sum(m.size for m in ws.mask)

    def f():
        return float((net.forward(ws, augment(x)).T * c).sum())

    net.forward(ws, augment(x))
    dx = net.backward(ws, c.T.copy(), param_grad=True, input_grad=True).T.copy()
    assert_close(net.grad, fd(f, net.params), f"{act}/{output} dW")
    assert_close(dx, fd(f, x), f"{act}/{output} dx")
    plain = float((net(x) * c).sum())  # evaluation has no dropout
    assert plain != pytest.approx(f())
    net.draw_dropout(ws, 0.0, None)  # rate 0: off, no draws
    assert f() == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize("name", [n for n, loss in LOSSES.items() if loss.smoothing])
def test_label_smoothing_gradients(name):
    loss = LOSSES[name]
    rng = np.random.default_rng(4)
    for nr, nf, s in [(3, 4, 0.1), (5, 2, 0.3)]:
        l = rng.normal(0, 2, (1, nr + nf))
        out = np.empty_like(l)
        loss.d_grad(l, nr, out, s)
        assert_close(out, fd(lambda: loss.d_value(l[0, :nr], l[0, nr:], s), l), f"{name} s={s}")
    # The smoothed real target: D's loss on real logits is smallest where D says 1 - s.
    grid = np.linspace(-6, 6, 24001)
    best = grid[np.argmin([loss.d_value(np.array([g]), np.array([-50.0]), 0.2) for g in grid])]
    assert loss.prob(np.array([best]))[0] == pytest.approx(0.8, abs=1e-3)


@pytest.mark.parametrize("act", ["leaky_relu", "tanh"])
@pytest.mark.parametrize(("conditional", "dropout", "smooth", "loss"), [
    (False, 0.0, 0.0, "nonsaturating"),
    (True, 0.0, 0.2, "nonsaturating"),
    (True, 0.3, 0.1, "lsgan"),
    (False, 0.5, 0.0, "minimax"),
])
def test_image_trainer_updates_follow_their_loss(act, conditional, dropout, smooth, loss):
    """Both updates of a digits8 GAN (64 pixels in [-1, 1], optionally with one-hot labels on G's
    noise and D's input, dropout masks of that very update, label smoothing, leaky slope 0.1)
    follow finite differences of the loss they claim to descend."""
    cfg = dict(data="digits8", precision="float64", seed=2, batch_size=4, noise_dim=3, loss=loss,
               conditional=conditional, label_smoothing=smooth,
               generator={"layers": 1, "units": 3, "activation": act, "leaky_slope": 0.1},
               discriminator={"layers": 2, "units": 3, "activation": act, "leaky_slope": 0.1,
                              "dropout": dropout})
    t = Trainer(**cfg)
    t.D.params += np.random.default_rng(0).normal(0, 0.3, t.D.size)
    seen = capture_update(t, "discriminator")
    b, D, L, B = t._buf, t.D, t.loss, 4
    assert b.xd_rows.shape == (2 * B, 64 + 10 * conditional + 1)
    if conditional:  # real rows carry their one-hot label, fake rows the label G was given
        for rows in (b.xd_rows[:B, 64:74], b.xd_rows[B:, 64:74]):
            assert (rows.sum(axis=1) == 1).all() and set(np.unique(rows)) == {0.0, 1.0}
        np.testing.assert_array_equal(b.xd_rows[B:, 64:74], seen["z"][:, 3:])

    def d_loss():  # the update's own masks stay in its workspace
        lg = D.forward(b.d_both, b.xd)[0]
        return L.d_value(lg[:B], lg[B:], smooth)

    assert_close(seen["grad"], fd(d_loss, D.params), "D", rtol=1e-4, atol=1e-7)

    t2 = Trainer(**cfg)
    t2.D.params[:] = D.params
    seen = capture_update(t2, "generator")
    z, b2 = seen["z"], t2._buf

    def g_loss():
        fake = t2.G(z)
        x = np.hstack([fake, z[:, 3:]]) if conditional else fake
        return t2.loss.g_value(t2.D.forward(b2.d_fake, augment(x))[0])

    assert_close(seen["grad"], fd(g_loss, t2.G.params), "G", rtol=1e-4, atol=1e-7)
