"""Trained states shipped with the package, like GAN Lab's pretrained model per dataset.

``trained/<name>.json.gz`` is a whole :meth:`ganlab.Trainer.snapshot` (weights, optimizer and RNG
state, config) of distribution ``<name>``'s recommended preset after a fixed number of epochs
from a fixed seed, made and verified by ``scripts/pretrain.py`` (floats at float32 precision,
exact for the float32 presets). Restoring one (``Trainer.from_snapshot``, the websocket's
``restore``) continues training from there.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

TRAINED_DIR = Path(__file__).with_name("trained")
SUFFIX = ".json.gz"


def trained_names() -> list[str]:
    """Names of the distributions that have a shipped trained state, sorted."""
    return sorted(p.name[: -len(SUFFIX)] for p in TRAINED_DIR.glob("*" + SUFFIX))


def trained_path(name: str) -> Path | None:
    """The file of ``name``'s trained state, or None (also for names that are not plain words)."""
    if not name.replace("_", "").isalnum():
        return None
    p = TRAINED_DIR / (name + SUFFIX)
    return p if p.is_file() else None


def trained_snapshot(name: str) -> dict | None:
    """The trained state of distribution ``name`` as a snapshot dict (a fresh copy), or None."""
    p = trained_path(name)
    return None if p is None else json.loads(gzip.decompress(p.read_bytes()))
