"""Learner ``motion-clip``: frozen CLIP plus a frame-difference motion stream fused into its
embedding space through a zero-initialised projection.

Frame-wise CLIP sees appearance only: averaged over frames, its video embedding does not
change when the frames are shuffled or played backwards, so actions that differ only in their
motion (the embedded world's, by construction) are invisible to it. This learner adds an
explicit motion pathway, written from two published designs:

- TSN (Wang et al., "Temporal Segment Networks: Towards Good Practices for Deep Action
  Recognition", ECCV 2016, §3.2, "RGB difference"): the difference of consecutive RGB frames
  as a cheap motion modality. Here: the ``T - 1`` differences of consecutive frames of the
  normalised input clip. A static clip (SCUFO) gives all-zero differences, so the stream
  never sees the scene, only what changes.
- DiST (Qing et al., "Disentangling Spatial and Temporal Learning for Efficient
  Image-to-Video Transfer Learning", ICCV 2023, §3): a frozen pre-trained CLIP as the
  *spatial encoder*; a lightweight *temporal encoder* trained from scratch on the frames, at
  a small channel width; an *integration branch* that brings the temporal features into the
  spatial encoder's representation.

What this learner takes from each, and where it chooses:

- Spatial encoder: the frozen CLIP of the ``clip`` learner (image and text towers and the
  logit scale frozen), video embedding = mean of the L2-normalised frame embeddings.
- Temporal encoder: ``depth`` 3D convolutions on the differences (kernel ``temporal_kernel``
  in time, zero-padded so the ``T - 1`` steps are kept; 3 x 3 in space, the first one a
  ``stem_stride`` strided stem of ``max(3, 2 * stem_stride - 1)`` pixels, every later one
  stride 2), ``width`` channels doubled at every layer, each followed by GroupNorm (batch
  independent: the same function in training, evaluation, and on Open-MeDe's small task
  batches) and GELU, then a global average over time and space. Unlike TSN's 2D network with
  the differences stacked as channels, time stays an axis, so the order of the differences
  is seen by the temporal kernels.
- Integration: DiST fuses temporal into spatial features at several depths of the spatial
  encoder; here the fusion is a single linear projection of the pooled motion features into
  CLIP's embedding dimension, *added* to the frame-average embedding. The projection starts
  at zero (weight and bias), so before training ``encode_video`` *is* frozen CLIP's on any
  clip, and the video is still scored against CLIP's text embeddings: the learner stays
  open-vocabulary. The stream keeps PyTorch's default initialisation, so the projection gets
  a gradient from the first step and the stream from the second (as ST-Adapter's ``Up``).

Only the stream and the projection train (``trains_clip_weights = False``: methods that
interpolate with CLIP's weights refuse it). Frozen CLIP keeps no activations for backward
(nothing in it needs a gradient), so activation checkpointing is not offered. Per-frame
features (``encode_with_frames``, FROSTER's distillation) are each frame's CLIP embedding
plus the clip's motion embedding, so that their mean is the video embedding. The CLIP
reference (teacher, ensembles) and the text-classifier cache key are frozen CLIP's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.errors import ConfigError
from biasbench.models.backbone import BackboneSpec


@dataclass(frozen=True)
class MotionClipSettings:
    """Settings of the motion-clip learner (defaults: the embedded world's 64 px clips)."""

    num_frames: int = 8
    width: int = 16  # channels of the first conv layer, doubled at every later layer
    depth: int = 4  # 3D conv layers
    stem_stride: int = 2  # spatial stride of the first layer (4 suits 224 px)
    temporal_kernel: int = 3  # odd, so that the T - 1 steps are kept


def check_settings(settings: MotionClipSettings) -> None:
    """Raise :class:`ConfigError` naming the first setting out of range."""
    lows = {"num_frames": 2, "width": 1, "depth": 1, "stem_stride": 1, "temporal_kernel": 1}
    for name, low in lows.items():
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"learner.{name} must be an integer >= {low}, not {value!r}")
    if settings.temporal_kernel % 2 == 0:
        raise ConfigError(
            f"learner.temporal_kernel must be odd (it keeps the T - 1 steps), "
            f"not {settings.temporal_kernel}"
        )


def conv_block(c_in: int, c_out: int, kt: int, k: int, stride: int) -> nn.Sequential:
    """Conv3d (no bias: the norm follows) -> GroupNorm -> GELU, padded to keep time."""
    conv = nn.Conv3d(
        c_in,
        c_out,
        kernel_size=(kt, k, k),
        stride=(1, stride, stride),
        padding=(kt // 2, k // 2, k // 2),
        bias=False,
    )
    return nn.Sequential(conv, nn.GroupNorm(math.gcd(c_out, 8), c_out), nn.GELU())


class MotionStream(nn.Module):
    """``[B, T, C, H, W]`` clips -> ``[B, out_channels]`` pooled features of their frame
    differences (the temporal encoder)."""

    def __init__(self, settings: MotionClipSettings, in_channels: int = 3):
        super().__init__()
        kt, s = settings.temporal_kernel, settings.stem_stride
        widths = [settings.width * 2**i for i in range(settings.depth)]
        blocks = [conv_block(in_channels, widths[0], kt, max(3, 2 * s - 1), s)]
        blocks += [conv_block(a, b, kt, 3, 2) for a, b in zip(widths, widths[1:], strict=False)]
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = widths[-1]

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        diffs = frames[:, 1:] - frames[:, :-1]  # [B, T-1, C, H, W]: TSN's RGB difference
        x = self.blocks(diffs.transpose(1, 2))  # [B, C', T-1, H', W']
        return x.mean(dim=(2, 3, 4))


class MotionClipLearner(ClipLearner):
    """Frozen CLIP frame average + a zero-initialised projection of a motion stream."""

    Settings = MotionClipSettings
    trainable = True
    trains_clip_weights = False  # only the added stream and projection train

    def __init__(self, spec: BackboneSpec, settings: MotionClipSettings | None = None):
        settings = settings or MotionClipSettings()
        check_settings(settings)
        super().__init__(spec, settings)  # type: ignore[arg-type]  (same num_frames field)
        self.motion = MotionStream(settings)
        self.fuse = nn.Linear(self.motion.out_channels, self.clip.visual.output_dim)
        nn.init.zeros_(self.fuse.weight)
        nn.init.zeros_(self.fuse.bias)

    def motion_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, D]``: the motion stream projected into CLIP's space (zero for one frame)."""
        if frames.shape[1] < 2:  # no difference to take: no motion
            return frames.new_zeros(frames.shape[0], self.fuse.out_features, dtype=torch.float32)
        return self.fuse(self.motion(frames)).float()

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        return self.encode_frames(frames).mean(dim=1) + self.motion_embedding(frames)

    def encode_with_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The video embedding and each frame's CLIP embedding plus the clip's motion
        embedding (their mean is the video embedding), from one forward."""
        per_frame = self.encode_frames(frames)
        motion = self.motion_embedding(frames)
        return per_frame.mean(dim=1) + motion, per_frame + motion[:, None]
