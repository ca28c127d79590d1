"""Method ``open-vclip``: interpolated weight regularization, SWA and patching (Open-VCLIP).

Per update (BASELINES.md, "Open-VCLIP"): draw ``lambda ~ U(0, 0.6)``; back-propagate the loss
at the interpolated weights ``lambda * theta_CLIP + (1 - lambda) * theta`` (:func:`iwr_weights`),
keep those gradients, restore ``theta``; back-propagate the ordinary loss at ``theta``; the
update direction is :func:`iwr_gradient` — the public code adds the kept gradients, scaled by
0.5, without the ``(1 - lambda)`` chain-rule factor (``iwr_chain_rule=True`` includes it).
Two forward/backward passes per update. After training: the uniform average (SWA) of the
epoch snapshots from ``swa_start`` on, then patching with CLIP at ratio 0.5 (the engine's
``clip_ensemble="weight"``, the default here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from biasbench.models.learner import Learner
from biasbench.training.averaging import UniformAverage, WeightAverage
from biasbench.training.data import Batch
from biasbench.training.recipe import AveragedRecipe, StepContext, TrainRun
from biasbench.training.settings import TrainSettings
from biasbench.training.weights import add_grads, interpolate, moved_to, take_grads


@dataclass(frozen=True)
class OpenVClipSettings(TrainSettings):
    """IWR: ``lambda ~ U(0, iwr_max_lambda)``, loss scale ``iwr_loss_scale``; SWA window."""

    iwr_max_lambda: float = 0.6
    iwr_loss_scale: float = 0.5
    iwr_chain_rule: bool = False
    swa_start: int = 2
    swa_end: int | None = None
    clip_ensemble: str = "weight"


def iwr_weights(
    theta: Sequence[torch.Tensor], theta_clip: Sequence[torch.Tensor], lam: float
) -> list[torch.Tensor]:
    """The interpolated weights ``lam * theta_CLIP + (1 - lam) * theta``."""
    return interpolate(theta, theta_clip, lam)


def iwr_gradient(
    grad_theta: Sequence[torch.Tensor],
    grad_interp: Sequence[torch.Tensor],
    lam: float,
    scale: float = 0.5,
    chain_rule: bool = False,
) -> list[torch.Tensor]:
    """``g(theta) + scale * c * g(theta_lambda)``, ``c = 1 - lam`` with the chain rule, else 1.

    ``g(theta_lambda)`` is the gradient of the loss with respect to the weights, taken at the
    interpolated weights; d theta_lambda / d theta = (1 - lam) is the chain-rule factor.
    """
    factor = scale * ((1.0 - lam) if chain_rule else 1.0)
    return [g + factor * gi for g, gi in zip(grad_theta, grad_interp, strict=True)]


class OpenVClip(AveragedRecipe):
    """Fine-tuning regularised towards CLIP in weight space, averaged and patched."""

    name = "open-vclip"
    default_learner = "vclip"
    Settings = OpenVClipSettings

    def refusal(self, learner_cls: type[Learner]) -> str | None:
        if learner_cls.trainable and not learner_cls.trains_clip_weights:
            return (
                "interpolated weight regularization and patching mix the trained weights with "
                "CLIP's own; this learner trains weights CLIP does not have"
            )
        return super().refusal(learner_cls)

    def make_average(self, run: TrainRun) -> WeightAverage:
        return UniformAverage(self.settings.swa_start, self.settings.swa_end)

    def setup(self, learner: Learner, run: TrainRun) -> None:
        super().setup(learner, run)
        names = [n for n, p in learner.named_parameters() if p.requires_grad]
        self.anchor = [run.initial_state[n].to(run.device) for n in names]

    def compute_grads(
        self, learner: Learner, batches: list[Batch], step: StepContext
    ) -> dict[str, float]:
        s = self.settings
        params, batch = step.learner_params, batches[0]
        lam = step.uniform(0.0, s.iwr_max_lambda)
        loss_interp = 0.0
        with moved_to(params, iwr_weights(params, self.anchor, lam)):
            loss = self.batch_loss(learner, batch, step)
            if loss is not None:
                loss.backward()
                loss_interp = float(loss.detach())
        g_interp = take_grads(params)
        loss = self.batch_loss(learner, batch, step)
        value = 0.0
        if loss is not None:
            loss.backward()
            value = float(loss.detach())
        g_theta = take_grads(params)
        add_grads(params, iwr_gradient(g_theta, g_interp, lam, s.iwr_loss_scale, s.iwr_chain_rule))
        return {"loss": value, "loss_iwr": loss_interp, "lambda": lam}
