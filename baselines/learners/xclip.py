"""Learner ``xclip``: cross-frame communication, multi-frame integration, video-specific prompts.

Ni et al., "Expanding Language-Image Pretrained Models for General Video Recognition", ECCV
2022 (X-CLIP). Written from the paper's description; equation numbers are not cited because
they could not be checked against the paper here, the sections are.

Video encoder (§3.2)
--------------------
*Cross-frame Communication Transformer (CCT).* In every residual block of CLIP's vision
transformer, each frame ``t`` of a clip gets a message token made from its class token by a
linear map, ``m_t = W_m z_t,cls + b_m``. The T message tokens of the clip exchange information
by a pre-LN self-attention among themselves (cross-frame fusion attention),
``M <- M + MHA(LN(M))``. Each frame's message token is then appended to that frame's tokens for
the block's own spatial self-attention (intra-frame diffusion attention: CLIP's ``ln_1`` and
attention weights, applied to ``[z_t; m_t]``) and dropped afterwards; the block's MLP sees the
frame tokens only. A new message is made in every block.

*Multi-frame Integration Transformer (MIT).* A small pre-LN transformer (``mit_layers``,
1 by default as in the paper) over the T frame embeddings ``h_t`` with a learnable temporal
position embedding ``e_t``; the video embedding is ``v = mean_t (h_t + r_t)`` where ``r_t`` is
the sum of the MIT's residual branches on ``h + e``.

Text side (§3.3): video-specific prompting
------------------------------------------
Each class embedding ``c`` (CLIP's frozen text encoder, templates averaged) is enhanced per
video by a prompt generator: ``u_0 = c``; each of ``prompt_layers`` layers (2 in the paper)
does ``u <- u + CrossAttn(LN(u), LN_v(Z))`` then ``u <- u + FFN(LN(u))``, with ``Z`` the
video's visual context tokens; the prompted class embedding is ``c' = c + alpha * u_L`` with
``alpha`` a learnable vector (one value per dimension). Logits are
``logit_scale * <v, c' / |c'|>``.

How it fits the learner contract
--------------------------------
The harness and the recipes call ``learner.logits(learner.encode_video(frames), classifier)``
with a ``[K, D]`` classifier, so :meth:`XClipLearner.encode_video` returns ``[B, D + M*D]``:
the video embedding ``v`` followed by the M context tokens, flattened; :meth:`logits` splits
them and builds the per-video classifier ``[B, K, D]``; :meth:`video_embedding` gives back
``v`` (stored embeddings, t-SNE). :meth:`logits` also accepts a bare ``[B, D]`` embedding, which
it scores against the un-prompted classifier (there is no visual context to prompt with):
that is what FROSTER's frame-averaged cross-entropy and the decision ensemble pass.
``encode_frames`` gives the CCT frame embeddings ``h_t``.

Choices where the paper leaves room (or where this project asks for something else)
------------------------------------------------------------------------------------
1. *Start at CLIP.* The message token reaches the frame tokens through a learnable gate ``g``
   per block (``message_gate_init``, default 0): the frame tokens' attention output is
   ``A_clip + g * (A_msg - A_clip)``, where ``A_clip`` attends to the frame's own tokens (CLIP)
   and ``A_msg`` to the frame's tokens plus its message token (the paper's attention). ``g = 1``
   is the paper's block exactly; ``g = 0`` is CLIP exactly. The gate gets a gradient from the
   first step; the message modules get one once ``g != 0``. The message modules keep PyTorch's
   default initialisation (no zero init needed: the gate alone makes the block CLIP's).
2. The MIT's attention output projection and MLP output projection start at zero, so at start
   ``v = mean_t h_t``. ``e`` starts at N(0, 0.02^2). MIT heads: ``D // 64`` (8 for D = 512),
   MLP ratio 4, GELU.
3. *Embedding scale.* ``h_t`` are the L2-normalised frame embeddings and ``v`` is *not*
   re-normalised (the project's convention for CLIP learners: logits are CLIP's frame logits
   averaged over frames), so with the defaults the learner is exactly frozen CLIP on any clip.
   The paper pools un-normalised frame features and takes a cosine; that differs from CLIP on
   moving clips by the factor ``|mean_t h_t|``.
4. *Prompt context* (``prompt_context``): ``"patches"`` (default) uses the last block's patch
   tokens (after CLIP's ``ln_post``) through a new LayerNorm and a new projection to D, averaged
   over frames (M = number of patches, 196 for ViT-B/16); the projection starts as a copy of
   CLIP's visual projection. ``"frames"`` uses the T frame embeddings ``h_t`` (M = T, no new
   parameters), a lighter variant.
5. ``alpha`` starts at ``prompt_alpha_init`` = 0 so that the learner starts at CLIP; the paper
   uses 0.1 (its ViT-B/16 configuration). The generator's residual stream starts at ``c``
   (so ``c' = (1 + alpha) c + alpha * (cross-attention and FFN updates)``); prompt heads
   ``D // 64``, MLP ratio 4, GELU; ``LN_v`` is one LayerNorm on the context shared by the layers.
6. No temporal position in the CCT (the paper's message attention has none); frame order
   enters through the MIT's temporal embedding. The MIT takes up to ``num_frames`` frames.
7. No drop-path / dropout in the new modules.

Trainable: CLIP's visual tower and the new modules (messages, MIT, prompt generator). The text
tower and the logit scale stay frozen. The new modules live in the learner (``message``,
``mit``, ``prompt``), not inside ``self.clip``: CLIP's state-dict keys are unchanged, so the
frozen reference CLIP of FROSTER and of the CLIP ensembles is built from ``learner.clip``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from open_clip.transformer import Attention, CustomResidualAttentionBlock, ResidualAttentionBlock
from torch import nn

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.vclip import FrameCount
from biasbench.baselines.learners.vit_blocks import (
    merge_heads,
    retype_blocks,
    self_attention_tokens,
    split_heads,
    swap_layout,
)
from biasbench.errors import ConfigError
from biasbench.models.backbone import BackboneSpec

PROMPT_CONTEXTS = ("patches", "frames")


@dataclass(frozen=True)
class XClipSettings:
    """Settings of the X-CLIP learner (defaults: the paper's sizes, starting at CLIP)."""

    num_frames: int = 8
    mit_layers: int = 1
    prompt_layers: int = 2
    prompt_alpha_init: float = 0.0  # the paper: 0.1
    prompt_context: str = "patches"  # or "frames"
    message_gate_init: float = 0.0  # 1.0: the paper's block from the start


def check_settings(s: XClipSettings) -> None:
    """Raise :class:`ConfigError` naming the first bad setting."""

    def whole(name: str, value: object, low: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ConfigError(f"learner.{name} must be an integer >= {low}, not {value!r}")

    def finite(name: str, value: object) -> None:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            raise ConfigError(f"learner.{name} must be a finite number, not {value!r}")

    whole("num_frames", s.num_frames, 1)
    whole("mit_layers", s.mit_layers, 0)
    whole("prompt_layers", s.prompt_layers, 0)
    finite("prompt_alpha_init", s.prompt_alpha_init)
    finite("message_gate_init", s.message_gate_init)
    if s.prompt_context not in PROMPT_CONTEXTS:
        raise ConfigError(
            f"learner.prompt_context must be one of {PROMPT_CONTEXTS}, not {s.prompt_context!r}"
        )


def _num_heads(dim: int) -> int:
    """Heads of 64 channels where they fit, else one head."""
    return dim // 64 if dim % 64 == 0 else 1


# -- cross-frame communication (CCT) ------------------------------------------------------------
class CrossFrameMessage(nn.Module):
    """Message tokens of one block: ``m = fc(z_cls)``, then ``M + MHA(LN(M))`` across frames.

    Also holds the block's gate ``g`` on the message token's influence on the frame tokens.
    """

    def __init__(self, width: int, heads: int, gate_init: float = 0.0):
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.ln = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.gate = nn.Parameter(torch.full((1,), float(gate_init)))

    def forward(self, cls: torch.Tensor, num_frames: int) -> torch.Tensor:
        """``cls``: ``[B*T, W]`` class tokens, frames of a clip consecutive -> ``[B*T, W]``."""
        bt, w = cls.shape
        if bt % num_frames:
            raise ValueError(f"batch axis {bt} is not a multiple of {num_frames} frames")
        m = self.fc(cls).view(bt // num_frames, num_frames, w)
        y = self.ln(m)
        m = m + self.attn(y, y, y, need_weights=False)[0]
        return m.reshape(bt, w)


def gated_message_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, gate: torch.Tensor
) -> torch.Tensor:
    """Frame tokens' attention with the message token as an extra, gated key/value.

    ``q, k, v``: ``[B*T, H, N + 1, d]``, the message token last. Returns ``[B*T, H, N, d]`` =
    ``A_clip + gate * (A_msg - A_clip)``: ``A_clip`` attends to the N frame tokens only,
    ``A_msg`` to all N + 1 tokens; the message token's own query is not used (it is dropped).
    """
    qf = q[:, :, :-1]
    own = F.scaled_dot_product_attention(qf, k[:, :, :-1], v[:, :, :-1])
    with_msg = F.scaled_dot_product_attention(qf, k, v)
    return own + gate.to(own.dtype) * (with_msg - own)


class _MessageMixin:
    """Forward of a vision block with X-CLIP's message token (set up by ``install``)."""

    frames: FrameCount
    message: CrossFrameMessage
    batch_first: bool

    def forward(self, q_x, k_x=None, v_x=None, attn_mask=None):  # noqa: D102 - open_clip's signature
        x = self_attention_tokens(self, q_x, k_x, v_x, attn_mask, "cross-frame blocks")
        msg = self.message(x[:, 0], self.frames.num_frames)
        y = self.ln_1(torch.cat([x, msg[:, None].to(x.dtype)], dim=1))
        x = x + self.ls_1(self._attend(y))
        x = x + self.ls_2(self.mlp(self.ln_2(x)))
        return swap_layout(self, x)


class MessageBlock(_MessageMixin, ResidualAttentionBlock):
    """open_clip's default block (``nn.MultiheadAttention``) with a message token."""

    def _attend(self, y: torch.Tensor) -> torch.Tensor:
        attn: nn.MultiheadAttention = self.attn
        q, k, v = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        h = attn.num_heads
        out = gated_message_attention(
            split_heads(q, h), split_heads(k, h), split_heads(v, h), self.message.gate
        )
        return attn.out_proj(merge_heads(out))


class MessageCustomBlock(_MessageMixin, CustomResidualAttentionBlock):
    """open_clip's custom block (its own ``Attention``) with a message token."""

    def _attend(self, y: torch.Tensor) -> torch.Tensor:
        attn: Attention = self.attn
        q, k, v = F.linear(y, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (split_heads(z, attn.num_heads) for z in (q, k, v))
        out = gated_message_attention(attn.ln_q(q), attn.ln_k(k), v, self.message.gate)
        if attn.head_scale is not None:
            out = out * attn.head_scale
        out = attn.out_drop(attn.out_proj(attn.ln_inner(merge_heads(out))))
        return self.ln_attn(out)


def install_messages(visual: nn.Module, messages: nn.ModuleList, frames: FrameCount) -> None:
    """Give block ``i`` of an open_clip vision tower the message module ``messages[i]``.

    Blocks keep their parameters and state-dict keys (only their class changes); each holds
    its message module as a plain attribute, so the learner owns (names, saves) it.
    """
    blocks = visual.transformer.resblocks
    if len(blocks) != len(messages):
        raise ValueError(f"{len(messages)} message modules for {len(blocks)} blocks")
    if not isinstance(getattr(visual, "patch_dropout", nn.Identity()), nn.Identity):
        raise ConfigError("xclip needs every patch token: disable patch dropout")
    retype_blocks(visual, MessageBlock, MessageCustomBlock, "xclip", own_attention=True)
    for block, message in zip(blocks, messages, strict=True):
        object.__setattr__(block, "message", message)  # a reference, not a submodule
        block.frames = frames


# -- multi-frame integration (MIT) --------------------------------------------------------------
class _PreNormLayer(nn.Module):
    """Pre-LN transformer layer that returns its residual update ``x' - x``."""

    def __init__(self, dim: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, _num_heads(dim), batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def update(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        q = self.ln_1(x)
        kv = q if context is None else context
        a = self.attn(q, kv, kv, need_weights=False)[0]
        return a + self.mlp(self.ln_2(x + a))


class MultiFrameIntegration(nn.Module):
    """``v = mean_t (h_t + r_t)``, ``r`` the residual of a small transformer on ``h + e``."""

    def __init__(self, dim: int, num_frames: int, layers: int):
        super().__init__()
        self.time = nn.Parameter(torch.randn(num_frames, dim) * 0.02)
        self.layers = nn.ModuleList(_PreNormLayer(dim) for _ in range(layers))
        for layer in self.layers:  # the residual starts at zero: v = mean of frames
            for p in (*layer.attn.out_proj.parameters(), *layer.mlp[-1].parameters()):
                nn.init.zeros_(p)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """``[B, T, D]`` frame embeddings -> ``[B, D]`` video embeddings."""
        t = h.shape[1]
        if t > self.time.shape[0]:
            raise ValueError(f"the MIT takes up to {self.time.shape[0]} frames, got {t}")
        x = h + self.time[:t].to(h.dtype)
        residual = torch.zeros_like(h)
        for layer in self.layers:
            r = layer.update(x)
            x, residual = x + r, residual + r
        return (h + residual).mean(dim=1)


# -- video-specific prompting -------------------------------------------------------------------
class VideoSpecificPrompt(nn.Module):
    """``c' = c + alpha * u_L``, ``u_0 = c``, ``u <- u + CrossAttn(LN(u), LN_v(Z)) + FFN``."""

    def __init__(self, dim: int, layers: int, alpha_init: float):
        super().__init__()
        self.ln_context = nn.LayerNorm(dim)
        self.layers = nn.ModuleList(_PreNormLayer(dim) for _ in range(layers))
        self.alpha = nn.Parameter(torch.full((dim,), float(alpha_init)))

    def forward(self, classifier: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``[K, D]`` class embeddings, ``[B, M, D]`` context -> ``[B, K, D]`` (not normalised)."""
        b = context.shape[0]
        c = classifier.to(context.dtype).unsqueeze(0).expand(b, -1, -1)
        z = self.ln_context(context)
        u = c
        for layer in self.layers:
            u = u + layer.update(u, z)
        return c + self.alpha * u


# -- the learner -------------------------------------------------------------------------------
class XClipLearner(ClipLearner):
    """CLIP + message tokens in every vision block + MIT + video-specific prompts (X-CLIP)."""

    Settings = XClipSettings
    trainable = True
    starts_at_clip = True
    trains_clip_weights = False  # it trains weights CLIP does not have

    def __init__(self, spec: BackboneSpec, settings: XClipSettings | None = None):
        settings = settings or XClipSettings()
        check_settings(settings)
        super().__init__(spec, settings)  # type: ignore[arg-type]  (same num_frames field)
        visual = self.clip.visual
        if not hasattr(visual, "transformer") or not hasattr(visual, "output_tokens"):
            raise ConfigError(f"xclip needs a vision transformer, not {type(visual).__name__}")
        width, dim = visual.transformer.width, int(visual.output_dim)
        self.embed_dim = dim
        self._frames = FrameCount()
        self.message = nn.ModuleList(
            CrossFrameMessage(width, block.attn.num_heads, settings.message_gate_init)
            for block in visual.transformer.resblocks
        )
        install_messages(visual, self.message, self._frames)
        self.mit = MultiFrameIntegration(dim, settings.num_frames, settings.mit_layers)
        self.prompt: VideoSpecificPrompt | None = None
        self.context_ln: nn.LayerNorm | None = None
        self.context_proj: nn.Linear | None = None
        if settings.prompt_layers:
            self.prompt = VideoSpecificPrompt(
                dim, settings.prompt_layers, settings.prompt_alpha_init
            )
            if settings.prompt_context == "patches":
                self.context_ln = nn.LayerNorm(width)
                self.context_proj = nn.Linear(width, dim, bias=False)
                if visual.proj is not None:
                    with torch.no_grad():
                        self.context_proj.weight.copy_(visual.proj.t())
        visual.requires_grad_(True)

    # -- encoders ------------------------------------------------------------------------
    def _encode(self, frames: torch.Tensor, tokens: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, T, C, H, W]`` -> normalised CCT frame embeddings ``[B, T, D]`` and (if asked)
        the last block's patch tokens ``[B*T, P, W]`` (else an empty tensor)."""
        b, t = frames.shape[:2]
        self._frames.num_frames = t
        visual = self.clip.visual
        if tokens:
            visual.output_tokens = True
            try:
                pooled, patches = visual(frames.flatten(0, 1))
            finally:
                visual.output_tokens = False
        else:
            pooled, patches = visual(frames.flatten(0, 1)), frames.new_zeros(0)
        return F.normalize(pooled.float(), dim=-1).view(b, t, -1), patches

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` -> ``[B, T, D]`` normalised frame embeddings after the CCT."""
        return self._encode(frames, tokens=False)[0]

    def encode_video(self, frames: torch.Tensor) -> torch.Tensor:
        """``[B, T, C, H, W]`` -> ``[B, D + M*D]``: the video embedding, then the prompt
        context tokens flattened (``M = 0`` without prompting)."""
        return self.encode_with_frames(frames)[0]

    def encode_with_frames(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode_video`'s output and the CCT frame embeddings ``[B, T, D]`` it pools."""
        b, t = frames.shape[:2]
        patches_needed = self.context_proj is not None
        h, patches = self._encode(frames, tokens=patches_needed)
        video = self.mit(h)
        if self.prompt is None:
            return video, h
        if patches_needed:
            z = self.context_proj(self.context_ln(patches))  # [B*T, P, D]
            context = z.float().view(b, t, *z.shape[1:]).mean(dim=1)
        else:
            context = h
        return torch.cat([video, context.flatten(1)], dim=1), h

    def video_embedding(self, emb: torch.Tensor) -> torch.Tensor:
        """The video embedding part ``[B, D]`` of :meth:`encode_video`'s output."""
        return emb[:, : self.embed_dim]

    def logits(self, video_emb: torch.Tensor, classifier: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, K]`` against the video-specific prompted classifier.

        ``video_emb`` is :meth:`encode_video`'s output, or a bare ``[B, D]`` video embedding,
        scored against the un-prompted classifier (no visual context to prompt with).
        """
        d = classifier.shape[-1]
        width = video_emb.shape[-1]
        if width == d or self.prompt is None:
            return super().logits(video_emb[:, :d], classifier)
        if width % d:
            raise ValueError(f"embedding width {width} is not D + M*D for D = {d}")
        video = video_emb[:, :d]
        context = video_emb[:, d:].reshape(video_emb.shape[0], -1, d)
        prompted = F.normalize(self.prompt(classifier, context).float(), dim=-1)
        return self.logit_scale * torch.einsum("bd,bkd->bk", video.float(), prompted)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        # open_clip checkpoints each block call, which includes the block's message module
        self.clip.visual.set_grad_checkpointing(enable)
