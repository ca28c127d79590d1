"""Learners ``vifi-clip`` and ``st-adapter`` on a tiny random-init CLIP.

Behaviour pinned down: shapes and norms, "starts exactly at CLIP" on a moving clip, what
trains (counted independently of the code), that one step moves the outputs, and clear errors
for bad settings.
"""

from __future__ import annotations

import copy

import pytest
import torch
from learner_helpers import PROMPTS, SPEC, T, make_learner
from learner_helpers import clip_of as _clip_of
from learner_helpers import moving as _moving
from learner_helpers import prompt_loss as _loss

from biasbench.baselines.learners.st_adapter import STAdapterLearner, STAdapterSettings
from biasbench.baselines.learners.vifi_clip import ViFiClipLearner, ViFiClipSettings
from biasbench.config import settings_from
from biasbench.errors import ConfigError
from biasbench.plugins import LEARNERS

WIDTH, LAYERS, EMBED = 128, 4, 128  # biasbench-tiny-p8-64


def _make(name: str, **values):
    return make_learner(name, **values)


def _adapter_params(width: int, bottleneck: int, layers: int) -> int:
    down = width * bottleneck + bottleneck
    dwconv = bottleneck * 3 + bottleneck  # one 3x1x1 filter + bias per channel
    up = bottleneck * width + width
    return layers * (down + dwconv + up)


def test_both_are_registered():
    assert LEARNERS.get("vifi-clip") is ViFiClipLearner
    assert LEARNERS.get("st-adapter") is STAdapterLearner


@pytest.mark.parametrize("name", ["vifi-clip", "st-adapter"])
def test_shapes_and_norms(name):
    learner = _make(name)
    assert learner.data_config.num_frames == T
    x = _moving(3)
    with torch.no_grad():
        frames = learner.encode_frames(x)
        video = learner.encode_video(x)
        text = learner.encode_text(learner.tokenize(PROMPTS))
        static = learner.encode_video(x[:, :1].expand(-1, T, -1, -1, -1).contiguous())
    assert frames.shape == (3, T, EMBED) and video.shape == (3, EMBED)
    assert text.shape == (len(PROMPTS), EMBED)
    assert torch.allclose(frames.norm(dim=-1), torch.ones(3, T), atol=1e-5)
    assert torch.allclose(text.norm(dim=-1), torch.ones(len(PROMPTS)), atol=1e-5)
    assert torch.allclose(video, frames.mean(1), atol=1e-6)  # mean, not re-normalised
    assert (video.norm(dim=-1) <= 1 + 1e-5).all() and (video.norm(dim=-1) < 0.999).all()
    assert torch.allclose(static.norm(dim=-1), torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("name", ["vifi-clip", "st-adapter"])
def test_starts_exactly_at_clip_on_a_moving_clip(name):
    learner = _make(name)
    clip = _clip_of(learner)
    x = _moving()
    assert learner.starts_at_clip
    with torch.no_grad():
        assert torch.allclose(learner.encode_video(x), clip.encode_video(x), atol=1e-5)
        tokens = clip.tokenize(PROMPTS)
        assert torch.allclose(learner.encode_text(tokens), clip.encode_text(tokens), atol=1e-6)
    assert torch.equal(learner.logit_scale, clip.logit_scale)


def test_vifi_clip_trains_everything_but_the_logit_scale():
    learner = _make("vifi-clip")
    everything = dict(learner.clip.named_parameters())
    trainable = {n for n, p in learner.named_parameters() if p.requires_grad}
    assert trainable == {f"clip.{n}" for n in everything} - {"clip.logit_scale"}
    count = sum(p.numel() for p in learner.trainable_parameters())
    assert count == sum(p.numel() for p in everything.values()) - 1
    assert learner.text_trainable and learner.describe()["params_trainable"] == count
    assert learner.clip.state_dict().keys() == _clip_of(learner).clip.state_dict().keys()


@pytest.mark.parametrize("bottleneck", [None, 16])
def test_st_adapter_trains_exactly_its_adapters(bottleneck):
    learner = _make("st-adapter", bottleneck=bottleneck)
    b = WIDTH // 2 if bottleneck is None else bottleneck
    count = sum(p.numel() for p in learner.trainable_parameters())
    assert count == _adapter_params(WIDTH, b, LAYERS)
    assert all(n.startswith("adapters.") for n, p in learner.named_parameters() if p.requires_grad)
    assert not any(p.requires_grad for p in learner.clip.parameters())
    assert not getattr(learner, "text_trainable", False)
    # CLIP's own keys are unchanged: the adapters are not inside the CLIP model
    assert learner.clip.state_dict().keys() == _clip_of(learner).clip.state_dict().keys()
    n_clip = sum(p.numel() for p in learner.clip.parameters())
    assert sum(p.numel() for p in learner.parameters()) == n_clip + count


def test_adapter_leaves_the_class_token_and_mixes_only_along_time():
    learner = _make("st-adapter")
    adapter = learner.adapters[0]
    with torch.no_grad():
        adapter.up.weight.normal_(std=0.1)
    learner._frames.num_frames = 2
    x = torch.randn(2 * 2, 1 + 8 * 8, WIDTH)  # 2 clips x 2 frames, class token + 8x8 patches
    with torch.no_grad():
        y = adapter(x)
        bumped = x.clone()
        bumped[1, 1 + 5] += 1.0  # clip 0, frame 1, patch 5
        dy = (adapter(bumped) - y).abs().amax(-1)  # [4, 65]
    assert torch.equal(y[:, 0], x[:, 0])
    changed = {(i, j) for i, j in (dy > 1e-6).nonzero().tolist()}
    assert changed == {(0, 1 + 5), (1, 1 + 5)}  # same patch, frames 0 and 1 of clip 0 only


def test_st_adapter_step_reaches_up_then_down_and_moves_the_outputs():
    learner = _make("st-adapter").train()
    x = _moving()
    with torch.no_grad():
        before = learner.encode_video(x)
    opt = torch.optim.SGD([p for a in learner.adapters for p in a.up.parameters()], lr=1.0)
    _loss(learner, x).backward()
    for a in learner.adapters:
        assert a.up.weight.grad.abs().sum() > 0
        assert a.down.weight.grad is None or not a.down.weight.grad.any()  # Up = 0 blocks it
    assert all(p.grad is None for p in learner.clip.parameters())
    opt.step()
    learner.zero_grad()
    _loss(learner, x).backward()
    assert all(a.down.weight.grad.abs().sum() > 0 for a in learner.adapters)
    assert all(a.conv.weight.grad.abs().sum() > 0 for a in learner.adapters)
    with torch.no_grad():
        after = learner.encode_video(x)
        clip = _clip_of(learner).encode_video(x)
    assert (after - before).abs().max() > 1e-6 and (after - clip).abs().max() > 1e-6


def test_st_adapter_is_temporal_and_copies_keep_their_own_adapters():
    learner = _make("st-adapter")
    with torch.no_grad():
        for a in learner.adapters:
            a.up.weight.normal_(std=0.05)
    x = _moving(1)
    y = x.clone()
    y[:, 1] = torch.randn_like(y[:, 1])  # change frame 1 only
    twin = copy.deepcopy(learner)
    with torch.no_grad():
        fx, fy = learner.encode_frames(x), learner.encode_frames(y)
        assert (fx[:, 0] - fy[:, 0]).abs().max() > 1e-5  # frame 0 sees frame 1
        assert torch.allclose(twin.encode_frames(x), fx, atol=1e-6)
        twin.adapters[0].up.weight.zero_()
        assert (twin.encode_frames(x) - fx).abs().max() > 1e-6
        assert torch.allclose(learner.encode_frames(x), fx, atol=1e-6)


def test_vifi_clip_step_updates_both_towers_not_the_scale():
    learner = _make("vifi-clip").train()
    x = _moving()
    tokens = learner.tokenize(PROMPTS)
    with torch.no_grad():
        before_v, before_t = learner.encode_video(x), learner.encode_text(tokens)
    scale = learner.logit_scale.clone()
    opt = torch.optim.SGD(learner.trainable_parameters(), lr=0.5)
    _loss(learner, x).backward()
    params = dict(learner.clip.named_parameters())
    assert params["visual.conv1.weight"].grad.abs().sum() > 0
    assert params["token_embedding.weight"].grad.abs().sum() > 0
    assert params["logit_scale"].grad is None
    opt.step()
    with torch.no_grad():
        assert (learner.encode_video(x) - before_v).abs().max() > 1e-6
        assert (learner.encode_text(tokens) - before_t).abs().max() > 1e-6
    assert torch.equal(learner.logit_scale, scale)


def test_st_adapter_checkpointing_gives_the_same_gradients():
    learner = _make("st-adapter").train()
    with torch.no_grad():
        for a in learner.adapters:
            a.up.weight.normal_(std=0.05)
    x = _moving(1)
    grads = []
    for enable in (False, True):
        learner.set_grad_checkpointing(enable)
        learner.zero_grad()
        learner.encode_video(x).sum().backward()
        grads.append([p.grad.clone() for p in learner.trainable_parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))


@pytest.mark.parametrize("bad", [0, -4, 2.5, "big", True])
def test_bad_bottleneck_is_a_config_error_naming_the_field(bad):
    with pytest.raises(ConfigError, match="bottleneck"):
        STAdapterLearner(SPEC, STAdapterSettings(num_frames=T, bottleneck=bad))


def test_unknown_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="bottleneck"):
        settings_from(ViFiClipSettings, {"bottleneck": 8}, "learner")
