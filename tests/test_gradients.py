"""Every hand-written derivative against central finite differences (float64, seeded)."""

import itertools

import numpy as np
import pytest

from ganlab import Trainer
from ganlab.activations import ACTIVATIONS
from ganlab.losses import LOSSES
from ganlab.mlp import MLP, Workspace, augment

H = 1e-6


def fd(f, x, h=H):
    """Central differences of scalar f at every entry of array x (perturbed in place)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        fp = f()
        x[i] = old - h
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g


def assert_close(a, b, what, rtol=1e-5, atol=1e-7):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=what)


def away_from_kinks(rng, shape):
    z = rng.normal(0, 2, shape)
    z[np.abs(z) < 1e-3] = 0.5  # relu / leaky / elu kinks at 0
    return z


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_first_and_second_derivatives(name):
    act = ACTIVATIONS[name]
    rng = np.random.default_rng(1)
    z = away_from_kinks(rng, (5, 7))
    num = np.array([(act(np.array([[v + H]])) - act(np.array([[v - H]])))[0, 0] / (2 * H) for v in z.ravel()])
    assert_close(act.derivative(z).ravel(), num, f"{name}'")
    d1 = lambda v: act.derivative(np.array([[v]]))[0, 0]  # noqa: E731
    num2 = np.array([(d1(v + H) - d1(v - H)) / (2 * H) for v in z.ravel()])
    assert_close(act.second(act(z)).ravel(), num2, f"{name}''", rtol=1e-4, atol=1e-6)


SHAPES = [(0, 3), (1, 1), (1, 5), (2, 4), (3, 3)]


@pytest.mark.parametrize(("act", "output"), list(itertools.product(ACTIVATIONS, ["linear", "tanh"])))
def test_mlp_parameter_and_input_gradients(act, output):
    rng = np.random.default_rng(hash((act, output)) % 2**32)
    for layers, units in SHAPES:
        n_in, n_out, B = rng.integers(1, 4), rng.integers(1, 3), rng.integers(1, 6)
        net = MLP(n_in, n_out, layers, units, act, output, "he", rng)
        net.params += rng.normal(0, 0.1, net.size)  # non-zero biases
        x = away_from_kinks(rng, (B, n_in))
        c = rng.normal(size=(B, n_out))
        f = lambda: float((net(x) * c).sum())  # noqa: E731
        ws = net.workspace(B)
        net.forward(ws, augment(x))
        dx = net.backward(ws, c.T.copy(), param_grad=True, input_grad=True).T.copy()
        what = f"{act}/{output} layers={layers} units={units}"
        assert_close(net.grad, fd(f, net.params), what + " dW")
        assert_close(dx, fd(f, x), what + " dx")


@pytest.mark.parametrize("name", LOSSES)
def test_loss_logit_gradients(name):
    loss = LOSSES[name]
    rng = np.random.default_rng(3)
    for nr, nf in [(1, 1), (4, 6), (7, 3)]:
        l = rng.normal(0, 2, (1, nr + nf))
        l[np.abs(np.abs(l) - 1) < 1e-3] = 0.3  # hinge kinks at +-1
        out = np.empty_like(l)
        loss.d_grad(l, nr, out)
        assert_close(out, fd(lambda: loss.d_value(l[0, :nr], l[0, nr:]), l), f"{name} D nr={nr}")
        lf = l[:, nr:].copy()
        out = np.empty_like(lf)
        loss.g_grad(lf, out)
        assert_close(out, fd(lambda: loss.g_value(lf[0]), lf), f"{name} G")


def test_losses_are_stable_at_extreme_logits():
    big = np.array([[1000.0, -1000.0, 0.0, 1000.0]])
    for name, loss in LOSSES.items():
        out = np.empty_like(big)
        loss.d_grad(big, 2, out)
        assert np.isfinite(out).all(), name
        loss.g_grad(big, out)
        assert np.isfinite(out).all(), name
        assert np.isfinite(loss.d_value(big[0, :2], big[0, 2:])), name
        assert np.isfinite(loss.g_value(big[0])), name


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_gradient_penalty_weight_gradient(act):
    rng = np.random.default_rng(7)
    for layers, units in [(0, 1), (1, 4), (2, 3), (3, 2)]:
        net = MLP(2, 1, layers, units, act, "linear", "he", rng)
        net.params += rng.normal(0, 0.2, net.size)
        x = away_from_kinks(rng, (5, 2)) * 0.5

        def penalty():
            g = net.input_grad(x)
            return 3.0 * float(np.mean((np.sqrt((g**2).sum(axis=1)) - 1) ** 2))

        net.grad[:] = 0
        p = net.penalty_grad(x, 3.0)
        assert p == pytest.approx(penalty(), rel=1e-12)
        assert_close(net.grad, fd(penalty, net.params), f"GP {act} {layers}x{units}", rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_zero_centred_penalty_weight_gradient(act):
    """center=0: P = w mean ||grad_x f||^2 (R1 on real points), exact value and dP/dW."""
    rng = np.random.default_rng(9)
    for layers, units in [(0, 1), (1, 4), (2, 3)]:
        net = MLP(2, 1, layers, units, act, "linear", "he", rng)
        net.params += rng.normal(0, 0.2, net.size)
        x = away_from_kinks(rng, (5, 2)) * 0.5

        def penalty():
            return 0.7 * float(np.mean((net.input_grad(x) ** 2).sum(axis=1)))

        net.grad[:] = 0
        p = net.penalty_grad(x, 0.7, center=0.0)
        assert p == pytest.approx(penalty(), rel=1e-12)
        assert_close(net.grad, fd(penalty, net.params), f"R1 {act} {layers}x{units}", rtol=1e-4, atol=1e-8)


def capture_update(trainer, which):
    """Run one update of ``which`` net, capturing the gradient its optimizer received and the
    inputs it saw, without applying it."""
    seen = {}
    opt = trainer.d_opt if which == "discriminator" else trainer.g_opt
    opt.step = lambda p, g: seen.setdefault("grad", g.copy())
    take_noise, take_data = trainer.noise_pool.take, trainer.data_pool.take
    trainer.data_pool.take = lambda b: _remember(seen, "real", take_data(b))
    trainer.noise_pool.take = lambda b: _remember(seen, "z", take_noise(b))
    penalty_grad = trainer.D.penalty_grad

    def recording_penalty(x, w, center=1.0):
        if center:  # WGAN-GP's interpolates (R1's points are the real batch, captured already)
            seen["xhat"] = x.copy()
        return penalty_grad(x, w, center=center)

    trainer.D.penalty_grad = recording_penalty
    trainer.step(which)
    return seen


def d_loss_of(t, seen, gp_weight=2.0, r1=0.0):
    """D's loss as defined in the docs, on the batches of the D update captured in ``seen``: the
    loss's own terms, WGAN-GP's penalty on the captured interpolates, and R1's
    gamma/2 mean ||grad_x D(x_real)||^2."""
    G, D, L = t.G, t.D, t.loss
    real, fake = seen["real"], G(seen["z"])

    def d_loss():
        v = L.d_value(D(real)[:, 0], D(fake)[:, 0])
        if r1:
            v += r1 / 2 * float(np.mean((D.input_grad(real) ** 2).sum(axis=1)))
        if L.gradient_penalty:
            g = D.input_grad(seen["xhat"])
            v += gp_weight * float(np.mean((np.sqrt((g**2).sum(axis=1)) - 1) ** 2))
        return v

    return d_loss


def _remember(seen, key, rows):
    seen[key] = rows[:, :-1].copy()
    return rows


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("act", ["relu", "tanh"])
def test_trainer_updates_follow_the_loss_gradients(loss, act):
    """Both networks' parameter gradients, through the trainer's own fast path, match finite
    differences of the loss they claim to descend."""
    cfg = dict(
        seed=5, batch_size=6, loss=loss, gp_weight=2.0, clip=10.0,  # no clipping in the way
        generator={"layers": 2, "units": 4, "activation": act},
        discriminator={"layers": 2, "units": 5, "activation": act},
    )
    t = Trainer(**cfg)
    t.D.params += np.random.default_rng(0).normal(0, 0.3, t.D.size)
    seen = capture_update(t, "discriminator")
    D = t.D
    assert_close(seen["grad"], fd(d_loss_of(t, seen), D.params), f"{loss} D", rtol=1e-4, atol=1e-7)

    t2 = Trainer(**cfg)
    t2.D.params[:] = D.params
    seen = capture_update(t2, "generator")
    z = seen["z"]
    g_loss = lambda: t2.loss.g_value(t2.D(t2.G(z))[:, 0])  # noqa: E731
    assert_close(seen["grad"], fd(g_loss, t2.G.params), f"{loss} G", rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("loss", LOSSES)
def test_float32_updates_match_float64_updates(loss):
    """precision=float32 computes the same gradients as the (finite-difference checked) float64
    path, to float32 rounding: same weights, same batches, both networks."""
    cfg = dict(seed=8, batch_size=64, loss=loss, gp_weight=2.0, clip=10.0,
               generator={"layers": 2, "units": 16}, discriminator={"layers": 2, "units": 16})
    for which in ("discriminator", "generator"):
        t64, t32 = Trainer(**cfg), Trainer(precision="float32", **cfg)
        t64.D.params += np.random.default_rng(0).normal(0, 0.3, t64.D.size)
        t32.G.params[:], t32.D.params[:] = t64.G.params, t64.D.params
        t64.G.params[:], t64.D.params[:] = t32.G.params, t32.D.params  # both on float32-exact weights
        g64 = capture_update(t64, which)["grad"]
        g32 = capture_update(t32, which)["grad"]
        assert g32.dtype == np.float32
        np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-4 * np.abs(g64).max(), err_msg=f"{loss} {which}")


@pytest.mark.parametrize("loss", ["nonsaturating", "hinge", "wgan-gp"])
def test_r1_update_follows_its_loss(loss):
    """With r1 = gamma, D descends L_D + gamma/2 mean ||grad_x D(x_real)||^2 (and WGAN-GP's own
    penalty too when both are on)."""
    t = Trainer(seed=6, batch_size=6, loss=loss, r1=0.8, gp_weight=2.0,
                generator={"layers": 1, "units": 4}, discriminator={"layers": 2, "units": 5})
    t.D.params += np.random.default_rng(1).normal(0, 0.3, t.D.size)
    seen = capture_update(t, "discriminator")
    assert_close(seen["grad"], fd(d_loss_of(t, seen, r1=0.8), t.D.params), f"{loss} + R1", rtol=1e-4, atol=1e-7)


def test_lazy_r1_applies_on_every_kth_step_with_k_times_the_weight():
    cfg = dict(seed=6, batch_size=6, r1=0.8, r1_every=3, generator={"layers": 1, "units": 4},
               discriminator={"layers": 2, "units": 5})
    weights = []
    t = Trainer(**cfg)
    pg = t.D.penalty_grad
    t.D.penalty_grad = lambda x, w, center=1.0: (weights.append((t.d_steps, w, center)), pg(x, w, center=center))[1]
    for _ in range(7):
        assert t.step("discriminator")
    assert weights == [(0, pytest.approx(1.2), 0.0), (3, pytest.approx(1.2), 0.0), (6, pytest.approx(1.2), 0.0)]


def test_discriminator_input_gradient_matches_fd():
    t = Trainer(seed=2)
    t.train(20)
    x = np.random.default_rng(0).random((6, 2))
    for output in ("logit", "prob"):
        g = t.d_grad(x, output=output)
        for i in range(len(x)):
            xi = x[i : i + 1].copy()
            num = fd(lambda: float(t.discriminate(xi, output=output)[0]), xi)  # noqa: B023
            assert_close(g[i], num[0], f"dD/dx {output}")


def test_generator_loss_gradient_field_matches_fd():
    t = Trainer(seed=2, loss="nonsaturating")
    t.train(20)
    x = np.random.default_rng(1).random((5, 2))
    g = t.g_loss_grad(x)
    for i in range(len(x)):
        xi = x[i : i + 1].copy()
        num = fd(lambda: t.loss.g_value(t.D(xi)[:, 0]), xi)  # noqa: B023
        assert_close(g[i], -num[0], "-dl_G/dx")


def test_evaluation_in_chunks_equals_one_pass():
    rng = np.random.default_rng(4)
    net = MLP(2, 1, 2, 6, "tanh", "linear", "he", rng)
    x = rng.random((2 * net.chunk + 37, 2))
    xa = augment(x)
    whole = net.forward(Workspace(net, xa.shape[1]), xa).T
    np.testing.assert_allclose(net(x), whole, rtol=1e-13, atol=1e-15)
    g = net.input_grad(x)
    ws = Workspace(net, xa.shape[1])
    net.forward(ws, xa)
    np.testing.assert_allclose(g, net.backward(ws, np.ones((1, xa.shape[1])), False, True).T, rtol=1e-13)


def test_gradient_fields_do_not_depend_on_chunking():
    """Per-sample fields: a point's arrow is the same alone or among 2 chunks' worth of points."""
    t = Trainer(seed=2)
    t.train(20)
    x = np.random.default_rng(3).random((2 * t.D.chunk + 5, 2))
    for field in (t.d_grad, t.g_loss_grad):
        whole = field(x)
        np.testing.assert_allclose(whole[-5:], field(x[-5:]), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(whole[:3], field(x[:3]), rtol=1e-12, atol=1e-15)
