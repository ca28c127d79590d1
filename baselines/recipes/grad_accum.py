"""Method ``grad-accum``: two batches accumulated per update (supplementary Table 4 control).

Plain fine-tuning whose every AdamW update averages the gradients of two consecutive batches:
the same videos per update and the same number of updates as cross-batch meta-optimization,
without the fast-weight step, so the two can be compared at equal samples and steps.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.baselines.recipes.plain import Plain, PlainSettings


@dataclass(frozen=True)
class GradAccumSettings(PlainSettings):
    """Gradient accumulation uses the shared training settings only."""


class GradAccum(Plain):
    """Plain fine-tuning with ``batches_per_update = 2``."""

    name = "grad-accum"
    batches_per_update = 2
    Settings = GradAccumSettings
