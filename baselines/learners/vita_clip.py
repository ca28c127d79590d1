"""Learner ``vita-clip``: frozen CLIP with video prompts and learnable text context (Vita-CLIP).

Wasim et al., "Vita-CLIP: Video and text adaptive CLIP via Multimodal Prompting", CVPR 2023.
Both CLIP towers and the logit scale stay frozen; only the prompts (and the small summary
attention that makes one of them) train. Written from the paper's description (§3); section
numbers are given as far as we know them, the paper's equations are paraphrased, not quoted.

Vision side (§3.2, video prompting). In every prompted block of CLIP's vision transformer,
extra tokens are appended to each frame's token sequence ``[class, patches]``; they join the
block's self-attention (every token attends to them, they attend to every token) and are
dropped after the block, and fresh ones are appended at the next block (deep prompts, one set
per layer):

- *global prompts* ``G_l`` (``global_prompts`` tokens per layer): learnable, shared by every
  frame of every video, to model the video data distribution;
- *local prompts* ``L_l = [l_1, ..., l_T]`` (one learnable token per frame position per
  layer): frame ``t`` of a clip gets ``l_t`` only, a per-frame discriminative conditioning;
- *summary token* ``s_l``: the T class tokens of the clip at the block input go through a
  multi-head self-attention over frames and are averaged, ``s_l = mean_t MHA_l(c_1..c_T)``;
  the same ``s_l`` is appended to every frame of the clip, so each frame sees a condensed
  representation of the whole video (the only path between frames).

The frame embedding is CLIP's: the last block's class token through ``ln_post`` and the
projection; the video embedding is the mean of the L2-normalised frame embeddings, as for
``clip``.

Text side (§3.3, text prompting). ``text_context`` learnable context vectors (CoOp-style) are
inserted into the token-embedding sequence of every class prompt, right after the start token
and *before* the prompt's own words: ``[SOT] [V_1] ... [V_M] a video of {class}. [EOT]``. The
text encoder is frozen, but its output changes as the context trains, so the learner reports
``text_trainable`` and the training engine re-encodes the class prompts with gradients each step.

Choices where the paper leaves room (or where we do not follow it to the letter):

- Text context *precedes* the harness's prompt (templates such as ``"a video of {}."``)
  instead of replacing the template words: ``encode_text`` only sees token ids, so it cannot
  know where a template ends. The sequence keeps CLIP's context length: the last M positions
  (padding for any short prompt) are dropped; a prompt too long to fit is cut and its end token
  moved to the last position. Pooling is at the moved end token (open_clip pools at the
  argmax token id, or at the ``eos`` id for tokenizers that set one).
- Local prompts are appended tokens (one per frame position), not added to the class tokens.
  A clip with fewer frames than ``num_frames`` uses the first T local prompts; more frames
  than ``num_frames`` is an error.
- Summary attention: one ``nn.MultiheadAttention`` (vision width, the block's head count) per
  prompted layer, on the class tokens normalised by the block's own frozen ``ln_1`` (no new
  norm), then a plain mean over frames (no projection). PyTorch's default initialisation.
- Initialisation: global, local and text prompts ~ N(0, 0.02^2). Appended tokens change the
  attention from the first step, so the learner does not start at CLIP
  (``starts_at_clip = False``); with every prompt switched off (``global_prompts=0``,
  ``local_prompts=false``, ``summary_token=false``, ``text_context=0``, or
  ``prompt_layers=0`` for the vision side) it *is* frozen CLIP.
- ``prompt_layers``: the first k vision blocks get prompts (``None``: all, as in the paper).
- Defaults: 8 global prompts, local prompts and summary token on, 8 text context vectors.

The prompts live in the learner (``video_prompts``, ``text_context``), not inside the CLIP
model, so CLIP's state-dict keys are unchanged and ``reference_clip`` gives frozen CLIP.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from open_clip.transformer import CustomResidualAttentionBlock, ResidualAttentionBlock
from torch import nn

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.vclip import FrameCount
from biasbench.baselines.learners.vit_blocks import (
    retype_blocks,
    self_attention_tokens,
    swap_layout,
)
from biasbench.errors import ConfigError
from biasbench.models.backbone import BackboneSpec

PROMPT_STD = 0.02


@dataclass(frozen=True)
class VitaClipSettings:
    """Settings of the Vita-CLIP learner (see the module docstring for each knob)."""

    num_frames: int = 8
    global_prompts: int = 8  # global prompt tokens per prompted vision layer
    local_prompts: bool = True  # one local prompt token per frame position per layer
    summary_token: bool = True  # the clip summary token (MHA over frames' class tokens)
    text_context: int = 8  # learnable text context vectors (0: CLIP's text encoder)
    prompt_layers: int | None = None  # prompted vision blocks, from the first (None: all)


def _is_count(v: object, minimum: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def check_settings(s: VitaClipSettings) -> None:
    """Raise :class:`ConfigError`, naming the setting, for values the learner cannot use."""
    if not _is_count(s.num_frames, 1):
        raise ConfigError(f"learner.num_frames must be a positive integer, not {s.num_frames!r}")
    for name in ("global_prompts", "text_context"):
        value = getattr(s, name)
        if not _is_count(value, 0):
            raise ConfigError(f"learner.{name} must be a non-negative integer, not {value!r}")
    for name in ("local_prompts", "summary_token"):
        value = getattr(s, name)
        if not isinstance(value, bool):
            raise ConfigError(f"learner.{name} must be true or false, not {value!r}")
    if s.prompt_layers is not None and not _is_count(s.prompt_layers, 0):
        raise ConfigError(
            f"learner.prompt_layers must be a non-negative integer (or null for all layers), "
            f"not {s.prompt_layers!r}"
        )


class VideoPrompts(nn.Module):
    """The tokens one vision block appends to each frame: global, local and summary (§3.2).

    ``forward(x, norm)``: ``x`` is the block input ``[B*T, N, width]`` (batch first, the T
    frames of a clip consecutive, the class token first); returns ``[B*T, E, width]`` extra
    tokens, or None when this layer appends nothing.
    """

    def __init__(
        self,
        width: int,
        heads: int,
        frames: FrameCount,
        num_global: int,
        num_local: int,
        summary: bool,
    ):
        super().__init__()
        self.global_tokens = (
            nn.Parameter(torch.randn(num_global, width) * PROMPT_STD) if num_global else None
        )
        self.local_tokens = (
            nn.Parameter(torch.randn(num_local, width) * PROMPT_STD) if num_local else None
        )
        self.summary = nn.MultiheadAttention(width, heads, batch_first=True) if summary else None
        self.frames = frames  # shared with the learner, which sets it before each forward

    def forward(self, x: torch.Tensor, norm: nn.Module) -> torch.Tensor | None:
        bt, _, width = x.shape
        t = self.frames.num_frames
        if bt % t:
            raise ValueError(f"batch axis {bt} is not a multiple of {t} frames")
        b = bt // t
        parts = []
        if self.global_tokens is not None:
            parts.append(self.global_tokens.to(x.dtype).expand(bt, -1, -1))
        if self.local_tokens is not None:
            if t > self.local_tokens.shape[0]:
                raise ValueError(
                    f"clips of {t} frames, but local prompts for {self.local_tokens.shape[0]}"
                )
            local = self.local_tokens[:t].to(x.dtype)  # frame i of every clip gets l_i
            parts.append(local.expand(b, -1, -1).reshape(bt, 1, width))
        if self.summary is not None:
            cls = norm(x[:, 0]).view(b, t, width)
            summary = self.summary(cls, cls, cls, need_weights=False)[0].mean(dim=1)  # [B, W]
            parts.append(summary.to(x.dtype).repeat_interleave(t, dim=0).unsqueeze(1))
        return torch.cat(parts, dim=1) if parts else None


class _PromptedMixin:
    """A residual block whose frames see extra prompt tokens in its attention (see install)."""

    batch_first: bool
    video_prompts: VideoPrompts
    ln_1: nn.Module

    def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):  # noqa: D102 - open_clip's signature
        x = self_attention_tokens(self, q_x, k_x, v_x, attn_mask, "prompted vision blocks")
        extra = self.video_prompts(x, self.ln_1)
        if extra is None:
            return super().forward(q_x)  # type: ignore[misc]
        n = x.shape[1]
        y = torch.cat([x, extra], dim=1)
        y = swap_layout(self, super().forward(swap_layout(self, y)))  # type: ignore[misc]
        y = y[:, :n]  # the prompt tokens are dropped; the next block appends fresh ones
        return swap_layout(self, y)


class PromptedBlock(_PromptedMixin, ResidualAttentionBlock):
    """open_clip's default block with Vita-CLIP's video prompts in its attention."""


class PromptedCustomBlock(_PromptedMixin, CustomResidualAttentionBlock):
    """open_clip's custom block with Vita-CLIP's video prompts in its attention."""


def install_video_prompts(visual: nn.Module, prompts: nn.ModuleList) -> None:
    """Give block ``i`` of an open_clip vision tower the prompts ``prompts[i]``.

    Only the first ``len(prompts)`` blocks change; they keep their parameters and state-dict
    keys (only their class changes) and hold their prompts as a plain attribute, so the
    prompts are owned (named, saved, moved) by whoever owns ``prompts``.
    """
    blocks = visual.transformer.resblocks
    if len(prompts) > len(blocks):
        raise ConfigError(
            f"learner.prompt_layers={len(prompts)} but the vision tower has {len(blocks)} blocks"
        )
    if (
        getattr(visual, "attn_pool", None) is not None
        or getattr(visual, "pool_type", "tok") != "tok"
    ):
        raise ConfigError("vita-clip needs a vision tower pooled at its class token")
    prompted = retype_blocks(visual, PromptedBlock, PromptedCustomBlock, "vita-clip", len(prompts))
    for block, p in zip(prompted, prompts, strict=True):
        object.__setattr__(block, "video_prompts", p)  # a reference, not a submodule


def _heads(block: nn.Module) -> int:
    return int(block.attn.num_heads)


class VitaClipLearner(ClipLearner):
    """Frozen CLIP with Vita-CLIP's video prompts (vision) and learnable context (text)."""

    Settings = VitaClipSettings
    trainable = True  # the prompts (with every prompt switched off: nothing, CLIP itself)
    starts_at_clip = False  # appended prompt tokens change the attention from the start
    trains_clip_weights = False  # only the added prompts train

    def __init__(self, spec: BackboneSpec, settings: VitaClipSettings | None = None):
        settings = settings or VitaClipSettings()
        check_settings(settings)
        super().__init__(spec, settings)  # type: ignore[arg-type]  (same num_frames field)
        visual = self.clip.visual
        blocks = visual.transformer.resblocks
        depth = len(blocks)
        layers = depth if settings.prompt_layers is None else settings.prompt_layers
        if layers > depth:
            raise ConfigError(
                f"learner.prompt_layers={layers} but the vision tower has {depth} blocks"
            )
        if not hasattr(self.clip, "token_embedding"):
            raise ConfigError("vita-clip needs open_clip's CLIP text tower (token_embedding)")
        self._frames = FrameCount()
        width = visual.transformer.width
        local = settings.num_frames if settings.local_prompts else 0
        self.video_prompts = nn.ModuleList(
            VideoPrompts(
                width,
                _heads(blocks[i]),
                self._frames,
                settings.global_prompts,
                local,
                settings.summary_token,
            )
            for i in range(layers)
        )
        install_video_prompts(visual, self.video_prompts)

        context_length = self.clip.positional_embedding.shape[0]
        m = settings.text_context
        if m > context_length - 3:  # room for the start token, one word and the end token
            raise ConfigError(
                f"learner.text_context={m} leaves no room in the text context of "
                f"{context_length} tokens"
            )
        text_width = self.clip.token_embedding.weight.shape[1]
        self.text_context = nn.Parameter(torch.randn(m, text_width) * PROMPT_STD) if m else None

    # -- vision --------------------------------------------------------------------------
    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        self._frames.num_frames = frames.shape[1]
        return super().encode_frames(frames)

    # -- text ----------------------------------------------------------------------------
    def _end_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """Where open_clip pools each prompt: its end token."""
        pool = getattr(self.clip, "text_pool_type", "argmax")
        if pool == "argmax":
            return tokens.argmax(dim=-1)
        if pool == "eos":
            return (tokens == self.clip.text_eos_id).int().argmax(dim=-1)
        raise ConfigError(f"vita-clip cannot insert text context with text pooling {pool!r}")

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[K, L]`` token ids -> ``[K, D]``: CLIP's text encoder with the learnable context."""
        if self.text_context is None:
            return super().encode_text(tokens)
        clip = self.clip
        cast = clip.transformer.get_cast_dtype()
        k, length = tokens.shape
        m = self.text_context.shape[0]
        emb = clip.token_embedding(tokens).to(cast)  # [K, L, W]
        end = self._end_positions(tokens)
        ctx = self.text_context.to(cast).expand(k, -1, -1)
        x = torch.cat([emb[:, :1], ctx, emb[:, 1 : length - m]], dim=1)  # [SOT] ctx words...
        moved = end + m
        cut = moved > length - 1
        if bool(cut.any()):  # too long to fit: keep the end token at the last position
            rows = cut.nonzero().squeeze(1)
            x[rows, length - 1] = emb[rows, end[rows]]
            moved = moved.clamp(max=length - 1)
        x = x + clip.positional_embedding.to(cast)
        x = clip.transformer(x, attn_mask=clip.attn_mask)
        x = clip.ln_final(x)
        x = x[torch.arange(k, device=x.device), moved]
        if clip.text_projection is not None:
            if isinstance(clip.text_projection, nn.Linear):
                x = clip.text_projection(x)
            else:
                x = x @ clip.text_projection
        return F.normalize(x.float(), dim=-1)

    @property
    def text_trainable(self) -> bool:
        """True when the text context (or CLIP's text tower, if a method unfroze it) trains."""
        context = self.text_context is not None and self.text_context.requires_grad
        return context or super().text_trainable

    def text_state(self) -> dict[str, torch.Tensor]:
        state = super().text_state()
        if self.text_context is not None:
            state["text_context"] = self.text_context
        return state

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        # open_clip checkpoints each block call, which includes the block's prompts
        self.clip.visual.set_grad_checkpointing(enable)
        self.clip.transformer.grad_checkpointing = enable and self.text_trainable
