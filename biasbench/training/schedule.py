"""Learning rate per update: linear warm-up, then cosine decay (BASELINES.md recipe).

``lr(s) = start + (base - start) * s / W`` for ``s < W`` warm-up updates, then
``lr(s) = min + (base - min) * (1 + cos(pi * (s - W) / (S - W))) / 2`` over the remaining
``S - W`` updates — per update, as the public code does with fractional epochs. Stateless: a
resumed run gets the same learning rate at the same update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class WarmupCosine:
    """The learning rate of update ``step`` (0-based) of ``total_steps``."""

    base_lr: float
    min_lr: float
    warmup_start_lr: float
    warmup_steps: int
    total_steps: int

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            frac = step / self.warmup_steps
            return self.warmup_start_lr + (self.base_lr - self.warmup_start_lr) * frac
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + 0.5 * (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * progress))

    @classmethod
    def for_epochs(
        cls,
        base_lr: float,
        min_lr: float,
        warmup_start_lr: float,
        warmup_epochs: float,
        epochs: int,
        updates_per_epoch: int,
    ) -> WarmupCosine:
        """A schedule counted in updates from one counted in epochs."""
        return cls(
            base_lr,
            min_lr,
            warmup_start_lr,
            round(warmup_epochs * updates_per_epoch),
            epochs * updates_per_epoch,
        )
