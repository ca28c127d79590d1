"""Learner ``vclip``: neighbour-frame attention on a tiny random-init CLIP.

What "starts exactly at CLIP" means, pinned down: the same weights, and the same function on
single frames (T = 1) and on static clips (identical frames) for any T; a moving clip with
T > 1 differs from frame-wise CLIP from the first step on.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.vclip import VClipLearner, VClipSettings, neighbour_attention
from biasbench.models.backbone import BackboneSpec

SPEC = BackboneSpec("biasbench-tiny-p8-64", None)


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(0)
    clip = ClipLearner(SPEC)
    vclip = VClipLearner(SPEC)
    vclip.clip.load_state_dict(clip.clip.state_dict())
    return clip.eval(), vclip.eval()


def _naive(q, k, v, t, border):
    """Frame by frame: softmax over the keys of the existing neighbours (or zero ones)."""
    bt, h, n, d = q.shape
    b = bt // t
    q, k, v = (x.view(b, t, h, n, d) for x in (q, k, v))
    out = torch.empty_like(q)
    for i in range(b):
        for f in range(t):
            ks, vs = [], []
            for g in (f - 1, f, f + 1):
                if 0 <= g < t:
                    ks.append(k[i, g])
                    vs.append(v[i, g])
                elif border == "zeros":
                    ks.append(torch.zeros_like(k[i, f]))
                    vs.append(torch.zeros_like(v[i, f]))
            kk, vv = torch.cat(ks, 1), torch.cat(vs, 1)  # [h, m, d]
            w = torch.softmax(q[i, f] @ kk.transpose(1, 2) / d**0.5, dim=-1)
            out[i, f] = w @ vv
    return out.view(bt, h, n, d)


@pytest.mark.parametrize("border", ["mask", "zeros"])
def test_neighbour_attention_matches_a_frame_by_frame_computation(border):
    torch.manual_seed(1)
    q, k, v = (torch.randn(2 * 4, 2, 5, 3) for _ in range(3))
    got = neighbour_attention(q, k, v, num_frames=4, border=border)
    assert torch.allclose(got, _naive(q, k, v, 4, border), atol=1e-5)


def test_one_frame_equals_clip_exactly(pair):
    clip, vclip = pair
    x = torch.randn(3, 1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(vclip.encode_frames(x), clip.encode_frames(x), atol=1e-5)
        assert torch.allclose(vclip.encode_video(x), clip.encode_video(x), atol=1e-5)


def test_static_clip_equals_clip_for_any_length_and_moving_clip_does_not(pair):
    clip, vclip = pair
    frame = torch.randn(1, 1, 3, 64, 64)
    static = frame.expand(1, 4, 3, 64, 64).contiguous()
    moving = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(vclip.encode_frames(static), clip.encode_frames(static), atol=1e-5)
        gap = (vclip.encode_frames(moving) - clip.encode_frames(moving)).abs().max()
    assert gap > 1e-3


def test_zero_border_breaks_the_single_frame_identity(pair):
    clip, _ = pair
    zeros = VClipLearner(SPEC, VClipSettings(border="zeros")).eval()
    zeros.clip.load_state_dict(clip.clip.state_dict())
    x = torch.randn(2, 1, 3, 64, 64)
    with torch.no_grad():
        assert (zeros.encode_frames(x) - clip.encode_frames(x)).abs().max() > 1e-4


def test_no_new_parameters_visual_trains_text_frozen(pair):
    clip, vclip = pair
    a, b = clip.clip.state_dict(), vclip.clip.state_dict()
    assert a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)
    trainable = {n for n, p in vclip.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith("clip.visual.") for n in trainable)
    assert len(trainable) == len(list(vclip.clip.visual.parameters()))
    text = VClipLearner(SPEC, VClipSettings(train_text=True))
    names = {n for n, p in text.named_parameters() if p.requires_grad}
    assert "clip.token_embedding.weight" in names and "clip.logit_scale" not in names


def test_activation_checkpointing_gives_the_same_gradients(pair):
    _, vclip = pair
    model = copy.deepcopy(vclip).train()
    x = torch.randn(1, 3, 3, 64, 64)
    grads = []
    for enable in (False, True):
        model.set_grad_checkpointing(enable)
        model.zero_grad()
        F.normalize(model.encode_video(x), dim=-1).sum().backward()
        grads.append([p.grad.clone() for p in model.trainable_parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))


def test_copies_keep_their_own_frame_count(pair):
    _, vclip = pair
    twin = copy.deepcopy(vclip)
    x = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(twin.encode_frames(x), vclip.encode_frames(x), atol=1e-6)
        twin.encode_frames(x[:, :1])
        assert vclip._frames is not twin._frames


def test_video_embedding_is_invariant_to_time_reversal(pair):
    """Each frame attends to an unordered set of its neighbours' tokens (no temporal position),
    so reversing a clip reverses its frame embeddings and leaves their mean unchanged: vclip
    cannot tell a motion from its reverse ("moving left" / "moving right")."""
    _, vclip = pair
    x = torch.randn(1, 4, 3, 64, 64)
    with torch.no_grad():
        frames, reverse = vclip.encode_frames(x), vclip.encode_frames(x.flip(1))
        assert torch.allclose(frames, reverse.flip(1), atol=1e-5)
        assert torch.allclose(vclip.encode_video(x), vclip.encode_video(x.flip(1)), atol=1e-5)
