"""Method ``meta-unseen``: meta-learning from seen to unseen classes (Table 5 (d) control).

The "Meta Unseen" row of the Open-MeDe paper's Table 5 follows meta-learning for zero-shot
learning (Verma et al., AAAI 2020): tasks whose support and query classes are disjoint. Per
update the training vocabulary is split at random into two halves (``seen_fraction``); the
batch's videos of the seen half form the support set S, scored against the seen classes only,
and those of the other half the query set Q, scored against the unseen classes only — so the
query step asks the fast weights to recognise classes the support step never named. The
update is the first-order meta gradient ``support_weight * g_s + query_weight * g_q(theta')``
with ``theta' = theta - alpha * g_s`` (:mod:`biasbench.training.meta`), ``alpha`` synced with
the scheduled learning rate unless ``inner_lr`` is given. One batch per update, so it sees the
same videos per update as ``plain``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from biasbench.models.learner import Learner
from biasbench.training.data import Batch
from biasbench.training.meta import first_order_meta_grads
from biasbench.training.recipe import Recipe, StepContext
from biasbench.training.settings import TrainSettings


@dataclass(frozen=True)
class MetaUnseenSettings(TrainSettings):
    """Split of the vocabulary and weights of the meta gradient."""

    seen_fraction: float = 0.5
    inner_lr: float | None = None
    support_weight: float = 1.0
    query_weight: float = 1.0


def split_classes(
    num_classes: int, seen_fraction: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random partition of ``0..K-1`` into sorted seen and unseen class indices."""
    n_seen = min(num_classes - 1, max(1, round(num_classes * seen_fraction)))
    perm = torch.randperm(num_classes, generator=generator)
    return perm[:n_seen].sort().values, perm[n_seen:].sort().values


class MetaUnseen(Recipe):
    """First-order MAML with class-disjoint support and query halves of each batch."""

    name = "meta-unseen"
    default_learner = "vclip"
    Settings = MetaUnseenSettings

    def compute_grads(
        self, learner: Learner, batches: list[Batch], step: StepContext
    ) -> dict[str, float]:
        s, batch = self.settings, batches[0]
        seen, unseen = split_classes(step.run.text.num_classes, s.seen_fraction, step.generator)
        in_seen = torch.isin(batch.labels, seen.to(batch.labels.device))
        support, query = batch.select(in_seen), batch.select(~in_seen)
        loss_s, loss_q = first_order_meta_grads(
            step.params,
            lambda: self.batch_loss(learner, support, step, classes=seen),
            lambda: self.batch_loss(learner, query, step, classes=unseen),
            alpha=s.inner_lr if s.inner_lr is not None else step.lr,
            support_weight=s.support_weight,
            query_weight=s.query_weight,
        )
        return {"loss": 0.5 * (loss_s + loss_q), "loss_support": loss_s, "loss_query": loss_q}
