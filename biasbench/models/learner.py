"""The learner contract every video learner implements (see DESIGN.md, "Learner").

A learner is an architecture on a CLIP backbone: it maps clips ``[B, T, C, H, W]`` and
tokenised prompts to a shared embedding space, and says which inputs it wants. Methods
(training recipes) and the harness only use this contract, so any registered learner can be
trained by any method and scored by any protocol.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from biasbench.models.backbone import BackboneSpec, DataConfig


class Learner(nn.Module):
    """Base class. Subclasses implement ``encode_video``, ``encode_text`` and ``tokenize``."""

    #: whether the paper starts this learner exactly at CLIP (checked by contract tests)
    starts_at_clip: ClassVar[bool] = True
    #: whether the learner has parameters a training method can update (frozen CLIP has none)
    trainable: ClassVar[bool] = True
    #: whether every trainable parameter is one of CLIP's own weights and starts at CLIP's
    #: value: methods that interpolate with CLIP in weight space (Open-VCLIP's IWR and
    #: patching, the weight-space CLIP ensemble) need it
    trains_clip_weights: ClassVar[bool] = False
    #: False for learners that build nothing from the backbone spec (the test dummy): their
    #: runs need no CLIP weights on disk, and the weights are not part of their identity
    uses_backbone: ClassVar[bool] = True

    def __init__(self, data_config: DataConfig, spec: BackboneSpec | None = None):
        super().__init__()
        self.data_config = data_config
        self.spec = spec

    # -- the contract --------------------------------------------------------------------
    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` normalised pixels -> ``[B, D]`` video embeddings."""
        raise NotImplementedError

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[K, L]`` token ids -> ``[K, D]`` L2-normalised text embeddings."""
        raise NotImplementedError

    def tokenize(self, texts: list[str]) -> torch.Tensor:
        """Prompts -> token ids for :meth:`encode_text`."""
        raise NotImplementedError

    @property
    def logit_scale(self) -> torch.Tensor:
        """The temperature multiplying cosine similarities (CLIP's exp(logit_scale))."""
        raise NotImplementedError

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters a training method may update (empty for frozen learners)."""
        return [p for p in self.parameters() if p.requires_grad]

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute activations in the backward pass to save memory (no-op by default)."""

    # -- helpers shared by all learners --------------------------------------------------
    def encode_with_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``encode_video``'s output and ``[B, T', D]`` per-frame features from one forward.

        Frame-level losses (FROSTER's distillation) use the frame features while the
        classification loss goes through the full video path. Default: the video embedding as
        a single "frame" (``T' = 1``); learners with per-frame features override it.
        """
        video = self.encode_video(frames)
        return video, self.video_embedding(video)[:, None]

    def video_embedding(self, emb: torch.Tensor) -> torch.Tensor:
        """The part of ``encode_video``'s output that is the video embedding, for stored
        embeddings and t-SNE (default: all of it; learners that append more override it)."""
        return emb

    def logits(self, video_emb: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
        """Scaled cosine logits ``[B, K]`` of video embeddings against a text classifier."""
        return self.logit_scale * video_emb @ classifier.t()

    def text_identity(self) -> str:
        """A hash of the text-side weights: the key of cached text classifiers."""
        h = hashlib.sha256(type(self).__name__.encode())
        for name, t in sorted(self.text_state().items()):
            h.update(name.encode())
            h.update(t.detach().cpu().contiguous().float().numpy().tobytes())
        return h.hexdigest()[:16]

    def text_state(self) -> dict[str, torch.Tensor]:
        """The tensors that determine ``encode_text`` (default: all; override to narrow)."""
        return dict(self.state_dict())

    def frozen_reference(self, initial_state: Mapping[str, torch.Tensor]) -> Learner:
        """The model this learner started from, for teachers and CLIP ensembles.

        Default: a copy of this learner with ``initial_state`` (its trainable parameters
        before training) loaded. CLIP-based learners override it with plain frame-averaged
        CLIP at their initial weights. The caller freezes it and moves it to the device.
        """
        from biasbench.training.checkpoint import load_trainable_state

        ref = copy.deepcopy(self)
        load_trainable_state(ref, dict(initial_state))
        return ref

    def describe(self) -> dict[str, Any]:
        """Identity for run records: class, backbone (arch, weights), parameter counts."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.trainable_parameters())
        return {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "arch": self.spec.arch if self.spec else None,
            "weights": self.spec.weights if self.spec else None,
            "params_total": total,
            "params_trainable": trainable,
            "data_config": vars(self.data_config).copy()
            if hasattr(self.data_config, "__dict__")
            else self.data_config,
        }
