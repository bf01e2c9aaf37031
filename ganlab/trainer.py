"""The training loop: one generator, one discriminator, their optimizers, data and noise.

One epoch = ``k_d`` discriminator updates, then ``k_g`` generator updates (GAN Lab's definition).
A discriminator update draws a real batch and a fake batch (G(z), G fixed), evaluates D on both
in one pass, and descends L_D. A generator update draws z, evaluates D(G(z)), and descends L_G
through D into G. The same config and seed give bit-identical results on one machine, and a
snapshot holds everything needed to continue exactly where training stopped.

Non-finite values never propagate: before any optimizer touches its state, the gradient is checked;
a non-finite gradient rejects the update, keeps the last finite state and sets ``status``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import __version__, snapshot_check
from .config import Config, ConfigError, check_numbers, make_config, nest, restart_fields, short
from .data import DataError, make_sampler
from .losses import LOSSES
from .mlp import MLP, Workspace, augment
from .noise import Pool, rng_state, sample_noise, set_rng_state
from .optimizers import make_optimizer

MODES = ("both", "generator", "discriminator")
SNAPSHOT_FORMAT = "ganlab-snapshot"
SNAPSHOT_VERSION = 1
SNAPSHOT_KEYS = {"format", "version", "ganlab", "config", "epoch", "d_steps", "g_steps", "generator",
                 "discriminator", "g_optimizer", "d_optimizer", "noise_pool", "data_pool", "aux_rng",
                 "sample_rng", "losses", "status"}


@dataclass
class Status:
    """``state`` is "ok" or "diverged"; ``message`` says what happened and where."""

    state: str = "ok"
    message: str = ""
    epoch: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "ok"


class _Buffers:
    """Workspaces for one batch size B, wired so that data flows between networks without copies
    where numpy allows (G's output in the G step is written straight into D's input rows)."""

    def __init__(self, G: MLP, D: MLP, B: int):
        self.B = B
        dt = D.dtype
        # D step: D sees [real | fake] as one (3, 2B) input; batch-major storage, F-order view.
        self.xd_rows = np.ones((2 * B, 3), dt)
        self.xd = self.xd_rows.T
        self.g_for_d = Workspace(G, B)
        self.g_for_ds: dict[int, Workspace] = {}  # G for all k D steps of an epoch at once, by k
        self.d_both = Workspace(D, 2 * B)
        self.dl_both = np.empty((1, 2 * B), dt)
        # G step: G writes its output into the first two rows of D's (3, B) input.
        self.xg = np.ones((3, B), dt)
        self.g_for_g = Workspace(G, B)
        self.g_for_g.out = self.xg[:2]
        self.d_fake = Workspace(D, B)
        self.dl_fake = np.empty((1, B), dt)


class Trainer:
    """A GAN on 2D points. See the README for the API tour."""

    def __init__(self, config: Config | dict | None = None, /, **overrides: Any):
        self.config = make_config(config, **overrides)
        self._build()

    # -- construction ---------------------------------------------------------------------------

    def _build(self) -> None:
        """(Re)create networks, optimizers, pools and counters from the config and its seed."""
        cfg = self.config
        ss = np.random.SeedSequence(cfg.seed)
        s_g, s_d, s_noise, s_data, s_aux, s_sample = ss.spawn(6)
        gc, dc = cfg.generator, cfg.discriminator
        dt = cfg.precision
        self.G = MLP(cfg.noise_dim, 2, gc.layers, gc.units, gc.activation, gc.output, cfg.init,
                     np.random.default_rng(s_g), dt)
        self.D = MLP(2, 1, dc.layers, dc.units, dc.activation, "linear", cfg.init, np.random.default_rng(s_d), dt)
        self.G_avg: MLP | None = None
        self._sync_average()
        self.g_opt = make_optimizer(self.G.size, cfg.g_optimizer, dt)
        self.d_opt = make_optimizer(self.D.size, cfg.d_optimizer, dt)
        self.loss = LOSSES[cfg.loss]
        self._noise_rng = np.random.default_rng(s_noise)
        self._data_rng = np.random.default_rng(s_data)
        self._aux_rng = np.random.default_rng(s_aux)
        self._sample_rng = np.random.default_rng(s_sample)
        self._viz_seed = int(ss.generate_state(1)[0])
        self._viz: dict[tuple, np.ndarray] = {}
        self.noise_pool = Pool(self._noise_rng, self._noise_fill, cfg.noise_dim, dt)
        self._set_data(self._sampler_for(cfg))
        self._buf: _Buffers | None = None
        self.epoch = self.d_steps = self.g_steps = 0
        self.status = Status()
        self._last: dict[str, Any] = {}
        self._losses: dict[str, float] = {}

    def _sync_average(self) -> None:
        """Create (from G's current weights) or drop the weight average as ``g_ema`` asks."""
        if self.config.g_ema <= 0:
            self.G_avg = None
        elif self.G_avg is None:
            self.G_avg = self.G.copy()

    @property
    def G_out(self) -> MLP:
        """The generator whose samples are shown and measured: the weight average when
        ``g_ema`` > 0, else G itself."""
        return self.G_avg if self.G_avg is not None else self.G

    def _noise_fill(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return sample_noise(rng, self.config.noise, n, self.config.noise_dim)

    @staticmethod
    def _sampler_for(cfg: Config):
        try:
            return make_sampler(cfg.data, cfg.data_params)
        except DataError as e:
            raise ConfigError([("data_params" if cfg.data_params else "data", str(e))]) from None

    def _set_data(self, sampler) -> None:
        self.sampler = sampler
        self.data_pool = Pool(self._data_rng, sampler, 2, self.config.precision)

    def _buffers(self) -> _Buffers:
        """Workspaces for the current batch size (dropped by ``update`` when it changes)."""
        if self._buf is None:
            self._buf = _Buffers(self.G, self.D, self.config.batch_size)
        return self._buf

    # -- updates --------------------------------------------------------------------------------

    def _apply(self, net: MLP, opt, who: str) -> bool:
        """Apply ``net.grad`` with ``opt``. A non-finite gradient is refused before the optimizer
        sees it; an update that overflows the weights (huge learning rate times a finite
        gradient) is undone from a copy. Either way training stops with ``status`` saying why."""
        # g.g is finite exactly when g is (or |g| > 1e154, which is divergence all the same),
        # and a dot is the cheapest full scan numpy has.
        g, p = net.grad, net.params
        if not math.isfinite(np.dot(g, g)):
            return self._diverged(f"non-finite {who} gradient")
        np.copyto(net.backup, p)
        opt.step(p, g)
        if not math.isfinite(np.dot(p, p)):
            np.copyto(net.params, net.backup)
            return self._diverged(f"non-finite {who} weights after an update")
        return True

    def _diverged(self, what: str) -> bool:
        self.status = Status(
            "diverged",
            f"{what} at epoch {self.epoch} (learning rate too high?); training stopped, "
            "weights kept from the last finite update",
            self.epoch,
        )
        return False

    def _fakes(self, k: int) -> np.ndarray | None:
        """G(z) for the k D steps of an epoch in one pass, (2, k B), or None when k B noise rows
        exceed a pool. G does not change between D steps, so one pass on k B columns gives the
        same fakes as k passes on B, for one pass's overhead."""
        b = self._buf or self._buffers()
        n = k * b.B
        if k < 2 or n > self.noise_pool.SIZE:
            return None
        ws = b.g_for_ds.get(k)
        if ws is None:
            ws = b.g_for_ds[k] = Workspace(self.G, n)
        return self.G.forward(ws, self.noise_pool.take(n).T)

    def _d_update(self, fake: np.ndarray | None = None) -> bool:
        """One D step on a fresh real batch and ``fake`` (2, B), or on fresh fakes if None."""
        b = self._buf or self._buffers()
        B, G, D, loss = b.B, self.G, self.D, self.loss
        real = self.data_pool.take(B)
        if fake is None:
            fake = G.forward(b.g_for_d, self.noise_pool.take(B).T)
        np.copyto(b.xd_rows[:B], real)
        np.copyto(b.xd_rows[B:, :2], fake.T)
        logits = D.forward(b.d_both, b.xd)
        loss.d_grad(logits, B, b.dl_both)
        D.backward(b.d_both, b.dl_both, param_grad=True, input_grad=False)
        penalty = 0.0
        cfg = self.config
        if loss.gradient_penalty and cfg.gp_weight > 0:
            eps = self._aux_rng.random((B, 1))
            xr, xf = b.xd_rows[:B, :2], b.xd_rows[B:, :2]
            penalty = D.penalty_grad(eps * xr + (1.0 - eps) * xf, cfg.gp_weight)
        if cfg.r1 > 0 and self.d_steps % cfg.r1_every == 0:
            # R1: gamma/2 * mean ||grad_x D(x_real)||^2 pulls D's gradient on the data to zero;
            # lazily on every k-th step only, weighted k times, it costs 1/k as much.
            penalty += D.penalty_grad(b.xd_rows[:B, :2], 0.5 * cfg.r1 * cfg.r1_every, center=0.0)
        if not self._apply(D, self.d_opt, "discriminator"):
            return False
        if loss.clips_weights:
            c = self.config.clip
            np.clip(D.params, -c, c, out=D.params)
        self.d_steps += 1
        self._last["d"] = (loss, logits, B, penalty)
        return True

    def _g_update(self) -> bool:
        b = self._buf or self._buffers()
        G, D, loss = self.G, self.D, self.loss
        z = self.noise_pool.take(b.B)
        G.forward(b.g_for_g, z.T)
        logits = D.forward(b.d_fake, b.xg)
        loss.g_grad(logits, b.dl_fake)
        dx = D.backward(b.d_fake, b.dl_fake, param_grad=False, input_grad=True)
        G.backward(b.g_for_g, dx, param_grad=True, input_grad=False)
        if not self._apply(G, self.g_opt, "generator"):
            return False
        if self.G_avg is not None:
            # avg <- avg + (1 - d_t)(params - avg), d_t = min(g_ema, (1 + t) / (10 + t)) after t
            # earlier G steps: the warm-up (TensorFlow's num_updates) lets the average leave the
            # initial weights within ~100 steps instead of ~1 / (1 - g_ema).
            t = self.g_steps
            d = min(self.config.g_ema, (1.0 + t) / (10.0 + t))
            avg, tmp = self.G_avg.params, self.G_avg.grad  # the average never trains: grad is scratch
            np.subtract(G.params, avg, out=tmp)
            np.multiply(tmp, 1.0 - d, out=tmp)
            np.add(avg, tmp, out=avg)
        self.g_steps += 1
        self._last["g"] = (loss, logits)
        return True

    def step(self, mode: str = "both") -> bool:
        """One epoch (``both``), exactly one G update, or exactly one D update.

        Returns False (and does nothing) once training has diverged; see ``status``.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        if not self.status.ok:
            return False
        self._losses = {}
        if mode == "both":
            return self.train(1) == 1
        with np.errstate(over="ignore", invalid="ignore"):  # blow-ups are caught, not warned
            return self._d_update() if mode == "discriminator" else self._g_update()

    def train(self, epochs: int, seconds: float | None = None) -> int:
        """Run up to ``epochs`` epochs (stopping early after ``seconds`` of wall time, if given, or
        on divergence). Returns the number of epochs completed."""
        if not self.status.ok:
            return 0
        self._losses = {}
        deadline = None if seconds is None else time.perf_counter() + seconds
        with np.errstate(over="ignore", invalid="ignore"):  # blow-ups are caught, not warned
            return self._loop(epochs, deadline)

    def _loop(self, epochs: int, deadline: float | None) -> int:
        k_d, k_g, B = self.config.k_d, self.config.k_g, self.config.batch_size
        d_update, g_update = self._d_update, self._g_update
        done = 0
        while done < epochs:
            fakes = self._fakes(k_d)
            for i in range(k_d):
                if not d_update(None if fakes is None else fakes[:, i * B : (i + 1) * B]):
                    return done
            for _ in range(k_g):
                if not g_update():
                    return done
            self.epoch += 1
            done += 1
            if deadline is not None and time.perf_counter() >= deadline:
                break
        return done

    # -- reading the model ----------------------------------------------------------------------

    @property
    def losses(self) -> dict[str, float]:
        """Loss values of the last D and G updates (before those updates), D's including any
        gradient penalty. Computed on demand from the stored logits."""
        if not self._losses and self._last:
            out = {}
            if "d" in self._last:
                loss, l, nr, penalty = self._last["d"]
                out["d"] = loss.d_value(l[0, :nr], l[0, nr:]) + penalty
            if "g" in self._last:
                loss, l = self._last["g"]
                out["g"] = loss.g_value(l[0])
            if not all(map(math.isfinite, out.values())):
                self.status = Status("diverged", f"non-finite loss at epoch {self.epoch}", self.epoch)
            self._losses = out
        return dict(self._losses)

    def noise(self, n: int) -> np.ndarray:
        """n noise vectors (n, noise_dim) from a stream that does not disturb training."""
        return sample_noise(self._sample_rng, self.config.noise, n, self.config.noise_dim)

    def viz_noise(self, n: int) -> np.ndarray:
        """The same n noise vectors every call (for views where samples glide frame to frame).

        Cached and read-only: live views ask for the same set every frame."""
        key = (n, self.config.noise, self.config.noise_dim)
        z = self._viz.get(key)
        if z is None:
            if len(self._viz) >= 4:  # a view changing its sample count should not pile up sets
                self._viz.clear()
            z = sample_noise(np.random.default_rng(self._viz_seed), self.config.noise, n, self.config.noise_dim)
            z.flags.writeable = False
            self._viz[key] = z
        return z

    def real(self, n: int) -> np.ndarray:
        """n points from the data distribution (a stream that does not disturb training)."""
        return self.sampler(self._sample_rng, n)

    def sample(self, n: int | None = None, noise: np.ndarray | None = None) -> np.ndarray:
        """G(z) as (n, 2) for the given noise (n, noise_dim), or for n fresh noise vectors."""
        z = self._noise_arg(n, noise)
        return self._flag(self.G_out(z), "generator output")

    def discriminate(self, points: np.ndarray, output: str = "prob") -> np.ndarray:
        """D at points (n, 2): ``prob`` is what the page shows in [0, 1] (sigmoid of the logit
        for log losses), ``logit`` the raw output. Returns (n,)."""
        l = self.D(_points(points))[:, 0]
        return self._flag(l if output == "logit" else self.loss.prob(l), "discriminator output")

    def d_grad(self, points: np.ndarray, output: str = "prob") -> np.ndarray:
        """dD/dx at points (n, 2): GAN Lab's gradient arrows (``prob``) or d logit / dx."""
        x = _points(points)
        if output == "logit":
            return self._flag(self.D.input_grad(x), "discriminator gradient")
        # d sigma(l)/dx = sigma'(l) dl/dx; the display squash is a sigmoid for every loss but
        # lsgan, whose clip has derivative [0 < l < 1].
        if self.loss.name == "lsgan":
            def scale(l):
                return ((l > 0) & (l < 1)).astype(float)
        else:
            def scale(l):
                p = self.loss.prob(l)
                return p * (1 - p)
        return self._flag(self.D.input_grad(x, scale), "discriminator gradient")

    def g_loss_grad(self, points: np.ndarray) -> np.ndarray:
        """-d l_G / dx at fake points x (n, 2), l_G the per-sample generator loss: the direction
        the generator's loss pushes each sample."""

        def per_sample(l):  # g_grad averages over the chunk; times -b gives -d l_G,i / d logit_i
            dl = np.empty_like(l)
            self.loss.g_grad(l, dl)
            return dl * -l.shape[1]

        return self._flag(self.D.input_grad(_points(points), per_sample), "generator loss gradient")

    def _noise_arg(self, n, noise) -> np.ndarray:
        if noise is None:
            if n is None or n < 1:
                raise ValueError("give n >= 1 or a noise array")
            return self.noise(int(n))
        z = np.asarray(noise, dtype=float)
        if z.ndim != 2 or z.shape[1] != self.config.noise_dim:
            raise ValueError(f"noise must have shape (n, {self.config.noise_dim}), got {z.shape}")
        return z

    def _flag(self, a: np.ndarray, what: str) -> np.ndarray:
        if not np.isfinite(a).all():
            self.status = Status("diverged", f"non-finite {what} at epoch {self.epoch}", self.epoch)
        return a

    # -- changing things ------------------------------------------------------------------------

    def update(self, changes: dict | None = None, **kw: Any) -> list[str]:
        """Change any hyperparameters (nested dict, dotted keys or keywords). Live fields apply
        from the next update; architecture, noise, init and seed changes restart the model.
        Returns notes on what happened (e.g. an optimizer state reset, a restart)."""
        requested = nest({**(changes or {}), **kw})
        if "data" in requested and "data_params" not in requested and requested["data"] != self.config.data:
            requested["data_params"] = {}  # another distribution: the old one's params do not apply
        new = make_config(self.config, **requested)
        old = self.config
        data_changed = (new.data, new.data_params) != (old.data, old.data_params)
        sampler = self._sampler_for(new) if data_changed else None  # refuse before changing anything
        notes: list[str] = []
        restart = restart_fields(old, new)
        self.config = new
        if restart:
            self._build()
            return [f"restarted: {', '.join(restart)} changed"]
        for who, net, attr in (("generator", self.G, "g_opt"), ("discriminator", self.D, "d_opt")):
            hp_old, hp_new = getattr(old, attr[0] + "_optimizer"), getattr(new, attr[0] + "_optimizer")
            opt = getattr(self, attr)
            if hp_new.kind != hp_old.kind:
                setattr(self, attr, make_optimizer(net.size, hp_new, net.dtype))
                notes.append(f"{who} optimizer changed to {hp_new.kind}: its state was reset")
            else:
                opt.configure(hp_new)
        self.loss = LOSSES[new.loss]
        if new.batch_size != old.batch_size:
            self._buf = None
        if (new.g_ema > 0) != (old.g_ema > 0):
            self._sync_average()
            notes.append("generator weight average " + ("started from the current weights" if new.g_ema > 0
                                                         else "dropped: samples come from G itself"))
        if data_changed:
            self._set_data(sampler)
            notes.append(f"data changed to {new.data}")
        if not self.status.ok:
            notes.append("training resumed from the last finite state")
            self.status = Status(epoch=self.epoch)
        return notes

    def reset(self) -> None:
        """Back to epoch 0: networks, optimizers and streams re-drawn from the seed."""
        self._build()

    # -- snapshot / restore ---------------------------------------------------------------------

    def snapshot(self) -> dict:
        """The whole state as a JSON-serialisable dict."""
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "ganlab": __version__,
            "config": self.config.model_dump(mode="json"),
            "epoch": self.epoch,
            "d_steps": self.d_steps,
            "g_steps": self.g_steps,
            "generator": self.G.params.tolist(),
            "generator_average": None if self.G_avg is None else self.G_avg.params.tolist(),
            "discriminator": self.D.params.tolist(),
            "g_optimizer": self.g_opt.state(),
            "d_optimizer": self.d_opt.state(),
            "noise_pool": self.noise_pool.state(),
            "data_pool": self.data_pool.state(),
            "aux_rng": rng_state(self._aux_rng),
            "sample_rng": rng_state(self._sample_rng),
            "losses": self.losses,
            "status": asdict(self.status),
        }

    @classmethod
    def from_snapshot(cls, snap: dict) -> Trainer:
        t = cls.__new__(cls)
        t.restore(snap)
        return t

    def restore(self, snap: dict) -> None:
        """Load a snapshot; continuing then is bit-identical to never having stopped.

        Every field is checked before anything is kept (strict JSON types, counts in 0..2**53,
        RNG states of the right layout and width, pool cursors in range, arrays of the right
        length and finite): a bad snapshot raises ValueError naming the field, e.g.
        ``snapshot.epoch: must be a whole number in 0..2**53``, and leaves this trainer as it
        was."""
        sc = snapshot_check
        if not isinstance(snap, dict) or snap.get("format") != SNAPSHOT_FORMAT:
            raise sc.fail("snapshot.format", f"must be {SNAPSHOT_FORMAT!r} (not a ganlab snapshot)")
        if snap.get("version") != SNAPSHOT_VERSION or type(snap.get("version")) is not int:
            raise sc.fail("snapshot.version", f"unsupported version {short(snap.get('version'))}; "
                          f"this ganlab reads version {SNAPSHOT_VERSION}")
        snap = sc.mapping(snap, "snapshot", SNAPSHOT_KEYS, {"generator_average"})
        sc.text(snap["ganlab"], "snapshot.ganlab", 64)
        fresh = Trainer.__new__(Trainer)
        if not isinstance(snap["config"], dict):
            raise sc.fail("snapshot.config", "must be an object")
        try:  # a snapshot is machine-written JSON: its config is read with the wire's strictness
            fresh.config = make_config(snap["config"], strict=True)
            check_numbers(fresh.config.data_params)
            fresh._build()
        except ConfigError as e:
            raise ValueError("; ".join(f"snapshot.config.{f}: {m}" for f, m in e.errors)) from None
        nets = [("generator", fresh.G), ("discriminator", fresh.D)]
        if fresh.G_avg is not None and snap.get("generator_average") is not None:
            nets.append(("generator_average", fresh.G_avg))
        elif fresh.G_avg is None and snap.get("generator_average") is not None:
            raise sc.fail("snapshot.generator_average", "must be null when config.g_ema is 0")
        for key, net in nets:
            net.params[:] = sc.vector(snap[key], f"snapshot.{key}", net.size, net.dtype)
        if fresh.G_avg is not None and snap.get("generator_average") is None:
            fresh.G_avg.params[:] = fresh.G.params  # a snapshot from before averaging was on
        for key in ("g_optimizer", "d_optimizer"):
            opt, net = (fresh.g_opt, fresh.G) if key == "g_optimizer" else (fresh.d_opt, fresh.D)
            st = sc.mapping(snap[key], f"snapshot.{key}", {"kind", "t", *opt.state_names})
            if st["kind"] != opt.kind:
                raise sc.fail(f"snapshot.{key}.kind", f"{short(st['kind'])} is not the config's "
                              f"{opt.kind!r}")
            loaded = {"kind": opt.kind, "t": sc.whole(st["t"], f"snapshot.{key}.t")}
            for name in opt.state_names:
                # Second moments are sums of squares: a negative one would make sqrt NaN.
                loaded[name] = sc.vector(st[name], f"snapshot.{key}.{name}", net.size, net.dtype,
                                         nonnegative=name == "v" and opt.kind in ("adam", "rmsprop"))
            opt.load_state(loaded)
        for key in ("noise_pool", "data_pool"):
            pool = getattr(fresh, key)
            st = sc.mapping(snap[key], f"snapshot.{key}", {"rng", "cursor"})
            set_rng_state(pool.rng, st["rng"], f"snapshot.{key}.rng")  # checks before Pool.load
            pool.load({"rng": st["rng"], "cursor": sc.whole(st["cursor"], f"snapshot.{key}.cursor",
                                                             0, pool.SIZE)})
        set_rng_state(fresh._aux_rng, snap["aux_rng"], "snapshot.aux_rng")
        set_rng_state(fresh._sample_rng, snap["sample_rng"], "snapshot.sample_rng")
        fresh.epoch, fresh.d_steps, fresh.g_steps = (
            sc.whole(snap[k], f"snapshot.{k}") for k in ("epoch", "d_steps", "g_steps"))
        losses = snap["losses"] if snap["losses"] is not None else {}
        losses = sc.mapping(losses, "snapshot.losses", set(), {"d", "g"})
        fresh._losses = {k: sc.number_or_null(v, f"snapshot.losses.{k}") for k, v in losses.items()}
        st = sc.mapping(snap["status"], "snapshot.status", {"state", "message", "epoch"})
        fresh.status = Status(sc.choice(st["state"], "snapshot.status.state", ("ok", "diverged")),
                              sc.text(st["message"], "snapshot.status.message"),
                              sc.whole(st["epoch"], "snapshot.status.epoch"))
        self.__dict__.update(fresh.__dict__)

def _points(points) -> np.ndarray:
    x = np.asarray(points, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points must have shape (n, 2), got {x.shape}")
    return x


__all__ = ["Trainer", "Status", "MODES", "augment"]
