"""Test-time CLIP ensembles (supplementary Table 7) and Open-VCLIP's weight patching.

Two ways to combine a trained learner with the CLIP it started from, both with a ratio ``r``
(the weight of CLIP):

- weight space ("Weight"; Open-VCLIP's *patching*): ``theta <- (1 - r) * theta + r * theta_CLIP``
  on the learner's trained parameters (:func:`patch`);
- decision space ("Prediction"): ``logits = (1 - r) * logits_learner + r * logits_CLIP``
  (:class:`DecisionEnsemble`, a learner wrapping both, so the harness scores it unchanged).

Every recipe offers them through ``clip_ensemble`` / ``clip_ensemble_ratio``; the training
loop applies them after the recipe's own ``finalize`` (:func:`apply_clip_ensemble`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from biasbench.models.learner import Learner
from biasbench.training.checkpoint import load_trainable_state

if TYPE_CHECKING:
    from biasbench.training.recipe import TrainRun


def patch(
    theta: Mapping[str, torch.Tensor], theta_clip: Mapping[str, torch.Tensor], ratio: float
) -> dict[str, torch.Tensor]:
    """Weight-space patching ``(1 - ratio) * theta + ratio * theta_CLIP`` for every name."""
    return {
        n: torch.lerp(t.float(), theta_clip[n].to(t.device).float(), ratio).to(t.dtype)
        for n, t in theta.items()
    }


def patch_learner(
    learner: Learner, initial_state: Mapping[str, torch.Tensor], ratio: float
) -> Learner:
    """Patch ``learner``'s parameters named in ``initial_state`` (its weights before training)."""
    params = dict(learner.named_parameters())
    current = {n: params[n].detach() for n in initial_state}
    load_trainable_state(learner, patch(current, initial_state, ratio))
    return learner


def reference_clip(learner: Learner, initial_state: Mapping[str, torch.Tensor]) -> Learner:
    """The frozen CLIP a learner started from: the teacher of FROSTER and the CLIP ensemble.

    For CLIP-based learners it is plain frame-averaged CLIP (no temporal modelling) with the
    learner's CLIP weights before training; for other learners, a frozen copy of the learner
    at its initial weights.
    """
    ref = learner.frozen_reference(initial_state)
    ref.requires_grad_(False)
    ref.eval()
    device = next(learner.parameters()).device
    return ref.to(device)


class DecisionEnsemble(Learner):
    """Logits ``(1 - r) * learner + r * reference``: a decision-space CLIP ensemble.

    Video and text embeddings are the two models' embeddings side by side (video: the
    reference's ``D`` columns first, then the learner's output, which may be wider than ``D``,
    as X-CLIP's is); :meth:`logits` splits them again, re-normalises each half of the
    classifier (which gives back each model's own classifier exactly, templates averaged
    included) and mixes the two logits.
    """

    starts_at_clip = True

    def __init__(self, learner: Learner, reference: Learner, ratio: float):
        super().__init__(learner.data_config, learner.spec)
        self.learner, self.reference, self.ratio = learner, reference, float(ratio)
        with torch.no_grad():
            device = next(learner.parameters()).device
            probe = learner.tokenize(["probe"]).to(device)
            self.split = int(learner.encode_text(probe).shape[-1])

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.reference.encode_video(frames).float(),
                self.learner.encode_video(frames).float(),
            ],
            dim=-1,
        )

    def video_embedding(self, emb: torch.Tensor) -> torch.Tensor:
        """The learner's own video embedding (the ensemble is a test-time view of it)."""
        return self.learner.video_embedding(emb[:, self.split :])

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [self.learner.encode_text(tokens).float(), self.reference.encode_text(tokens).float()],
            dim=-1,
        )

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self.learner.tokenize(texts)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.learner.logit_scale

    def logits(self, video_emb: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
        d = self.split
        own = self.learner.logits(video_emb[:, d:], F.normalize(classifier[:, :d], dim=-1))
        ref = self.reference.logits(video_emb[:, :d], F.normalize(classifier[:, d:], dim=-1))
        return (1.0 - self.ratio) * own + self.ratio * ref

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return []

    def text_state(self) -> dict[str, torch.Tensor]:
        state = {f"learner.{k}": v for k, v in self.learner.text_state().items()}
        state.update({f"reference.{k}": v for k, v in self.reference.text_state().items()})
        state["ratio"] = torch.tensor(self.ratio)
        return state


def apply_clip_ensemble(learner: Learner, run: TrainRun, mode: str, ratio: float) -> Learner:
    """The learner to evaluate under the ``clip_ensemble`` setting (none / weight / decision)."""
    if mode == "none" or ratio == 0.0:
        return learner
    if mode == "weight":
        return patch_learner(learner, run.initial_state, ratio)
    if mode == "decision":
        return DecisionEnsemble(learner, reference_clip(learner, run.initial_state), ratio)
    raise ValueError(f"unknown clip_ensemble {mode!r}")
