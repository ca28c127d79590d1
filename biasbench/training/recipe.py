"""The recipe interface: what a trainable method supplies to the one training loop.

A recipe is a :class:`~biasbench.method.Method` whose ``fit`` is the shared loop
(:func:`biasbench.training.loop.train`). It supplies small parts:

- ``batches_per_update`` — how many consecutive batches one update consumes (1 for plain
  fine-tuning; 2 for gradient accumulation and for cross-batch meta-learning);
- ``recipe_defaults(family, embedded)`` — its own defaults on top of the engine's;
- ``configure_learner(learner)``, ``text_trainable()``, ``class_descriptions()`` — what
  trains and which prompts the loss uses (default: the learner as it is, frozen text);
- ``setup(learner, run)`` — build what it needs (teacher, projectors, weight averages);
- ``modules()`` — the auxiliary modules it built; their trainable parameters are optimised
  and checkpointed with the learner's;
- ``arrange_epoch(order, labels, epoch)`` — the batch sampler: reorder the epoch's shuffled
  indices before they are cut into batches (default: keep them);
- ``compute_grads(learner, batches, step)`` — fill ``.grad`` of the trainable parameters
  for one update and return scalar statistics to log (the loop zeroes gradients before,
  and after it reduces them across ranks once, clips, and steps AdamW);
- ``on_epoch_end(learner, epoch, run)`` — e.g. fold the epoch into a weight average;
- ``finalize(learner, run)`` — the model to evaluate (e.g. the averaged weights);
- ``state_dict()`` / ``load_state_dict()`` — the recipe state a resumed run needs.

Forward passes inside ``compute_grads`` go through ``step.autocast()`` (bf16 on GPU).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from biasbench.method import FitContext, Method
from biasbench.models.learner import Learner
from biasbench.protocol import TrainRequest
from biasbench.training.averaging import WeightAverage
from biasbench.training.context import StepContext, TrainRun
from biasbench.training.data import Batch
from biasbench.training.loop import train as run_training
from biasbench.training.settings import TrainSettings, defaults_for, resolve_settings


class Recipe(Method):
    """Base class of trainable methods; subclasses implement :meth:`compute_grads`."""

    trains: ClassVar[bool] = True
    batches_per_update: ClassVar[int] = 1
    Settings: ClassVar[type] = TrainSettings

    def refusal(self, learner_cls: type[Learner]) -> str | None:
        if not learner_cls.trainable:
            return "the learner has nothing to train (use --method zero-shot to score it)"
        if getattr(self.settings, "clip_ensemble", "none") == "weight" and not (
            learner_cls.trains_clip_weights
        ):
            return (
                "clip_ensemble=weight interpolates the trained weights with CLIP's, but this "
                "learner trains weights CLIP does not have (use clip_ensemble=decision)"
            )
        return None

    # -- the parts a recipe supplies ------------------------------------------------------
    def recipe_defaults(self, family: str, embedded: bool) -> dict[str, Any]:
        """Defaults of this recipe's own fields (or overrides of the engine's) for a case."""
        return {}

    def configure_learner(self, learner: Learner) -> None:
        """Change what the learner trains (e.g. unfreeze its text side) before anything else."""

    def text_trainable(self) -> bool:
        """Whether the loss recomputes class-text embeddings with gradients every step.

        Also on when the learner says its text side trains (``learner.text_trainable``).
        """
        return False

    def class_descriptions(self) -> dict[str, list[str]] | None:
        """Extra training prompts per class name (FROSTER's descriptions), or None."""
        return None

    def setup(self, learner: Learner, run: TrainRun) -> None:
        """Build teachers, heads, weight averages; called before any checkpoint is loaded."""

    def modules(self) -> dict[str, nn.Module]:
        """Auxiliary modules built in ``setup`` (trainable ones are optimised and saved)."""
        return {}

    def compute_grads(
        self, learner: Learner, batches: list[Batch], step: StepContext
    ) -> dict[str, float]:
        """Fill ``.grad`` for one update from ``batches_per_update`` batches; return stats."""
        raise NotImplementedError

    def arrange_epoch(self, order: np.ndarray, labels: np.ndarray, epoch: int) -> np.ndarray:
        """Reorder the epoch's shuffled dataset indices ``order`` before they are cut into
        batches (``labels[i]`` is video ``i``'s class). Default: keep the shuffled order.

        Called after ``setup`` on every rank; must be deterministic.
        """
        return order

    def on_epoch_end(self, learner: Learner, epoch: int, run: TrainRun) -> None:
        """After the last update of ``epoch`` (1-based), before its checkpoint is written."""

    def finalize(self, learner: Learner, run: TrainRun) -> Learner:
        """The model to evaluate once training is over."""
        return learner

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    # -- provided ----------------------------------------------------------------------
    def resolved_settings(self, family: str, embedded: bool) -> Any:
        """``self.settings`` with every ``None`` filled for this protocol family / world."""
        defaults = {**defaults_for(family, embedded), **self.recipe_defaults(family, embedded)}
        return resolve_settings(self.settings, defaults)

    def fit(self, learner: Learner, train: TrainRequest, ctx: FitContext) -> Learner:
        return run_training(self, learner, train, ctx)

    # -- loss helpers shared by recipes ------------------------------------------------
    def batch_loss(
        self,
        learner: Learner,
        batch: Batch,
        step: StepContext,
        classes: torch.Tensor | None = None,
    ) -> torch.Tensor | None:
        """Cross-entropy of the learner on ``batch`` against the training classifier.

        ``classes`` restricts the classifier to a subset of the vocabulary (labels must be in
        it; they are re-indexed). Returns ``None`` for an empty batch.
        """
        if batch.size == 0:
            return None
        classifier = step.run.text.classifier(step.generator)
        labels = batch.labels
        if classes is not None:
            classifier, labels = restrict_vocabulary(classifier, labels, classes)
        with step.autocast():
            emb = learner.encode_video(batch.frames)
        logits = learner.logits(emb.float(), classifier)
        return F.cross_entropy(logits, labels)


class AveragedRecipe(Recipe):
    """A recipe whose result is a weight average of its epoch snapshots (SWA, GWA).

    Subclasses say which average (:meth:`make_average`); the average is updated at every
    epoch end, saved for resuming, and loaded into the learner by ``finalize``.
    """

    def make_average(self, run: TrainRun) -> WeightAverage:
        raise NotImplementedError

    def setup(self, learner: Learner, run: TrainRun) -> None:
        self.average = self.make_average(run)

    def on_epoch_end(self, learner: Learner, epoch: int, run: TrainRun) -> None:
        self.average.update(learner, epoch)

    def finalize(self, learner: Learner, run: TrainRun) -> Learner:
        self.average.apply_to(learner)
        return learner

    def state_dict(self) -> dict[str, Any]:
        return {"average": self.average.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.average.load_state_dict(state["average"])


def restrict_vocabulary(
    classifier: torch.Tensor, labels: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Classifier rows of ``classes`` and the labels re-indexed into that subset."""
    classes = classes.to(labels.device)
    lookup = torch.full((classifier.shape[0],), -1, dtype=torch.long, device=labels.device)
    lookup[classes] = torch.arange(len(classes), device=labels.device)
    new = lookup[labels]
    if (new < 0).any():
        raise ValueError("labels outside the restricted vocabulary")
    return classifier[classes.to(classifier.device)], new


def backward(loss: torch.Tensor | None, scale: float = 1.0) -> float:
    """Back-propagate ``scale * loss``; return its value (0.0 for ``None``: an empty batch)."""
    if loss is None:
        return 0.0
    (loss * scale).backward()
    return float(loss.detach())
