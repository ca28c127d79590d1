"""Method ``zero-shot`` (alias ``frozen-clip``): no training; the learner is scored as it is."""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.method import FitContext, Method
from biasbench.models.learner import Learner


class ZeroShot(Method):
    """Evaluate the learner without any training (frozen CLIP's zero-shot transfer)."""

    name = "zero-shot"
    trains = False
    default_learner = "clip"

    @dataclass(frozen=True)
    class Settings:
        """Zero-shot has no settings."""

    def fit(self, learner: Learner, train, ctx: FitContext) -> Learner:
        return learner
