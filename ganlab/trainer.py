"""The training loop: one generator, one discriminator, their optimizers, data and noise.

Data are rows of ``dim`` numbers: 2D points (dim 2) or images flattened to h*w pixels in [-1, 1]
(dim 64 or 784). With ``conditional`` a one-hot label (``classes`` columns) is appended to G's noise
and to D's input, real rows carrying their own label and fake rows the label G was given.

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

from . import __version__, snapshot_bin, snapshot_check
from .config import Config, ConfigError, check_numbers, is_image_data, make_config, nest, restart_fields, short
from .data import DataError, make_sampler
from .data.images.sampler import ImageSampler, one_hot
from .losses import LOSSES
from .mlp import MLP, Workspace, augment
from .noise import Pool, noise_fill, rng_state, sample_noise, set_rng_state
from .optimizers import make_optimizer
from .rawnp import all_finite, copyto, dot

MODES = ("both", "generator", "discriminator")
SNAPSHOT_FORMAT = "ganlab-snapshot"
SNAPSHOT_VERSION = 1
SNAPSHOT_KEYS = {"format", "version", "ganlab", "config", "epoch", "d_steps", "g_steps", "generator",
                 "discriminator", "g_optimizer", "d_optimizer", "noise_pool", "data_pool", "aux_rng",
                 "sample_rng", "losses", "status"}
SNAPSHOT_OPTIONAL = {"generator_average", "dropout_rng"}  # dropout_rng: absent before issue 10


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
        n_in, dim = D.sizes[0], G.sizes[-1]  # D reads [x; label] (n_in = dim + classes)
        # D step: D sees [real | fake] as one (n_in + 1, 2B) input; batch-major storage, F-order view.
        self.xd_rows = np.ones((2 * B, n_in + 1), dt)
        self.xd = self.xd_rows.T
        self.xd_real, self.xd_fake, self.xd_label = self.xd_rows[:B], self.xd_rows[B:, :dim], self.xd_rows[B:, dim:n_in]
        self.g_for_d = Workspace(G, B)
        self.g_for_ds: dict[int, Workspace] = {}  # G for all k D steps of an epoch at once, by k
        self.d_both = Workspace(D, 2 * B)
        self.dl_both = np.empty((1, 2 * B), dt)
        # G step: G writes its output into the first dim rows of D's (n_in + 1, B) input.
        self.xg = np.ones((n_in + 1, B), dt)
        self.g_for_g = Workspace(G, B)
        self.g_for_g.out = self.xg[:dim]
        self.d_fake = Workspace(D, B)
        self.dl_fake = np.empty((1, B), dt)


class Trainer:
    """A GAN on 2D points or on images. See the README for the API tour.

    ``dim`` is the size of one sample (2, 64 or 784), ``image_shape`` (h, w) for image data else
    None, ``classes`` the number of labels of a labelled image set else None."""

    def __init__(self, config: Config | dict | None = None, /, **overrides: Any):
        self.config = make_config(config, **overrides)
        self._build()

    # -- construction ---------------------------------------------------------------------------

    def _build(self) -> None:
        """(Re)create networks, optimizers, pools and counters from the config and its seed."""
        cfg = self.config
        ss = np.random.SeedSequence(cfg.seed)
        # A 7th child leaves the first six (and so every 2D run) as they were.
        s_g, s_d, s_noise, s_data, s_aux, s_sample, s_drop = ss.spawn(7)
        gc, dc = cfg.generator, cfg.discriminator
        dt = cfg.precision
        self._set_shape(cfg)
        C = self._cond
        self.G = MLP(cfg.noise_dim + C, self.dim, gc.layers, gc.units, gc.activation, gc.output, cfg.init,
                     np.random.default_rng(s_g), dt, slope=gc.leaky_slope)
        self.D = MLP(self.dim + C, 1, dc.layers, dc.units, dc.activation, "linear", cfg.init,
                     np.random.default_rng(s_d), dt, slope=dc.leaky_slope)
        self.G_avg: MLP | None = None
        self._sync_average()
        self.g_opt = make_optimizer(self.G.size, cfg.g_optimizer, dt)
        self.d_opt = make_optimizer(self.D.size, cfg.d_optimizer, dt)
        self.loss = LOSSES[cfg.loss]
        self._noise_rng = np.random.default_rng(s_noise)
        self._data_rng = np.random.default_rng(s_data)
        self._aux_rng = np.random.default_rng(s_aux)
        self._sample_rng = np.random.default_rng(s_sample)
        self._drop_rng = np.random.default_rng(s_drop)  # dropout masks: drawn only when dropout > 0
        self._viz_seed = int(ss.generate_state(1)[0])
        self._viz: dict[tuple, np.ndarray] = {}
        # The fill is a plain function of the noise settings, not a bound method: a pool holding
        # its trainer would be a reference cycle, and a closed session would wait for a full
        # garbage collection to free its networks.
        self.noise_pool = Pool(self._noise_rng, noise_fill(cfg.noise, cfg.noise_dim, C), cfg.noise_dim + C, dt)
        self._set_data(self._sampler_for(cfg))
        self._buf: _Buffers | None = None
        self.epoch = self.d_steps = self.g_steps = 0
        self._edits: list[dict] = []  # scheduled edits (see ``schedule``); a restart drops them
        self.pause_at: int | None = None
        self.edits_applied = 0
        self._pos = 0  # updates done in an epoch a time-limited train() left unfinished
        self._epoch_fakes: np.ndarray | None = None  # that epoch's G(z) for its D steps
        self._epoch_labels: np.ndarray | None = None  # and their one-hot labels (conditional)
        self.status = Status()
        self._last: dict[str, Any] = {}
        self._losses: dict[str, float] = {}
        self._live_settings()

    def _live_settings(self) -> None:
        """Copy the live settings the updates read every step (dropout rate, label smoothing)
        out of the config; dropout switched off clears the training workspaces' masks."""
        cfg = self.config
        self._drop = cfg.discriminator.dropout
        self._smooth = cfg.label_smoothing
        self._penalised = (self.loss.gradient_penalty and cfg.gp_weight > 0) or cfg.r1 > 0
        if not self._drop and self._buf is not None:
            self._buf.d_both.dropout = self._buf.d_fake.dropout = False

    def _set_shape(self, cfg: Config) -> None:
        """``dim``, ``image_shape``, ``classes`` and the label columns (``_cond``) of the data."""
        if is_image_data(cfg.data):
            info = ImageSampler.info(cfg.data)
            self.dim, self.image_shape, self.classes = info["dim"], info["image_shape"], info["classes"]
        else:
            self.dim, self.image_shape, self.classes = 2, None, None
        self._cond = self.classes if cfg.conditional else 0

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

    @staticmethod
    def _sampler_for(cfg: Config):
        try:
            if is_image_data(cfg.data):
                if cfg.data_params:
                    raise DataError(f"data {cfg.data!r} takes no parameters, got {sorted(cfg.data_params)}")
                return ImageSampler(cfg.data, cfg.conditional, cfg.precision)
            return make_sampler(cfg.data, cfg.data_params)
        except DataError as e:
            raise ConfigError([("data_params" if cfg.data_params else "data", str(e))]) from None

    def _set_data(self, sampler) -> None:
        self.sampler = sampler
        self.data_pool = Pool(self._data_rng, sampler, self.dim + self._cond, self.config.precision)

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
        if not math.isfinite(dot(g, g)):
            return self._diverged(f"non-finite {who} gradient")
        copyto(net.backup, p)
        opt.step(p, g)
        if not math.isfinite(dot(p, p)):
            copyto(net.params, net.backup)
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
        """G(z) for the k D steps of an epoch in one pass, (dim, k B), or None when k B noise rows
        exceed a pool. G does not change between D steps, so one pass on k B columns gives the
        same fakes as k passes on B, for one pass's overhead. A conditional G's labels for them
        are kept in ``_epoch_labels`` (k B, classes)."""
        b = self._buf or self._buffers()
        n = k * b.B
        if k < 2 or n > self.noise_pool.SIZE:
            return None
        ws = b.g_for_ds.get(k)
        if ws is None:
            ws = b.g_for_ds[k] = Workspace(self.G, n)
        z = self.noise_pool.take(n)
        if self._cond:
            nd = self.config.noise_dim
            self._epoch_labels = z[:, nd : nd + self._cond].copy()  # the pool may refill before they are used
        return self.G.forward(ws, z.T)

    def _d_update(self, fake: np.ndarray | None = None, labels: np.ndarray | None = None) -> bool:
        """One D step on a fresh real batch and ``fake`` (dim, B) with its one-hot ``labels``
        (B, classes; conditional only), or on fresh fakes if None."""
        b = self._buf or self._buffers()
        B, D, loss, C = b.B, self.D, self.loss, self._cond
        real = self.data_pool.take(B)
        if fake is None:
            z = self.noise_pool.take(B)
            fake = self.G.forward(b.g_for_d, z.T)
            if C:
                nd = self.config.noise_dim
                labels = z[:, nd : nd + C]
        copyto(b.xd_real, real)
        copyto(b.xd_fake, fake.T)
        if C:
            copyto(b.xd_label, labels)
        if self._drop:
            D.draw_dropout(b.d_both, self._drop, self._drop_rng)
        logits = D.forward(b.d_both, b.xd)
        smooth = self._smooth
        loss.d_grad(logits, B, b.dl_both, smooth)
        D.backward(b.d_both, b.dl_both, True, False)
        penalty = self._penalties(b) if self._penalised else 0.0
        if not self._apply(D, self.d_opt, "discriminator"):
            return False
        if loss.clips_weights:
            c = self.config.clip
            np.clip(D.params, -c, c, out=D.params)
        self.d_steps += 1
        self._last["d"] = (loss, logits, B, penalty, smooth)
        return True

    def _penalties(self, b: _Buffers) -> float:
        """Add the gradient penalties that are on (WGAN-GP's, R1) to D's gradient after a D
        step's backward on ``b``; returns their value."""
        cfg, D, B = self.config, self.D, b.B
        penalty = 0.0
        n_in = self.dim + self._cond
        if self.loss.gradient_penalty and cfg.gp_weight > 0:
            eps = self._aux_rng.random((B, 1))
            xr, xf = b.xd_rows[:B, :n_in], b.xd_rows[B:, :n_in]
            penalty = D.penalty_grad(eps * xr + (1.0 - eps) * xf, cfg.gp_weight)
        if cfg.r1 > 0 and self.d_steps % cfg.r1_every == 0:
            # R1: gamma/2 * mean ||grad_x D(x_real)||^2 pulls D's gradient on the data to zero;
            # lazily on every k-th step only, weighted k times, it costs 1/k as much.
            penalty += D.penalty_grad(b.xd_rows[:B, :n_in], 0.5 * cfg.r1 * cfg.r1_every, center=0.0)
        return penalty

    def _g_update(self) -> bool:
        b = self._buf or self._buffers()
        G, D, loss, C = self.G, self.D, self.loss, self._cond
        z = self.noise_pool.take(b.B)
        G.forward(b.g_for_g, z.T)
        if C:
            nd = self.config.noise_dim
            np.copyto(b.xg[self.dim : self.dim + C], z.T[nd : nd + C])
        if self._drop:
            D.draw_dropout(b.d_fake, self._drop, self._drop_rng)
        logits = D.forward(b.d_fake, b.xg)
        loss.g_grad(logits, b.dl_fake)
        dx = D.backward(b.d_fake, b.dl_fake, False, True)
        G.backward(b.g_for_g, dx[: self.dim] if C else dx, True, False)
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
            if not self._apply_due():
                return False
            return self._d_update() if mode == "discriminator" else self._g_update()

    def train(self, epochs: int, seconds: float | None = None) -> int:
        """Run up to ``epochs`` epochs (stopping early after ``seconds`` of wall time, if given, or
        on divergence). Returns the number of epochs completed.

        With ``seconds`` the time is checked after every update, so a call can return in the
        middle of an epoch (then ``mid_epoch`` is True); the next call resumes at the next update
        of that epoch with the same fakes, and the result is bit-identical to unsliced training.
        """
        if not self.status.ok:
            return 0
        self._losses = {}
        deadline = None if seconds is None else time.perf_counter() + seconds
        with np.errstate(over="ignore", invalid="ignore"):  # blow-ups are caught, not warned
            if self._edits or self.pause_at is not None:
                return self._train_scheduled(epochs, deadline)
            return self._loop(epochs, deadline)

    # -- scheduled edits: a link's live edits, replayed at their epochs -------------------------

    def schedule(self, edits: list[dict], pause_at: int | None = None) -> None:
        """Apply each edit when ``epoch`` equals its ``"epoch"``, before the next epoch trains.

        An edit is ``{"epoch": E, "changes": {...}}`` (live hyperparameters or data, as
        ``update``) or ``{"epoch": E, "step": "discriminator" | "generator"}`` (one update, as
        ``step``); edits of one epoch apply in list order. Training (``train``) stops when
        ``epoch`` reaches ``pause_at`` (after that epoch's edits) and clears it. Applying the
        edits this way is bit-identical to making them by hand at those epochs. Edits due now
        apply at once; a reset or restart drops the schedule. Raises ConfigError naming
        ``edits[i]`` (epochs before now or out of order, a change that would restart, bad data)
        with the trainer unchanged."""
        cfg, last, errors = self.config, self.epoch, []
        for i, e in enumerate(edits):
            where = f"edits[{i}]"
            if not isinstance(e.get("epoch"), int) or e["epoch"] < last:
                errors.append((f"{where}.epoch", f"must be an integer >= {last} (now, or the previous edit's)"))
                continue
            last = e["epoch"]
            if ("changes" in e) == ("step" in e):
                errors.append((where, "needs exactly one of 'changes' and 'step'"))
            elif "step" in e:
                if e["step"] not in ("discriminator", "generator"):
                    errors.append((f"{where}.step", "must be 'discriminator' or 'generator'"))
            else:
                try:
                    new = make_config(cfg, **self._requested(cfg, e["changes"]))
                    if (new.data, new.data_params) != (cfg.data, cfg.data_params):
                        self._sampler_for(new)
                except ConfigError as err:
                    errors += [(f"{where}.changes.{f}", m) for f, m in err.errors]
                    continue
                except (TypeError, ValueError) as err:
                    errors.append((f"{where}.changes", str(err)))
                    continue
                if restart_fields(cfg, new):
                    errors.append((f"{where}.changes", f"{', '.join(restart_fields(cfg, new))} would restart "
                                   "training; a schedule holds live edits only"))
                cfg = new
        if pause_at is not None and (not isinstance(pause_at, int) or pause_at < self.epoch):
            errors.append(("pause_at", f"must be an integer >= {self.epoch} (the current epoch) or null"))
        if errors:
            raise ConfigError(errors)
        self._edits = [dict(e) for e in edits]
        self.pause_at = pause_at
        self.edits_applied = 0
        with np.errstate(over="ignore", invalid="ignore"):
            self._apply_due()
        if self.pause_at is not None and self.pause_at <= self.epoch:
            self.pause_at = None  # already there

    @property
    def edits_pending(self) -> int:
        """Scheduled edits not applied yet."""
        return len(self._edits)

    def _apply_due(self) -> bool:
        """Apply the scheduled edits due at this epoch; False if a scheduled update diverged."""
        while self._edits and self._edits[0]["epoch"] <= self.epoch:
            e = self._edits.pop(0)
            self.edits_applied += 1
            if "changes" in e:
                self.update(e["changes"])
            elif not (self._d_update() if e["step"] == "discriminator" else self._g_update()):
                return False
        return True

    def _train_scheduled(self, epochs: int, deadline: float | None) -> int:
        """``train`` with a schedule: runs of ``_loop`` between the epochs where edits are due."""
        done = 0
        while self._apply_due():
            if self.pause_at is not None and self.epoch >= self.pause_at:
                self.pause_at = None
                break
            if done >= epochs:
                break
            ahead = [x - self.epoch for x in (self._edits[0]["epoch"] if self._edits else None, self.pause_at)
                     if x is not None]
            run = min([epochs - done, *ahead])
            n = self._loop(run, deadline)
            done += n
            if n < run or (deadline is not None and time.perf_counter() >= deadline):
                break  # divergence or out of time
        return done

    @property
    def updates_left(self) -> int:
        """Updates until the current epoch is complete (k_d + k_g at an epoch boundary)."""
        return self.config.k_d + self.config.k_g - self._pos

    @property
    def mid_epoch(self) -> bool:
        """Whether a time-limited ``train`` stopped inside an epoch (some of its updates done)."""
        return self._pos > 0

    def _loop(self, epochs: int, deadline: float | None) -> int:
        k_d, k_g, B = self.config.k_d, self.config.k_g, self.config.batch_size
        d_update, g_update = self._d_update, self._g_update
        clock = time.perf_counter
        done = 0
        while done < epochs:
            pos = self._pos  # updates of this epoch already applied (0 unless resuming)
            if pos == 0:
                self._epoch_fakes = self._fakes(k_d)
            fakes = self._epoch_fakes
            for i in range(pos, k_d + k_g):
                fake = labels = None
                if fakes is not None and i < k_d:
                    fake = fakes[:, i * B : (i + 1) * B]
                    if self._cond:
                        labels = self._epoch_labels[i * B : (i + 1) * B]
                if not (d_update(fake, labels) if i < k_d else g_update()):
                    self._pos, self._epoch_fakes = 0, None  # a resumed run starts a fresh epoch
                    return done
                if deadline is not None and i + 1 < k_d + k_g and clock() >= deadline:
                    self._pos = i + 1
                    return done
            self._pos, self._epoch_fakes = 0, None
            self.epoch += 1
            done += 1
            if deadline is not None and clock() >= deadline:
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
                loss, l, nr, penalty, smooth = self._last["d"]
                out["d"] = loss.d_value(l[0, :nr], l[0, nr:], smooth) + penalty
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
        """n samples (n, dim) from the data (a stream that does not disturb training)."""
        if self.image_shape is not None:
            return self.sampler.labelled(self._sample_rng, n)[0]
        return self.sampler(self._sample_rng, n)

    def real_labelled(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """n images (n, dim) in [-1, 1] and their labels (n,), from the same stream as ``real``."""
        if self.classes is None:
            raise ValueError(f"data {self.config.data!r} has no labels (only the image sets do)")
        return self.sampler.labelled(self._sample_rng, n)

    def sample(self, n: int | None = None, noise: np.ndarray | None = None,
               labels: np.ndarray | None = None) -> np.ndarray:
        """G(z) as (n, dim) for the given noise (n, noise_dim), or for n fresh noise vectors.

        A conditional G writes the given ``labels`` (ints (n,)), or labels drawn uniformly from a
        stream that does not disturb training."""
        z = self._noise_arg(n, noise)
        if self._cond:
            y = self._sample_rng.integers(0, self._cond, len(z)) if labels is None else self._labels(labels, len(z))
            z = np.hstack([z, one_hot(y, self._cond)])
        elif labels is not None:
            raise ValueError("labels: only a conditional generator (conditional=True) takes labels")
        return self._flag(self.G_out(z), "generator output")

    def _labels(self, labels, n: int) -> np.ndarray:
        y = np.asarray(labels)
        if y.shape != (n,) or y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= self._cond)):
            raise ValueError(f"labels: must be {n} whole numbers in 0..{self._cond - 1}, one per sample")
        return y

    def _d_input(self, points, labels) -> np.ndarray:
        """x (n, dim), with the one-hot labels appended for a conditional D."""
        x = _points(points, self.dim)
        if self._cond:
            if labels is None:
                raise ValueError("labels: a conditional discriminator needs the label of each input")
            return np.hstack([x, one_hot(self._labels(labels, len(x)), self._cond)])
        if labels is not None:
            raise ValueError("labels: only a conditional discriminator (conditional=True) takes labels")
        return x

    def discriminate(self, points: np.ndarray, output: str = "prob", labels: np.ndarray | None = None) -> np.ndarray:
        """D at inputs (n, dim) (dropout off): ``prob`` is what the page shows in [0, 1] (sigmoid
        of the logit for log losses), ``logit`` the raw output. Returns (n,). A conditional D
        needs the ``labels`` (ints (n,)) too."""
        l = self.D(self._d_input(points, labels))[:, 0]
        return self._flag(l if output == "logit" else self.loss.prob(l), "discriminator output")

    def d_grad(self, points: np.ndarray, output: str = "prob", labels: np.ndarray | None = None) -> np.ndarray:
        """dD/dx at inputs (n, dim): GAN Lab's gradient arrows (``prob``) or d logit / dx.
        Returns (n, dim) (a conditional D's gradient on its label columns is left out)."""
        x = self._d_input(points, labels)
        dim = self.dim
        if output == "logit":
            return self._flag(self.D.input_grad(x)[:, :dim], "discriminator gradient")
        # d sigma(l)/dx = sigma'(l) dl/dx; the display squash is a sigmoid for every loss but
        # lsgan, whose clip has derivative [0 < l < 1].
        if self.loss.name == "lsgan":
            def scale(l):
                return ((l > 0) & (l < 1)).astype(float)
        else:
            def scale(l):
                p = self.loss.prob(l)
                return p * (1 - p)
        return self._flag(self.D.input_grad(x, scale)[:, :dim], "discriminator gradient")

    def g_loss_grad(self, points: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """-d l_G / dx at fake points x (n, dim), l_G the per-sample generator loss: the direction
        the generator's loss pushes each sample."""

        def per_sample(l):  # g_grad averages over the chunk; times -b gives -d l_G,i / d logit_i
            dl = np.empty_like(l)
            self.loss.g_grad(l, dl)
            return dl * -l.shape[1]

        g = self.D.input_grad(self._d_input(points, labels), per_sample)[:, : self.dim]
        return self._flag(g, "generator loss gradient")

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
        if not all_finite(a):
            self.status = Status("diverged", f"non-finite {what} at epoch {self.epoch}", self.epoch)
        return a

    # -- changing things ------------------------------------------------------------------------

    def update(self, changes: dict | None = None, **kw: Any) -> list[str]:
        """Change any hyperparameters (nested dict, dotted keys or keywords). Live fields apply
        from the next update; architecture, noise, init and seed changes restart the model.
        Returns notes on what happened (e.g. an optimizer state reset, a restart)."""
        new = make_config(self.config, **self._requested(self.config, {**(changes or {}), **kw}))
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
        self._live_settings()
        if self._pos:
            # Changed inside an epoch left unfinished by a time-limited train(): its remaining
            # D steps draw fresh fakes under the new settings; with no update left, it is done.
            self._epoch_fakes = None
            if self._pos >= new.k_d + new.k_g:
                self._pos = 0
                self.epoch += 1
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

    @staticmethod
    def _requested(cfg: Config, changes: dict) -> dict:
        """``changes`` nested; another distribution without params drops the old one's params, and
        a change between 2D and image data without a precision takes that kind's default."""
        requested = nest(dict(changes))
        if "data" in requested and "data_params" not in requested and requested["data"] != cfg.data:
            requested["data_params"] = {}
        if ("data" in requested and "precision" not in requested
                and is_image_data(requested["data"]) != is_image_data(cfg.data)):
            requested["precision"] = "float32" if is_image_data(requested["data"]) else "float64"
        return requested

    def reset(self) -> None:
        """Back to epoch 0: networks, optimizers and streams re-drawn from the seed."""
        self._build()

    # -- snapshot / restore ---------------------------------------------------------------------

    def snapshot(self) -> dict:
        """The whole state as a JSON-serialisable dict."""
        return self._snapshot(arrays=False)

    def snapshot_bytes(self) -> bytes:
        """The whole state as a binary snapshot (``ganlab.snapshot_bin``: a JSON header and the
        weights and optimizer moments as raw little-endian arrays); megabytes for image models
        where the JSON snapshot would be tens of megabytes of text."""
        return snapshot_bin.encode(self._snapshot(arrays=True))

    @classmethod
    def from_bytes(cls, data: bytes) -> Trainer:
        """A trainer from ``snapshot_bytes`` output (ValueError naming what is wrong if the bytes
        are damaged, truncated, oversized, or hold an invalid snapshot)."""
        t = cls.__new__(cls)
        t.restore(snapshot_bin.decode(data))
        return t

    def _snapshot(self, arrays: bool) -> dict:
        vec = (lambda a: a.copy()) if arrays else (lambda a: a.tolist())
        return {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "ganlab": __version__,
            "config": self.config.model_dump(mode="json"),
            "epoch": self.epoch,
            "d_steps": self.d_steps,
            "g_steps": self.g_steps,
            "generator": vec(self.G.params),
            "generator_average": None if self.G_avg is None else vec(self.G_avg.params),
            "discriminator": vec(self.D.params),
            "g_optimizer": self.g_opt.state(arrays),
            "d_optimizer": self.d_opt.state(arrays),
            "noise_pool": self.noise_pool.state(),
            "data_pool": self.data_pool.state(),
            "aux_rng": rng_state(self._aux_rng),
            "sample_rng": rng_state(self._sample_rng),
            "dropout_rng": rng_state(self._drop_rng),
            "losses": self.losses,
            "status": asdict(self.status),
        }

    @classmethod
    def from_snapshot(cls, snap: dict) -> Trainer:
        """A trainer from ``snapshot()`` output, or from the page's saved state file (its JSON,
        whose ``page`` entry holds the page's own settings: layers, speed, drawing; set aside)."""
        if isinstance(snap, dict) and isinstance(snap.get("page"), dict):
            snap = {k: v for k, v in snap.items() if k != "page"}
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
        snap = sc.mapping(snap, "snapshot", SNAPSHOT_KEYS, SNAPSHOT_OPTIONAL)
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
        if snap.get("dropout_rng") is not None:
            set_rng_state(fresh._drop_rng, snap["dropout_rng"], "snapshot.dropout_rng")
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

def _points(points, dim: int = 2) -> np.ndarray:
    x = np.asarray(points, dtype=float)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{'points' if dim == 2 else 'images'} must have shape (n, {dim}), got {x.shape}")
    return x


__all__ = ["Trainer", "Status", "MODES", "augment"]
