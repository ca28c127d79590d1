"""Shared fixtures of the learner tests: the tiny random-init CLIP, clips and a reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from biasbench.baselines.learners.clip import ClipLearner, ClipSettings
from biasbench.config import settings_from
from biasbench.models.backbone import BackboneSpec
from biasbench.plugins import LEARNERS

SPEC = BackboneSpec("biasbench-tiny-p8-64", None)
T = 4
PROMPTS = ["a video of running.", "a video of jumping.", "a video of waving."]


def make_learner(name: str, **values):
    """Learner ``name`` on the tiny CLIP (seed 0), ``T`` frames, in eval mode."""
    torch.manual_seed(0)
    cls = LEARNERS.get(name)
    return cls(SPEC, settings_from(cls.Settings, {"num_frames": T, **values}, "learner")).eval()


def clip_of(learner) -> ClipLearner:
    """Frozen frame-average CLIP with the learner's CLIP weights."""
    clip = ClipLearner(SPEC, ClipSettings(num_frames=T))
    clip.clip.load_state_dict(learner.clip.state_dict())
    return clip.eval()


def moving(b: int = 2, seed: int = 1) -> torch.Tensor:
    """``b`` random (moving) clips of ``T`` frames at the tiny CLIP's 64 px."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, T, 3, 64, 64, generator=g)


def prompt_loss(learner, frames: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``frames`` against ``PROMPTS`` (clip i labelled i mod K)."""
    cls = learner.encode_text(learner.tokenize(PROMPTS))
    logits = learner.logits(learner.encode_video(frames), cls)
    return F.cross_entropy(logits, torch.arange(frames.shape[0]) % len(PROMPTS))
