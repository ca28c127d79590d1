"""Learner ``vclip``: CLIP with neighbour-frame temporal attention (Open-VCLIP's VCLIP).

In every residual attention block of CLIP's vision transformer, the queries of frame ``t``
attend to the keys and values of frames ``t-1``, ``t`` and ``t+1`` (3 x N tokens, N = patches
+ class token). No parameter is added: the projections are CLIP's own, applied to each frame.
The video embedding is the mean of the L2-normalised frame embeddings, as for ``clip``.

Clip borders. The first and last frames have one neighbour; the missing one is zero-filled
and masked out of the softmax (``border="mask"``, default), so:

- with T = 1 the learner *is* CLIP on single frames (same weights, same function);
- with identical frames (a static clip; SCUFO) every frame embedding equals CLIP's, since
  attending to 2 or 3 copies of the same keys/values gives the same softmax average.

For a moving clip with T > 1, frame t sees its neighbours' tokens from the first step on: the
learner starts at CLIP's *weights*, and at CLIP's *function* on single frames and static
clips. ``border="zeros"`` instead lets the zero keys take part in the softmax (logit 0, value
0), which dilutes attention at the clip borders and breaks the T = 1 identity; it is kept to
compare with implementations that pad that way.

The visual tower trains; the text tower is frozen unless ``train_text`` is set.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from open_clip.transformer import (
    Attention,
    CustomResidualAttentionBlock,
    ResidualAttentionBlock,
)
from torch import nn
from torch.utils.checkpoint import checkpoint

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.vit_blocks import (
    merge_heads,
    retype_blocks,
    self_attention_tokens,
    split_heads,
    swap_layout,
)
from biasbench.errors import ConfigError
from biasbench.models.backbone import BackboneSpec

BORDERS = ("mask", "zeros")


@dataclass(frozen=True)
class VClipSettings:
    """Settings of the VCLIP learner."""

    num_frames: int = 8
    train_text: bool = False
    border: str = "mask"


class FrameCount:
    """How many consecutive frames of one clip the vision tower's batch axis holds."""

    def __init__(self) -> None:
        self.num_frames = 1


def neighbour_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_frames: int, border: str = "mask"
) -> torch.Tensor:
    """Attention of each frame's queries over its own and its two neighbours' keys/values.

    ``q, k, v``: ``[B*T, H, N, d]`` with the T frames of a clip consecutive on the first axis.
    Returns ``[B*T, H, N, d]``. Missing neighbours at the borders are zeros, masked out of the
    softmax (``border="mask"``) or attended as zeros (``border="zeros"``).
    """
    bt, h, n, d = k.shape
    t = num_frames
    if bt % t:
        raise ValueError(f"batch axis {bt} is not a multiple of {t} frames")
    b = bt // t

    def with_neighbours(x: torch.Tensor) -> torch.Tensor:
        padded = F.pad(x.view(b, t, h, n, d), (0, 0, 0, 0, 0, 0, 1, 1))  # zero frames at both ends
        window = (padded[:, :-2], padded[:, 1:-1], padded[:, 2:])  # frames t-1, t, t+1
        return torch.cat(window, dim=3).view(bt, h, 3 * n, d)

    mask = None
    if border == "mask":
        frame = torch.arange(t, device=q.device)
        valid = torch.stack([frame > 0, torch.ones_like(frame, dtype=torch.bool), frame < t - 1], 1)
        mask = valid.repeat_interleave(n, dim=1).repeat(b, 1).view(bt, 1, 1, 3 * n)
    elif border != "zeros":
        raise ValueError(f"border must be one of {BORDERS}, not {border!r}")
    return F.scaled_dot_product_attention(q, with_neighbours(k), with_neighbours(v), attn_mask=mask)


class _NeighbourMixin:
    """Forward of a residual block with neighbour-frame attention (set up by ``install``)."""

    frames: FrameCount
    border: str
    grad_checkpointing: bool
    batch_first: bool

    def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):  # noqa: D102 - open_clip's signature
        t = self.frames.num_frames
        x = self_attention_tokens(self, q_x, k_x, v_x, attn_mask, "neighbour-frame blocks")
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            x = checkpoint(self._body, x, t, use_reentrant=False)
        else:
            x = self._body(x, t)
        return swap_layout(self, x)


class NeighbourBlock(_NeighbourMixin, ResidualAttentionBlock):
    """open_clip's default block (``nn.MultiheadAttention``) with neighbour-frame attention."""

    def _body(self, x: torch.Tensor, t: int) -> torch.Tensor:
        attn: nn.MultiheadAttention = self.attn
        q, k, v = F.linear(self.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        heads = attn.num_heads
        out = neighbour_attention(
            split_heads(q, heads), split_heads(k, heads), split_heads(v, heads), t, self.border
        )
        x = x + self.ls_1(attn.out_proj(merge_heads(out)))
        return x + self.ls_2(self.mlp(self.ln_2(x)))


class NeighbourCustomBlock(_NeighbourMixin, CustomResidualAttentionBlock):
    """open_clip's custom block (its own ``Attention``) with neighbour-frame attention."""

    def _body(self, x: torch.Tensor, t: int) -> torch.Tensor:
        attn: Attention = self.attn
        q, k, v = F.linear(self.ln_1(x), attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (split_heads(z, attn.num_heads) for z in (q, k, v))
        out = neighbour_attention(attn.ln_q(q), attn.ln_k(k), v, t, self.border)
        if attn.head_scale is not None:
            out = out * attn.head_scale
        out = attn.out_drop(attn.out_proj(attn.ln_inner(merge_heads(out))))
        x = x + self.ls_1(self.ln_attn(out))
        return x + self.ls_2(self.mlp(self.ln_2(x)))


def install_neighbour_attention(visual: nn.Module, border: str = "mask") -> FrameCount:
    """Switch every residual block of an open_clip vision tower to neighbour-frame attention.

    The blocks keep their parameters and state-dict keys (only their class changes), so CLIP
    weights load into and interpolate with the result by name. Returns the shared
    :class:`FrameCount` the caller sets before each forward.
    """
    if border not in BORDERS:
        raise ConfigError(f"learner.border must be one of {BORDERS}, not {border!r}")
    frames = FrameCount()
    blocks = retype_blocks(
        visual, NeighbourBlock, NeighbourCustomBlock, "vclip", own_attention=True
    )
    for block in blocks:
        block.frames, block.border, block.grad_checkpointing = frames, border, False
    return frames


class VClipLearner(ClipLearner):
    """CLIP with neighbour-frame attention in the vision tower; visual tower trainable."""

    Settings = VClipSettings
    trainable = True

    def __init__(self, spec: BackboneSpec, settings: VClipSettings | None = None):
        settings = settings or VClipSettings()
        super().__init__(spec, settings)  # type: ignore[arg-type]  (same num_frames field)
        self._frames = install_neighbour_attention(self.clip.visual, settings.border)
        self.clip.visual.requires_grad_(True)
        self.set_text_trainable(settings.train_text)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        self._frames.num_frames = frames.shape[1]
        return super().encode_frames(frames)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for block in self.clip.visual.transformer.resblocks:
            block.grad_checkpointing = enable
        self.clip.transformer.grad_checkpointing = enable and self.text_trainable
