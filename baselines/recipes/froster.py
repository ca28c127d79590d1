"""Method ``froster``: residual feature distillation from a frozen CLIP teacher (FROSTER).

The teacher is the frozen CLIP the learner started from, without temporal modelling, seeing
the same frames. Student features ``z`` are mapped by residual projectors (FROSTER Eq. 6)
``h(z) = z + alpha * W2 GELU(W1 z)`` (no biases, ``W2`` zero-initialised, ``alpha = 0.1``) and
pulled towards the teacher's (Eq. 7, with the cosine distance of the public code)::

    L = CE(video logits) + beta * [ mean_frames (1 - cos(h_v(z_v), f_v))
                                   + mean_classes (1 - cos(h_t(z_t), f_t)) ]

``beta = 2.0`` (Eq. 8). The cross-entropy goes through the learner's whole video path (its
temporal pooling, X-CLIP's prompts); the distilled visual features are the learner's
per-frame normalised embeddings (``Learner.encode_with_frames``) against the teacher's
frames. By default the text side stays frozen, as in the Open-MeDe paper's reproduction
("FROSTER †"); then the text term is identically a function of the projector alone and is
left out. ``train_text`` trains the text encoder as FROSTER does, with the text term and,
optionally, class ``descriptions`` (a JSON file ``{class name: [description, ...]}``,
FROSTER's GPT-rephrased names) as extra training prompts. Projectors are used in training
only. The result is the uniform average of the epoch snapshots from ``swa_start`` on, as in
the public code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from biasbench.errors import ConfigError
from biasbench.models.learner import Learner
from biasbench.training.averaging import UniformAverage, WeightAverage
from biasbench.training.data import Batch
from biasbench.training.ensemble import reference_clip
from biasbench.training.recipe import AveragedRecipe, StepContext, TrainRun
from biasbench.training.settings import TrainSettings


@dataclass(frozen=True)
class FrosterSettings(TrainSettings):
    """RFD weights (``distill_weight`` = beta, ``residual_alpha`` = alpha) and text options."""

    distill_weight: float = 2.0
    residual_alpha: float = 0.1
    train_text: bool = False
    descriptions: str | None = None
    swa_start: int = 2
    swa_end: int | None = None


class ResidualProjector(nn.Module):
    """``h(z) = z + alpha * W2 GELU(W1 z)``, bias-free, ``W2 = 0`` at start (FROSTER Eq. 6)."""

    def __init__(self, dim: int, alpha: float = 0.1):
        super().__init__()
        self.alpha = alpha
        self.fc1 = nn.Linear(dim, dim, bias=False)
        self.fc2 = nn.Linear(dim, dim, bias=False)
        nn.init.zeros_(self.fc2.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.alpha * self.fc2(F.gelu(self.fc1(z)))


def rfd_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance ``mean(1 - cos(student, teacher))`` over all leading axes."""
    return (1.0 - F.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()


def froster_loss(
    ce: torch.Tensor, visual: torch.Tensor, text: torch.Tensor | float, beta: float = 2.0
) -> torch.Tensor:
    """``CE + beta * (L_FD^v + L_FD^t)`` (FROSTER Eq. 8)."""
    return ce + beta * (visual + text)


class Froster(AveragedRecipe):
    """Cross-entropy plus residual feature distillation towards frozen CLIP, then SWA."""

    name = "froster"
    default_learner = "vclip"
    Settings = FrosterSettings

    def make_average(self, run: TrainRun) -> WeightAverage:
        return UniformAverage(self.settings.swa_start, self.settings.swa_end)

    def refusal(self, learner_cls: type[Learner]) -> str | None:
        if self.settings.train_text and not hasattr(learner_cls, "set_text_trainable"):
            return "train_text=true needs a learner whose text tower can be unfrozen"
        return super().refusal(learner_cls)

    def configure_learner(self, learner: Learner) -> None:
        if self.settings.descriptions and not self.settings.train_text:
            raise ConfigError("froster: descriptions need method.train_text=true")
        if self.settings.train_text:
            unfreeze = getattr(learner, "set_text_trainable", None)
            if unfreeze is None:
                raise ConfigError(
                    f"froster: learner {type(learner).__name__} cannot train its text side"
                )
            unfreeze(True)

    def text_trainable(self) -> bool:
        return bool(self.settings.train_text)

    def class_descriptions(self) -> dict[str, list[str]] | None:
        path = self.settings.descriptions
        if not path:
            return None
        try:
            data = json.loads(Path(path).expanduser().read_text())
        except (OSError, ValueError) as e:
            raise ConfigError(f"froster: cannot read descriptions {path}: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"froster: {path} must map class names to lists of descriptions")
        return {
            str(k): [str(d) for d in (v if isinstance(v, list) else [v])] for k, v in data.items()
        }

    def setup(self, learner: Learner, run: TrainRun) -> None:
        super().setup(learner, run)
        self.teacher = reference_clip(learner, run.initial_state)
        with torch.no_grad():
            probe = self.teacher.tokenize(["probe"]).to(run.device)
            dim = int(self.teacher.encode_text(probe).shape[-1])
        alpha = self.settings.residual_alpha
        self.proj_visual = ResidualProjector(dim, alpha).to(run.device)
        self.proj_text = (
            ResidualProjector(dim, alpha).to(run.device) if self.settings.train_text else None
        )

    def modules(self) -> dict[str, nn.Module]:
        mods: dict[str, nn.Module] = {"proj_visual": self.proj_visual, "teacher": self.teacher}
        if self.proj_text is not None:
            mods["proj_text"] = self.proj_text
        return mods

    def compute_grads(
        self, learner: Learner, batches: list[Batch], step: StepContext
    ) -> dict[str, float]:
        batch, text, s = batches[0], step.run.text, self.settings
        if batch.size == 0:
            return {"loss": 0.0, "ce": 0.0, "distill_visual": 0.0, "distill_text": 0.0}
        if text.trainable:
            prompts = text.draw(step.generator)
            classifier = text.encode(prompts)
            with torch.no_grad():
                teacher_text = text.encode(prompts, self.teacher)
        else:
            classifier = text.classifier()
        with step.autocast():
            video, z_v = learner.encode_with_frames(batch.frames)
            with torch.no_grad():
                f_v = self.teacher.encode_with_frames(batch.frames)[1]
        z_v = z_v.float()
        ce = F.cross_entropy(learner.logits(video.float(), classifier), batch.labels)
        visual = rfd_loss(self.proj_visual(z_v), f_v)
        text_term = torch.zeros((), device=ce.device)
        if self.proj_text is not None:
            text_term = rfd_loss(self.proj_text(classifier), teacher_text)
        loss = froster_loss(ce, visual, text_term, s.distill_weight)
        loss.backward()
        return {
            "loss": float(loss.detach()),
            "ce": float(ce.detach()),
            "distill_visual": float(visual.detach()),
            "distill_text": float(text_term.detach()),
        }
