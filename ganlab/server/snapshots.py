"""Binary snapshots over the websocket: the trainer's binary encoding (JSON header + raw arrays,
:mod:`ganlab.snapshot_bin`), for image models whose JSON state would be tens of megabytes
(docs/protocol.md, "Snapshots")."""

from __future__ import annotations

from ganlab import Trainer


def to_bytes(t: Trainer) -> bytes:
    """The trainer's state as its binary snapshot."""
    return t.snapshot_bytes()


def restore_bytes(t: Trainer, data: bytes) -> None:
    """Restore ``t`` from a binary snapshot: decoded and checked as the JSON snapshot is, so a
    ValueError (naming what is wrong) leaves the trainer as it was."""
    from ganlab.snapshot_bin import decode

    from .image_uploads import ensure

    snap = decode(data)
    config = snap.get("config") if isinstance(snap, dict) else None
    ensure(config.get("data") if isinstance(config, dict) else None)  # an uploaded set, if named
    t.restore(snap)


__all__ = ["restore_bytes", "to_bytes"]
