"""What each client message does to a session (docs/protocol.md, "Client messages").

Every ``on_<type>`` handler gets the validated message and returns the ack's extra fields, or
raises :class:`messages.ProtocolError`; handlers run between training chunks, so a change never
lands in the middle of an update.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ganlab import Config, ConfigError, Trainer
from ganlab.config import check_numbers, config_dump, make_config, merge, nest, restart_fields, short
from ganlab.data import DISTRIBUTIONS
from ganlab.data.images import IMAGE_SETS

from . import image_uploads, snapshots
from . import messages as m
from .image_data import image_preset, is_image_set
from .layers import FrameBuilder
from .replies import ConfigEcho

STAGES = [
    ("d_sample", "Generator derives fake samples from noise"),
    ("d_classify", "Discriminator classifies real and fake samples"),
    ("d_loss", "Discriminator loss is computed"),
    ("d_gradients", "Gradients of the discriminator loss are computed"),
    ("d_update", "Discriminator parameters are updated"),
    ("g_sample", "Generator derives fake samples from noise"),
    ("g_classify", "Discriminator classifies the fake samples"),
    ("g_loss", "Generator loss is computed"),
    ("g_gradients", "Gradients of the generator loss are computed"),
    ("g_update", "Generator parameters are updated"),
]
D_UPDATE, G_UPDATE = 4, 9
# Config fields whose range depends on the kind of data (2D points or images).
KIND_FIELDS = ("generator.units", "discriminator.units", "noise_dim", "conditional")


class Commands:
    """The message handlers of :class:`session.Session` (which provides the state below)."""

    trainer: Trainer
    frames: FrameBuilder
    running: bool
    speed: float | None
    slowmo: dict
    stage: int
    version: int
    wake: asyncio.Event  # the runner's: play / pause / speed / slow motion changed
    dirty: asyncio.Event  # the frame sender's: something to draw while paused
    _echo: ConfigEcho | None = None  # digests of bulk data, kept between replies

    def changed(self) -> None:
        """A change that is not training: the next frame must show it."""
        self.version += 1
        self.wake.set()
        self.dirty.set()

    def on_play(self, msg: m.Play) -> dict:
        if not self.trainer.status.ok:
            raise m.ProtocolError("diverged", self.trainer.status.message, msg.id)
        self.running = True
        self.wake.set()
        return {"running": True}

    def settle(self) -> None:
        """Finish an epoch that a time-limited training chunk left unfinished (at most one
        epoch's updates), so that every state a client pauses at, edits, steps from or saves is
        at an epoch boundary: a link's edits then replay at their epochs exactly (schedule)."""
        t = self.trainer
        if t.mid_epoch and t.status.ok:
            t.train(1)

    def on_pause(self, msg: m.Pause) -> dict:
        # Commands run between chunks, so no training happens after this point.
        self.settle()
        self.running = False
        self.wake.set()
        return {"running": False, "epoch": self.trainer.epoch}

    def on_step(self, msg: m.Step) -> dict:
        t = self.trainer
        self.running = False
        self.wake.set()
        self._finish_epoch()
        begun, self.step_begun = self.step_begun, False
        if not begun:  # else the session trained this step's first updates (_step_in_slices)
            self.settle()
        if not t.step(msg.mode):
            raise m.ProtocolError("diverged", t.status.message or "training diverged", msg.id)
        return {"epoch": t.epoch, "d_steps": t.d_steps, "g_steps": t.g_steps}

    def on_reset(self, msg: m.Reset) -> dict:
        self.trainer.reset()
        self.stage = 0
        self.changed()
        return {"epoch": 0, "running": self.running}

    def config_echo(self) -> dict:
        """The config as replies carry it: bulk data by size and digest (replies.py)."""
        if self._echo is None:
            self._echo = ConfigEcho()
        return self._echo(self.trainer.config)

    def on_config(self, msg: m.ConfigChange) -> dict:
        return self._update(msg.changes, msg.id, "config")

    def on_data(self, msg: m.Data) -> dict:
        """A new distribution (or new parameters) starts a new experiment, as ``reset`` does,
        unless the message says ``keep``: then only the data changes and training carries on."""
        dist = DISTRIBUTIONS.get(msg.name)
        image = image_uploads.ensure(msg.name) or is_image_set(msg.name)
        if dist is None and not image:
            raise m.ProtocolError(
                "bad_data", f"data.name: unknown distribution {short(msg.name)}; choose one of "
                f"{', '.join([*DISTRIBUTIONS, *IMAGE_SETS])}", msg.id)
        if image and msg.params:
            raise m.ProtocolError("bad_data", f"data.params: the image set {msg.name} takes no "
                                  "parameters", msg.id)
        changes: dict[str, Any] = {"data": msg.name, "data_params": msg.params or {}}
        t = self.trainer
        base: dict[str, Any] = {}
        if is_image_set(t.config.data) != image:
            # Another kind of data (points <-> images): the fields whose range depends on the
            # kind start from their defaults, so a 2D config never meets MNIST and back.
            defaults = config_dump(Config())
            base = nest({f: _get(defaults, f) for f in KIND_FIELDS})
        if msg.apply_preset:  # the preset over those defaults, the data over both
            base = merge(base, nest(dict(image_preset(msg.name) if image else dist.preset)))
        changes = merge(base, changes)
        before = (t.config.data, t.config.data_params)
        reply = self._update(changes, msg.id, "data")
        if not msg.keep and not reply["restarted"] and (t.config.data, t.config.data_params) != before:
            t.reset()
            self.stage = 0
            reply.update(restarted=True, epoch=0,
                         notes=[*reply["notes"], "restarted: a new distribution starts a new experiment"])
            self.changed()
        return reply

    def _update(self, changes: dict, mid: Any, kind: str) -> dict:
        """Apply config changes from a ``config`` or ``data`` message, strictly typed."""
        self.settle()
        t = self.trainer
        old = t.config
        try:
            # The wire is strict ("3" is not a number, 1 not a boolean, 7.0 not an integer);
            # Trainer.update (the Python API) is lax, so check first, then apply.
            nested = nest(changes)
            image_uploads.ensure(nested.get("data"))  # an uploaded set stored by another worker
            make_config(merge(config_dump(old), nested), strict=True)
            check_numbers(nested.get("data_params"))
            notes = t.update(changes)  # refuses bad data before it changes anything
        except ConfigError as e:
            data_error = any(f.split(".")[0] in ("data", "data_params") for f, _ in e.errors)
            code = "bad_data" if data_error or kind == "data" else "bad_message"
            raise m.ProtocolError(code, "; ".join(f"{_wire_path(kind, f)}: {msg}"
                                                  for f, msg in e.errors), mid) from None
        restarted = bool(restart_fields(old, t.config))
        if restarted:
            self.stage = 0
        if notes or t.config != old:  # a no-op change redraws nothing
            self.changed()
        return {"config": self.config_echo(), "notes": notes, "restarted": restarted,
                "epoch": t.epoch}

    def on_speed(self, msg: m.Speed) -> dict:
        self.speed = msg.epochs_per_sec
        self.wake.set()
        return {"speed": self.speed}

    def on_slowmo(self, msg: m.Slowmo) -> dict:
        self.settle()
        if not msg.on:
            self._finish_epoch()
        self.slowmo = {"on": msg.on, "stage_seconds": msg.stage_seconds}
        self.wake.set()
        return {"slowmo": dict(self.slowmo)}

    def _finish_epoch(self) -> None:
        """Leaving slow motion mid-epoch: complete an epoch whose D phase was applied."""
        t = self.trainer
        if self.stage > D_UPDATE and t.status.ok and all(
                t.step("generator") for _ in range(t.config.k_g)):
            t.epoch += 1
        self.stage = 0

    def on_view(self, msg: m.View) -> dict:
        v = self.frames.view
        for k in ("heatmap", "samples", "manifold", "fps", "extent", "walk_seed", "walk_class"):
            if getattr(msg, k) is not None:
                v[k] = getattr(msg, k)
        if msg.layers is not None:
            v["layers"] = list(dict.fromkeys(msg.layers))
        self.frames.images.reals_sent = None  # image data: the next frame brings the real grid again
        self.changed()
        return {"view": dict(v)}

    outgoing: bytes | None = None  # a binary snapshot, sent right after the ack (session.handle)
    incoming: tuple | None = None  # (id, bytes) of an announced binary restore

    def on_snapshot(self, msg: m.Snapshot) -> dict:
        self.settle()
        if msg.binary:
            self.outgoing = snapshots.to_bytes(self.trainer)
            t = self.trainer
            return {"binary": len(self.outgoing), "epoch": t.epoch, "d_steps": t.d_steps,
                    "g_steps": t.g_steps}
        return {"snapshot": self.trainer.snapshot()}

    def on_restore(self, msg: m.Restore) -> dict:
        if msg.binary is not None:
            self.incoming = (msg.id, msg.binary)  # the reply follows the binary message
            return {}
        config = msg.snapshot.get("config")
        image_uploads.ensure(config.get("data") if isinstance(config, dict) else None)
        return self.restore_with(lambda t: t.restore(msg.snapshot), msg.id)

    def take_incoming(self, data: bytes) -> Any:
        """The id of the announced binary restore that ``data`` is; ProtocolError if its length
        is not the announced one."""
        mid, size = self.incoming
        self.incoming = None
        if len(data) != size:
            raise m.ProtocolError("bad_snapshot", f"restore.binary: {size} bytes announced, "
                                  f"{len(data)} received", mid)
        return mid

    def restore_with(self, restore, mid: Any) -> dict:
        """Restore the trainer with ``restore(trainer)`` and return the ack's fields."""
        try:
            restore(self.trainer)  # validates everything first: a refusal changes nothing
        except ValueError as e:
            return self.restored(mid, e)
        return self.restored(mid)

    def restored(self, mid: Any, failed: ValueError | None = None) -> dict:
        """After a restore: the ack's fields, or ProtocolError(bad_snapshot) if it ``failed``."""
        if failed is not None:
            raise m.ProtocolError("bad_snapshot", str(failed), mid) from None
        t = self.trainer
        self.stage = 0
        if not t.status.ok:
            self.running = False
        self.changed()
        return {"config": self.config_echo(), "epoch": t.epoch, "d_steps": t.d_steps,
                "g_steps": t.g_steps, "running": self.running}

    def on_ping(self, msg: m.Ping) -> dict:
        return {}

    edits_reported = 0  # scheduled edits the client was told about (session.report_schedule)
    step_begun = False  # a step's epoch was begun in slices by the session (on_step finishes it)

    def on_schedule(self, msg: m.Schedule) -> dict:
        self.settle()
        t = self.trainer
        edits = [e.model_dump(exclude_none=True) for e in msg.edits]
        try:
            # The wire is strict (as for `config`): each edit's changes on top of the ones before.
            cfg = config_dump(t.config)
            for i, e in enumerate(edits):
                if "changes" in e:
                    try:
                        cfg = config_dump(make_config(merge(cfg, nest(e["changes"])), strict=True))
                    except ConfigError as err:
                        raise ConfigError([(f"edits[{i}].changes.{f}", s) for f, s in err.errors]) from None
            t.schedule(edits, msg.pause_at)
        except ConfigError as e:
            code = "bad_data" if any(".changes.data" in f for f, _ in e.errors) else "bad_message"
            raise m.ProtocolError(code, "; ".join(f"schedule.{f}: {s}" for f, s in e.errors), msg.id) from None
        self.edits_reported = t.edits_applied  # edits due now applied at once: the ack says so
        self.changed()
        return {"edits": len(msg.edits), "applied": t.edits_applied, "pause_at": t.pause_at,
                "epoch": t.epoch, "config": self.config_echo()}

def _get(d: dict, path: str) -> Any:
    for part in path.split("."):
        d = d[part]
    return d


def _wire_path(kind: str, path: str) -> str:
    """A config path as the message named it: ``config.batch_size``; for ``data``, the config's
    ``data`` / ``data_params`` are the message's ``name`` / ``params``."""
    if kind == "data":
        head, _, rest = path.partition(".")
        head = {"data": "name", "data_params": "params"}.get(head, head)
        return ".".join(["data", head] + ([rest] if rest else []))
    return f"{kind}.{path}"
