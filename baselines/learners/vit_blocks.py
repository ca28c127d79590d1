"""Shared surgery on open_clip vision transformers for the video learners.

Video learners (``vclip``, ``st-adapter``, ``xclip``, ``vita-clip``) change what a residual
block of CLIP's vision tower does by switching the block's class to a subclass with another
``forward``: the block keeps its parameters and state-dict keys, so CLIP weights load into,
and interpolate with, the result by name. This module holds that switch and the head
reshaping their attention code shares.
"""

from __future__ import annotations

import torch
from open_clip.transformer import CustomResidualAttentionBlock, ResidualAttentionBlock
from torch import nn

from biasbench.errors import ConfigError


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[N, L, C]`` -> ``[N, heads, L, C // heads]``."""
    n, length, c = x.shape
    return x.view(n, length, heads, c // heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``[N, H, L, d]`` -> ``[N, L, H * d]`` (the inverse of :func:`split_heads`)."""
    n, h, length, d = x.shape
    return x.transpose(1, 2).reshape(n, length, h * d)


def swap_layout(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Between the block's token layout and batch-first ``[N, L, C]`` (either way: the
    transpose is its own inverse)."""
    return x if block.batch_first else x.transpose(0, 1)


def self_attention_tokens(
    block: nn.Module,
    q_x: torch.Tensor,
    k_x: torch.Tensor | None,
    v_x: torch.Tensor | None,
    attn_mask: torch.Tensor | None,
    what: str,
) -> torch.Tensor:
    """The batch-first tokens of a retyped block's ``forward`` call, which must be plain
    self-attention (no separate keys/values, no mask); ``what`` names the block in errors."""
    if k_x is not None or v_x is not None or attn_mask is not None:
        raise ValueError(f"{what} take self-attention without a mask")
    return swap_layout(block, q_x)


def retype_blocks(
    visual: nn.Module,
    plain: type[ResidualAttentionBlock],
    custom: type[CustomResidualAttentionBlock],
    who: str,
    count: int | None = None,
    own_attention: bool = False,
) -> list[nn.Module]:
    """Switch the first ``count`` (default: all) residual blocks of an open_clip vision tower
    to ``plain`` or ``custom`` (subclasses of open_clip's two block classes) and return them.

    ``own_attention``: the new forward computes attention itself, so open_clip's scaled-cosine
    attention (which it would bypass) is refused. Each block gets ``batch_first`` from the
    transformer. Errors name the learner ``who``.
    """
    transformer = visual.transformer
    blocks = list(transformer.resblocks)[: len(transformer.resblocks) if count is None else count]
    for block in blocks:
        if isinstance(block, ResidualAttentionBlock):
            block.__class__ = plain
        elif isinstance(block, CustomResidualAttentionBlock):
            if own_attention and block.attn.logit_scale is not None:
                raise ConfigError(f"{who} does not support scaled-cosine attention blocks")
            block.__class__ = custom
        else:
            raise ConfigError(f"{who} cannot patch vision block {type(block).__name__}")
        block.batch_first = getattr(transformer, "batch_first", True)
    return blocks
