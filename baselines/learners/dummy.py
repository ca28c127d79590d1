"""Learner ``dummy``: a tiny, dependency-free learner for contract tests and plumbing.

It satisfies the whole learner contract without open_clip or weights: videos are embedded by
a small random projection of per-frame average-pooled pixels (plus a frame-difference term, so
it can see motion), and text by a hashed bag of characters. Deterministic from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from biasbench.models.backbone import DataConfig
from biasbench.models.learner import Learner


@dataclass(frozen=True)
class DummySettings:
    """Settings of the dummy learner."""

    num_frames: int = 4
    size: int = 32
    dim: int = 16
    pool: int = 4
    seed: int = 0
    context_length: int = 24


class DummyLearner(Learner):
    """Linear video and text encoders; trainable, so methods can be exercised on it."""

    Settings = DummySettings
    starts_at_clip = False
    uses_backbone = False

    def __init__(self, spec=None, settings: DummySettings | None = None):
        s = settings or DummySettings()
        super().__init__(DataConfig(num_frames=s.num_frames, size=s.size, resize=s.size), spec)
        self.settings = s
        g = torch.Generator().manual_seed(s.seed)
        feat = 2 * 3 * s.pool * s.pool
        self.video_proj = nn.Parameter(torch.randn(feat, s.dim, generator=g) / feat**0.5)
        self.text_embed = nn.Parameter(torch.randn(257, s.dim, generator=g))
        self.text_embed.requires_grad_(False)  # frozen text side, as in the paper's setting
        self._scale = nn.Parameter(torch.tensor(20.0), requires_grad=False)

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        pooled = F.adaptive_avg_pool2d(frames.flatten(0, 1), self.settings.pool).view(b, t, -1)
        motion = (pooled[:, 1:] - pooled[:, :-1]).abs().mean(1) if t > 1 else pooled[:, 0] * 0
        x = torch.cat([pooled.mean(1), motion], dim=-1)
        return F.normalize(x @ self.video_proj, dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = (tokens > 0).float().unsqueeze(-1)
        x = (self.text_embed[tokens] * mask).sum(1) / mask.sum(1).clamp(min=1)
        return F.normalize(x, dim=-1)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        n = self.settings.context_length
        out = torch.zeros(len(texts), n, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [1 + b for b in text.encode()[:n]]
            out[i, : len(ids)] = torch.tensor(ids)
        return out

    @property
    def logit_scale(self) -> torch.Tensor:
        return self._scale
