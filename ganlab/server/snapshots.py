"""Binary snapshots over the websocket: the trainer's binary encoding (JSON header + raw arrays),
for image models whose JSON state would be tens of megabytes (docs/protocol.md, "Snapshots")."""

from __future__ import annotations

from ganlab import Trainer


def to_bytes(t: Trainer) -> bytes:
    """The trainer's state as its binary snapshot."""
    return t.snapshot_bytes()


def restore_bytes(t: Trainer, data: bytes) -> None:
    """Restore ``t`` from a binary snapshot; ValueError (naming what is wrong) changes nothing."""
    t.restore_bytes(data)


__all__ = ["restore_bytes", "to_bytes"]
