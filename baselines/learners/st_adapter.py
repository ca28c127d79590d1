"""Learner ``st-adapter``: frozen CLIP with spatio-temporal adapters (ST-Adapter).

Pan et al., "ST-Adapter: Parameter-Efficient Image-to-Video Transfer Learning", NeurIPS 2022,
§3, Eq. 1. Before the attention of every residual block of CLIP's vision transformer, the
block input ``x`` (the tokens of the T frames of a clip) goes through

    x + Up(DWConv3D(Down(x)))

- ``Down``: Linear(width -> bottleneck); ``Up``: Linear(bottleneck -> width);
- ``DWConv3D``: a depth-wise 3D convolution over the patch tokens arranged as a
  T x H x W grid, kernel 3 x 1 x 1 (temporal only), zero padding in time, one filter per
  bottleneck channel.

Choices where the description leaves room:

- The class token is passed through unchanged (it has no place in the H x W grid); only the
  patch tokens are adapted.
- No non-linearity between the convolution and ``Up`` (the formula above).
- ``Up`` starts at zero (weight and bias), so every adapter starts as the identity and the
  learner starts exactly at frozen CLIP, on any clip; ``Down`` and the convolution keep
  PyTorch's default initialisation, so ``Up`` gets a gradient from the first step and the
  rest from the second.
- ``bottleneck`` defaults to ``width // 2`` (384 for ViT-B/16, as in the paper).

Only the adapters train: CLIP's vision and text towers, and the logit scale, are frozen. The
adapters live in ``self.adapters`` (one per block, in block order), not inside the CLIP
model, so CLIP's state-dict keys are unchanged. The video embedding is the mean of the
L2-normalised frame embeddings, as for ``clip``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from open_clip.transformer import CustomResidualAttentionBlock, ResidualAttentionBlock
from torch import nn

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.vclip import FrameCount
from biasbench.baselines.learners.vit_blocks import retype_blocks, swap_layout
from biasbench.errors import ConfigError
from biasbench.models.backbone import BackboneSpec


@dataclass(frozen=True)
class STAdapterSettings:
    """Settings of the ST-Adapter learner."""

    num_frames: int = 8
    bottleneck: int | None = None  # None: the vision width // 2


class STAdapter(nn.Module):
    """``x + Up(DWConv3D(Down(x)))`` on the patch tokens of a clip; the class token is kept.

    ``x``: ``[B*T, N, width]`` (batch first) with the T frames of a clip consecutive on the
    first axis and ``N = prefix + H * W`` tokens, the ``prefix`` (class) tokens first.
    """

    def __init__(self, width: int, bottleneck: int, grid: tuple[int, int], frames: FrameCount):
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.conv = nn.Conv3d(
            bottleneck, bottleneck, kernel_size=(3, 1, 1), padding=(1, 0, 0), groups=bottleneck
        )
        self.up = nn.Linear(bottleneck, width)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)
        self.grid = grid
        self.frames = frames  # shared with the learner, which sets it before each forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bt, n, _ = x.shape
        t = self.frames.num_frames
        h, w = self.grid
        prefix = n - h * w
        if bt % t or prefix < 0:
            raise ValueError(f"tokens {tuple(x.shape)} do not hold clips of {t} frames of {h}x{w}")
        patches = self.down(x[:, prefix:])  # [B*T, H*W, b]
        c = patches.shape[-1]
        grid = patches.view(bt // t, t, h, w, c).permute(0, 4, 1, 2, 3)  # [B, b, T, H, W]
        mixed = self.conv(grid).permute(0, 2, 3, 4, 1).reshape(bt, h * w, c)
        return torch.cat([x[:, :prefix], x[:, prefix:] + self.up(mixed)], dim=1)


class _AdapterMixin:
    """A residual block whose input first goes through its ST-Adapter (see ``install``)."""

    batch_first: bool
    st_adapter: STAdapter

    def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):  # noqa: D102 - open_clip's signature
        if k_x is not None or v_x is not None:
            raise ValueError("adapted blocks take self-attention only")
        x = swap_layout(self, self.st_adapter(swap_layout(self, q_x)))
        return super().forward(x, attn_mask=attn_mask)  # type: ignore[misc]


class AdaptedBlock(_AdapterMixin, ResidualAttentionBlock):
    """open_clip's default block with an ST-Adapter before its attention."""


class AdaptedCustomBlock(_AdapterMixin, CustomResidualAttentionBlock):
    """open_clip's custom block with an ST-Adapter before its attention."""


def install_st_adapters(visual: nn.Module, adapters: nn.ModuleList) -> None:
    """Put ``adapters[i]`` before the attention of block ``i`` of an open_clip vision tower.

    The blocks keep their parameters and state-dict keys (only their class changes); each holds
    its adapter as a plain attribute, not a submodule, so the adapters' parameters are owned
    (and named, saved, moved) by whoever owns ``adapters``.
    """
    blocks = visual.transformer.resblocks
    if len(blocks) != len(adapters):
        raise ValueError(f"{len(adapters)} adapters for {len(blocks)} blocks")
    if not isinstance(getattr(visual, "patch_dropout", nn.Identity()), nn.Identity):
        raise ConfigError("st-adapter needs every patch token: disable patch dropout")
    retype_blocks(visual, AdaptedBlock, AdaptedCustomBlock, "st-adapter")
    for block, adapter in zip(blocks, adapters, strict=True):
        object.__setattr__(block, "st_adapter", adapter)  # a reference, not a submodule


def check_bottleneck(bottleneck: object) -> None:
    """``bottleneck`` must be None (width // 2) or a positive integer."""
    ok = bottleneck is None or (
        isinstance(bottleneck, int) and not isinstance(bottleneck, bool) and bottleneck >= 1
    )
    if not ok:
        raise ConfigError(
            f"learner.bottleneck must be a positive integer (or null for width // 2), "
            f"not {bottleneck!r}"
        )


class STAdapterLearner(ClipLearner):
    """Frozen CLIP with an ST-Adapter before the attention of each vision block."""

    Settings = STAdapterSettings
    trainable = True
    trains_clip_weights = False  # only the added adapters train

    def __init__(self, spec: BackboneSpec, settings: STAdapterSettings | None = None):
        settings = settings or STAdapterSettings()
        check_bottleneck(settings.bottleneck)
        super().__init__(spec, settings)  # type: ignore[arg-type]  (same num_frames field)
        visual = self.clip.visual
        width = visual.transformer.width
        bottleneck = settings.bottleneck or width // 2
        grid = tuple(visual.grid_size)
        self._frames = FrameCount()
        self.adapters = nn.ModuleList(
            STAdapter(width, bottleneck, grid, self._frames) for _ in visual.transformer.resblocks
        )
        install_st_adapters(visual, self.adapters)
        self.bottleneck = bottleneck

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        self._frames.num_frames = frames.shape[1]
        return super().encode_frames(frames)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        # open_clip checkpoints each block call, which includes the block's adapter
        self.clip.visual.set_grad_checkpointing(enable)
