"""Training with hooks that act at their own epochs (a run's recorder, an animation, ...)."""

from __future__ import annotations

from typing import Protocol


class Hook(Protocol):
    def next_due(self, epoch: int) -> int:
        """The next epoch after ``epoch`` at which the hook wants to see the trainer."""

    def __call__(self, trainer) -> None:
        """Look at the trainer (it decides itself whether anything is due now)."""


def train_with(trainer, epochs: int, hooks=()) -> int:
    """Train ``epochs`` epochs, stopping at every epoch a hook is due and calling every hook
    there (and once at the start). Chunking does not change training (the engine is
    deterministic), so the result is bit-identical to ``trainer.train(epochs)``. Stops early on
    divergence or at a schedule's pause; returns the epochs done."""
    start, end = trainer.epoch, trainer.epoch + epochs
    for h in hooks:
        h(trainer)
    while trainer.epoch < end and trainer.status.ok:
        nxt = min([end, *(h.next_due(trainer.epoch) for h in hooks)])
        done = trainer.train(nxt - trainer.epoch)
        for h in hooks:
            h(trainer)
        if done == 0:
            break  # diverged, or a schedule's pause_at reached
    return trainer.epoch - start
