"""Method ``plain``: standard fine-tuning (the papers' "VCLIP" when the learner is ``vclip``).

Cross-entropy of the frame-averaged logits against the frozen text classifier of the training
vocabulary, one batch per AdamW update, with the shared recipe of the training engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.models.learner import Learner
from biasbench.training.data import Batch
from biasbench.training.recipe import Recipe, StepContext, backward
from biasbench.training.settings import TrainSettings


@dataclass(frozen=True)
class PlainSettings(TrainSettings):
    """Plain fine-tuning uses the shared training settings only."""


class Plain(Recipe):
    """Fine-tune every trainable parameter of the learner on the training classes."""

    name = "plain"
    default_learner = "vclip"
    Settings = PlainSettings

    def compute_grads(
        self, learner: Learner, batches: list[Batch], step: StepContext
    ) -> dict[str, float]:
        """Mean cross-entropy over the update's batches (their gradients are averaged)."""
        share = 1.0 / len(batches)
        losses = [backward(self.batch_loss(learner, b, step), share) for b in batches]
        return {"loss": sum(losses) * share}
