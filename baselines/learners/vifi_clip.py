"""Learner ``vifi-clip``: frame-wise CLIP with both towers fully fine-tuned (ViFi-CLIP).

Rasheed et al., "Fine-tuned CLIP Models are Efficient Video Learners", CVPR 2023, §3: the
CLIP image encoder embeds every frame of a clip independently, a temporal average pooling of
the frame embeddings gives the video embedding, and it is matched to the class prompts'
text embeddings by cosine similarity. No module is added: the temporal cues are left to
fine-tuning, which updates *both* the image and the text encoder end to end.

- Trainable: every CLIP parameter except the logit scale (the temperature stays fixed).
- Embeddings: frames are L2-normalised, then averaged (not re-normalised), exactly as for the
  frozen ``clip`` learner, so before training ``vifi-clip`` *is* CLIP, on any clip. The video
  embedding has norm <= 1 (1 for a static clip) and its logits are the frame logits averaged
  over frames. §3 pools the frame embeddings before the cosine similarity (i.e. normalises
  their mean); averaging normalised frames is the one choice that starts exactly at CLIP.
- Text embeddings are L2-normalised and recomputed with gradients every training step (the
  learner reports ``text_trainable``).
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.models.backbone import BackboneSpec


@dataclass(frozen=True)
class ViFiClipSettings:
    """Settings of the ViFi-CLIP learner."""

    num_frames: int = 8


class ViFiClipLearner(ClipLearner):
    """Frame-average CLIP; image and text towers trainable, logit scale fixed."""

    Settings = ViFiClipSettings
    trainable = True

    def __init__(self, spec: BackboneSpec, settings: ViFiClipSettings | None = None):
        settings = settings or ViFiClipSettings()
        super().__init__(spec, settings)  # type: ignore[arg-type]  (same num_frames field)
        self.clip.visual.requires_grad_(True)
        self.set_text_trainable(True)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.clip.visual.set_grad_checkpointing(enable)
        self.clip.transformer.grad_checkpointing = enable and self.text_trainable
