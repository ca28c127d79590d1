"""Learner ``clip``: frozen CLIP applied frame by frame, video = mean of frame embeddings.

The zero-shot reference of every paper in this area ("Frozen CLIP"). The video embedding is
the mean of the L2-normalised frame embeddings (not re-normalised), so its logits are exactly
the frame logits averaged over frames, as in the public baselines.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from biasbench.models.backbone import BackboneSpec, create_clip, data_config_for, get_tokenizer
from biasbench.models.learner import Learner


@dataclass(frozen=True)
class ClipSettings:
    """Settings of the frozen CLIP learner."""

    num_frames: int = 8


class ClipLearner(Learner):
    """Frozen open_clip model; subclasses (vclip, ...) unfreeze or extend the visual tower."""

    Settings = ClipSettings
    trainable = False  # frozen CLIP; subclasses unfreeze or add parameters
    trains_clip_weights = True

    def __init__(self, spec: BackboneSpec, settings: ClipSettings | None = None):
        settings = settings or ClipSettings()
        super().__init__(data_config_for(spec.arch, settings.num_frames), spec)
        self.settings = settings
        self.clip = create_clip(spec)
        self._tokenizer = get_tokenizer(spec.arch)
        self.clip.requires_grad_(False)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` -> ``[B, T, D]`` L2-normalised frame embeddings."""
        b, t = frames.shape[:2]
        emb = self.clip.encode_image(frames.flatten(0, 1))
        return F.normalize(emb.float(), dim=-1).view(b, t, -1)

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encode_frames(frames).mean(dim=1)

    def encode_with_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The frame average and the frame embeddings it averages, from one forward."""
        per_frame = self.encode_frames(frames)
        return per_frame.mean(dim=1), per_frame

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.clip.encode_text(tokens).float(), dim=-1)

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        return self._tokenizer(texts)

    @property
    def logit_scale(self) -> torch.Tensor:
        return self.clip.logit_scale.exp().float()

    def text_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.clip.state_dict().items() if not k.startswith("visual.")}

    def set_text_trainable(self, enable: bool = True) -> None:
        """Unfreeze (or freeze) the text tower; the logit scale always stays fixed."""
        for name, p in self.clip.named_parameters():
            if not name.startswith("visual.") and not name.startswith("logit_"):
                p.requires_grad_(enable)

    def frozen_reference(self, initial_state: Mapping[str, torch.Tensor]) -> Learner:
        """Plain frame-averaged CLIP (no temporal modelling) with this learner's CLIP weights
        before training: FROSTER's teacher and the reference of the CLIP ensemble."""
        spec = self.spec or BackboneSpec()
        ref = ClipLearner(
            BackboneSpec(spec.arch, None), ClipSettings(num_frames=self.data_config.num_frames)
        )
        state = dict(self.clip.state_dict())
        state.update(
            {n[len("clip.") :]: v for n, v in initial_state.items() if n.startswith("clip.")}
        )
        ref.clip.load_state_dict(state)
        ref.spec = self.spec
        return ref

    @property
    def text_trainable(self) -> bool:
        return any(
            p.requires_grad for n, p in self.clip.named_parameters() if n.startswith("transformer.")
        )
