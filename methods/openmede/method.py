"""Method ``openmede``: cross-batch meta-optimization + Gaussian weight averaging.

Open-MeDe (paper §3.2, Eqs. 5-13, Algorithm 1; supplementary A.3, B.1). Per update, every
task — one per data-parallel rank, or ``tasks_per_rank`` per rank — takes two consecutive
batches of the epoch order as its support ``S`` and query ``Q`` and computes, first order:

    g_s = grad L(S; theta)                       (Eq. 5, meta training)
    theta' = theta - alpha * g_s                 (Eq. 6, fast weights; alpha = scheduled lr)
    g_q = grad L(Q; theta')                      (Eq. 7, meta testing)
    direction = g_s + delta * g_q                (Eq. 10, delta = 1.67e-3)

``theta`` is restored exactly, the directions of all tasks are averaged — within a rank here,
across ranks by the engine's single all-reduce per update — and the outer AdamW steps with the
scheduled learning rate ``beta``. No CLIP regulariser. After every epoch the weights are folded
into the Gaussian weight average (Eqs. 11-13, :mod:`.gwa`), which is what gets evaluated and
saved.

Choices where the paper is silent (settings, written into ``resolved_settings.json``):

- Eq. 10 sums over tasks; we average (the engine's reduction). The direction is the same and
  AdamW is invariant to the scale of its gradient (up to ``eps`` and clipping), and it keeps
  ``lr`` meaning the same for every method and world size.
- ``alpha`` follows the scheduled learning rate (the paper: "synchronised"); ``inner_lr`` fixes
  it instead. The fast-weight step is plain SGD, as Eq. 6 writes it.
- The batch size is per batch: ``batch_size = 32`` with 4 ranks is the paper's 4 tasks x
  (8 support + 8 query) videos; one update consumes ``2 x batch_size`` videos, so an epoch
  has half the updates of ``plain`` for the same videos (``grad-accum`` is the control with
  the same videos per update).
- ``meta=false`` turns the update into plain fine-tuning on one batch (supplementary Table 2);
  ``gwa=false`` evaluates the last weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from biasbench.errors import ConfigError
from biasbench.methods.openmede.gwa import GaussianAverage, gwa_parameters
from biasbench.methods.openmede.sampler import SAMPLERS, initial_order, similar_order
from biasbench.models.learner import Learner
from biasbench.training.averaging import WeightAverage
from biasbench.training.data import Batch
from biasbench.training.meta import first_order_meta_grads
from biasbench.training.recipe import AveragedRecipe, StepContext, TrainRun, backward
from biasbench.training.settings import TrainSettings
from biasbench.training.weights import add_grads, take_grads


@dataclass(frozen=True)
class OpenMeDeSettings(TrainSettings):
    """The paper's switches (supplementary Tables 2-7) on top of the shared engine settings.

    ``gwa_mu`` / ``gwa_sigma2`` left unset take the paper's values for the protocol family,
    scaled to the number of epochs (:func:`~.gwa.gwa_parameters`).
    """

    meta: bool = True
    delta: float = 1.67e-3
    inner_lr: float | None = None
    tasks_per_rank: int = 1
    sampler: str = "shuffle"
    gwa: bool = True
    gwa_mu: float | None = None
    gwa_sigma2: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()  # the engine's settings (lr, epochs, ...) first
        problems = []
        if self.sampler not in SAMPLERS:
            problems.append(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if self.tasks_per_rank < 1:
            problems.append(f"tasks_per_rank must be >= 1, got {self.tasks_per_rank}")
        if self.delta < 0:
            problems.append(f"delta must be >= 0, got {self.delta}")
        if self.gwa_sigma2 is not None and self.gwa_sigma2 <= 0:
            problems.append(f"gwa_sigma2 must be > 0, got {self.gwa_sigma2}")
        if problems:
            raise ConfigError("invalid openmede settings: " + "; ".join(problems))


class OpenMeDe(AveragedRecipe):
    """Open-MeDe: model-agnostic meta-debiasing of any trainable learner."""

    name = "openmede"
    default_learner = "vclip"
    batches_per_update = 2
    Settings = OpenMeDeSettings

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        # meta-optimization consumes support + query; without it this is plain fine-tuning
        self.batches_per_update = 2 if self.settings.meta else 1
        self.similarity: np.ndarray | None = None

    def resolved_settings(self, family: str, embedded: bool) -> Any:
        s = super().resolved_settings(family, embedded)
        mu, sigma2 = gwa_parameters(family, s.epochs)
        return dataclasses.replace(
            s,
            gwa_mu=s.gwa_mu if s.gwa_mu is not None else mu,
            gwa_sigma2=s.gwa_sigma2 if s.gwa_sigma2 is not None else sigma2,
        )

    def make_average(self, run: TrainRun) -> WeightAverage:
        return GaussianAverage(self.settings.gwa_mu, self.settings.gwa_sigma2)

    def setup(self, learner: Learner, run: TrainRun) -> None:
        super().setup(learner, run)
        self.batch_size = run.settings.batch_size
        if self.settings.sampler == "similar":
            with torch.no_grad():
                classes = run.text.classifier().float().cpu()
            self.similarity = (classes @ classes.T).numpy()

    def arrange_epoch(self, order: np.ndarray, labels: np.ndarray, epoch: int) -> np.ndarray:
        if self.settings.sampler == "initial":
            return initial_order(order)
        if self.settings.sampler == "similar" and self.settings.meta:
            return similar_order(order, labels, self.similarity, self.batch_size)
        return order

    def compute_grads(
        self, learner: Learner, batches: list[Batch], step: StepContext
    ) -> dict[str, float]:
        s = self.settings
        if not s.meta:
            return {"loss": backward(self.batch_loss(learner, batches[0], step))}
        support, query = batches
        parts = s.tasks_per_rank
        tasks = list(zip(split(support, parts), split(query, parts), strict=True))
        alpha = s.inner_lr if s.inner_lr is not None else step.lr
        loss_s = loss_q = 0.0
        for i, (sup, qry) in enumerate(tasks):
            earlier = take_grads(step.params) if i else None  # the sum over earlier tasks
            ls, lq = first_order_meta_grads(
                step.params,
                lambda sup=sup: self.batch_loss(learner, sup, step),
                lambda qry=qry: self.batch_loss(learner, qry, step),
                alpha=alpha,
                support_weight=1.0,
                query_weight=s.delta,
            )
            if earlier is not None:
                add_grads(step.params, earlier)
            loss_s, loss_q = loss_s + ls, loss_q + lq
        n = len(tasks)
        if n > 1:
            for p in step.params:
                if p.grad is not None:
                    p.grad.div_(n)
        return {"loss": loss_s / n, "loss_query": loss_q / n}

    def on_epoch_end(self, learner: Learner, epoch: int, run: TrainRun) -> None:
        if self.settings.gwa:
            super().on_epoch_end(learner, epoch, run)


def split(batch: Batch, parts: int) -> list[Batch]:
    """``batch`` cut into ``parts`` contiguous tasks of (nearly) equal size."""
    if parts == 1 or batch.frames is None:  # an all-unreadable batch gives no loss anyway
        return [batch] * parts
    if batch.size < parts:
        raise ConfigError(
            f"a batch of {batch.size} videos per rank cannot hold {parts} tasks; "
            "raise method.batch_size or lower method.tasks_per_rank"
        )
    chunks = torch.arange(batch.size).tensor_split(parts)
    return [
        Batch(
            batch.frames[c.to(batch.frames.device)],
            batch.labels[c.to(batch.labels.device)],
            batch.indices[c],
        )
        for c in chunks
    ]
