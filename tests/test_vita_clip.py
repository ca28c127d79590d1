"""Learner ``vita-clip`` on a tiny random-init CLIP.

Behaviour pinned down: shapes and norms, what trains (counted independently of the code),
that with every prompt off it is exactly frozen CLIP, where the text context goes (before the
prompt's words, pooled at the end token), which prompt carries what across frames, that one
step (and a real training run) moves both the video and the text side, that cached text
classifiers are invalidated, and clear errors for bad settings.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
from learner_helpers import PROMPTS, SPEC, T, make_learner
from learner_helpers import clip_of as _clip_of
from learner_helpers import moving as _moving
from learner_helpers import prompt_loss as _loss
from test_training import fit_ctx, method_with, toy_videoset

from biasbench.baselines.learners.vita_clip import VitaClipLearner, VitaClipSettings
from biasbench.baselines.recipes.plain import Plain
from biasbench.config import settings_from
from biasbench.errors import ConfigError
from biasbench.plugins import LEARNERS
from biasbench.protocol import TrainRequest
from biasbench.training import checkpoint as ckpt
from biasbench.training.ensemble import reference_clip

WIDTH, LAYERS, HEADS, EMBED, TEXT_WIDTH = 128, 4, 4, 128, 128  # biasbench-tiny-p8-64
NO_PROMPTS = dict(global_prompts=0, local_prompts=False, summary_token=False, text_context=0)


def _make(**values) -> VitaClipLearner:
    return make_learner("vita-clip", **values)


def _prompt_params(width, heads, layers, frames, n_global, local, summary, n_text, text_width):
    """Independent count: per layer G + T tokens and an MHA (in/out projections with bias)."""
    del heads  # the head count does not change an MHA's size
    mha = (3 * width * width + 3 * width) + (width * width + width)
    per_layer = n_global * width + (frames * width if local else 0) + (mha if summary else 0)
    return layers * per_layer + n_text * text_width


def test_registered_and_flags():
    assert LEARNERS.get("vita-clip") is VitaClipLearner
    assert VitaClipLearner.Settings is VitaClipSettings
    assert VitaClipLearner.starts_at_clip is False
    assert VitaClipLearner.trains_clip_weights is False
    assert VitaClipLearner.trainable is True
    assert [f.name for f in dataclasses.fields(VitaClipSettings)][0] == "num_frames"


def test_shapes_and_norms():
    learner = _make()
    assert learner.data_config.num_frames == T
    x = _moving(3)
    with torch.no_grad():
        frames = learner.encode_frames(x)
        video = learner.encode_video(x)
        text = learner.encode_text(learner.tokenize(PROMPTS))
        logits = learner.logits(video, text)
    assert frames.shape == (3, T, EMBED) and video.shape == (3, EMBED)
    assert text.shape == (len(PROMPTS), EMBED) and logits.shape == (3, len(PROMPTS))
    assert torch.allclose(frames.norm(dim=-1), torch.ones(3, T), atol=1e-5)
    assert torch.allclose(text.norm(dim=-1), torch.ones(len(PROMPTS)), atol=1e-5)
    assert torch.allclose(video, frames.mean(1), atol=1e-6)  # mean, not re-normalised
    assert torch.isfinite(logits).all()
    assert torch.allclose(logits, learner.logit_scale * video @ text.t())


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"global_prompts": 3, "local_prompts": False},
        {"summary_token": False, "text_context": 0},
        {"prompt_layers": 2, "text_context": 5},
        {"prompt_layers": 0},
    ],
)
def test_only_the_prompts_train(values):
    learner = _make(**values)
    s = learner.settings
    layers = LAYERS if s.prompt_layers is None else s.prompt_layers
    expected = _prompt_params(
        WIDTH,
        HEADS,
        layers,
        T,
        s.global_prompts,
        s.local_prompts,
        s.summary_token,
        s.text_context,
        TEXT_WIDTH,
    )
    count = sum(p.numel() for p in learner.trainable_parameters())
    assert count == expected and learner.describe()["params_trainable"] == count
    assert not any(p.requires_grad for p in learner.clip.parameters())  # towers + logit scale
    names = {n for n, p in learner.named_parameters() if p.requires_grad}
    assert all(n == "text_context" or n.startswith("video_prompts.") for n in names)
    assert learner.text_trainable == (s.text_context > 0)
    # the prompts are not inside the CLIP model: its keys are CLIP's
    assert learner.clip.state_dict().keys() == _clip_of(learner).clip.state_dict().keys()
    n_clip = sum(p.numel() for p in learner.clip.parameters())
    assert sum(p.numel() for p in learner.parameters()) == n_clip + count


def test_without_prompts_it_is_exactly_frozen_clip():
    learner = _make(**NO_PROMPTS)
    clip = _clip_of(learner)
    x = _moving()
    assert learner.trainable_parameters() == []
    with torch.no_grad():
        tokens = clip.tokenize(PROMPTS)
        got = learner.logits(learner.encode_video(x), learner.encode_text(tokens))
        want = clip.logits(clip.encode_video(x), clip.encode_text(tokens))
    assert torch.equal(got, want)
    assert torch.equal(learner.logit_scale, clip.logit_scale)


def test_prompts_change_the_output_and_reference_clip_is_frozen_clip():
    learner = _make()
    clip = _clip_of(learner)
    x = _moving()
    tokens = clip.tokenize(PROMPTS)
    ref = reference_clip(learner, ckpt.trainable_state(learner))
    with torch.no_grad():
        assert (learner.encode_video(x) - clip.encode_video(x)).abs().max() > 1e-4
        assert (learner.encode_text(tokens) - clip.encode_text(tokens)).abs().max() > 1e-4
        assert torch.equal(ref.encode_video(x), clip.encode_video(x))
        assert torch.equal(ref.encode_text(tokens), clip.encode_text(tokens))


def test_prompt_layers_zero_keeps_clips_video_side_and_only_the_text_changes():
    learner = _make(prompt_layers=0)
    clip = _clip_of(learner)
    x = _moving()
    tokens = clip.tokenize(PROMPTS)
    with torch.no_grad():
        assert torch.equal(learner.encode_video(x), clip.encode_video(x))
        assert (learner.encode_text(tokens) - clip.encode_text(tokens)).abs().max() > 1e-4


def test_text_context_goes_before_the_prompt_words_and_pools_at_the_end_token():
    # context vectors set to the embeddings of "a video of" turn "running." into CLIP's
    # "a video of running.": the context sits right after the start token, the words follow
    learner = _make(text_context=3)
    clip = _clip_of(learner)
    words = clip.tokenize(["a video of"])[0, 1:4]
    with torch.no_grad():
        learner.text_context.copy_(learner.clip.token_embedding.weight[words])
        got = learner.encode_text(learner.tokenize(["running.", "jumping jacks."]))
        want = clip.encode_text(clip.tokenize(["a video of running.", "a video of jumping jacks."]))
    assert torch.allclose(got, want, atol=1e-5)


def test_a_prompt_too_long_for_the_context_keeps_its_end_token():
    learner = _make(text_context=8)
    length = learner.clip.positional_embedding.shape[0]
    long = " ".join(["run"] * (length - 4))  # fills the context: the end token is near the end
    tokens = learner.tokenize([long, "a video of running."])
    assert int(tokens[0].argmax()) + 8 > length - 1
    with torch.no_grad():
        text = learner.encode_text(tokens)
    assert torch.isfinite(text).all()
    assert torch.allclose(text.norm(dim=-1), torch.ones(2), atol=1e-5)
    # the cut prompt is pooled at its (moved) end token: changing the context changes it
    with torch.no_grad():
        learner.text_context.add_(torch.randn_like(learner.text_context))
        assert (learner.encode_text(tokens)[0] - text[0]).abs().max() > 1e-5


def test_summary_token_is_the_only_path_between_frames():
    x = _moving(1)
    y = x.clone()
    y[:, 1] = torch.randn_like(y[:, 1])  # change frame 1 only
    with torch.no_grad():
        with_summary = _make()
        fx, fy = with_summary.encode_frames(x), with_summary.encode_frames(y)
        assert (fx[:, 0] - fy[:, 0]).abs().max() > 1e-5  # frame 0 sees frame 1
        without = _make(summary_token=False)
        fx, fy = without.encode_frames(x), without.encode_frames(y)
        assert torch.allclose(fx[:, 0], fy[:, 0], atol=1e-6)
        assert torch.allclose(fx[:, 2:], fy[:, 2:], atol=1e-6)


def test_local_prompts_tell_frames_apart_global_prompts_do_not():
    static = _moving(1)[:, :1].expand(-1, T, -1, -1, -1).contiguous()  # identical frames
    with torch.no_grad():
        local = _make(global_prompts=0, summary_token=False).encode_frames(static)[0]
        glob = _make(local_prompts=False, summary_token=False).encode_frames(static)[0]
    assert (local[0] - local[1]).abs().max() > 1e-5
    assert torch.allclose(glob, glob[:1].expand(T, -1), atol=1e-6)


def test_fewer_frames_use_the_first_local_prompts_more_frames_fail():
    learner = _make()
    x = _moving(2)
    with torch.no_grad():
        assert learner.encode_video(x[:, :2]).shape == (2, EMBED)
        with pytest.raises(ValueError, match="local prompts"):
            learner.encode_video(torch.cat([x, x], dim=1))


def test_one_step_moves_the_video_and_the_text_embeddings():
    learner = _make().train()
    x = _moving()
    tokens = learner.tokenize(PROMPTS)
    with torch.no_grad():
        before_v, before_t = learner.encode_video(x), learner.encode_text(tokens)
    scale = learner.logit_scale.clone()
    opt = torch.optim.SGD(learner.trainable_parameters(), lr=1.0)
    _loss(learner, x).backward()
    assert learner.text_context.grad.abs().sum() > 0
    for p in learner.video_prompts:
        assert p.global_tokens.grad.abs().sum() > 0
        assert p.local_tokens.grad.abs().sum() > 0
        assert p.summary.in_proj_weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in learner.clip.parameters())
    opt.step()
    with torch.no_grad():
        assert (learner.encode_video(x) - before_v).abs().max() > 1e-6
        assert (learner.encode_text(tokens) - before_t).abs().max() > 1e-6
    assert torch.equal(learner.logit_scale, scale)


def test_text_state_follows_the_text_prompts():
    learner = _make()
    identity = learner.text_identity()
    assert "text_context" in learner.text_state()
    assert not any(k.startswith("visual.") for k in learner.text_state())
    with torch.no_grad():
        learner.video_prompts[0].global_tokens.normal_()  # vision side: same text classifiers
    assert learner.text_identity() == identity
    with torch.no_grad():
        learner.text_context.add_(0.01 * torch.randn_like(learner.text_context))
    assert learner.text_identity() != identity


def test_training_run_recomputes_text_with_gradients_and_moves_the_text_context(tmp_path):
    torch.manual_seed(0)
    learner = _make(num_frames=2).train()
    vs = toy_videoset(tmp_path / "toys", per_class=1, size=64, frames=4)
    vs = dataclasses.replace(vs, records=vs.records[:4])
    before = {n: p.detach().clone() for n, p in learner.named_parameters() if p.requires_grad}
    method = method_with(Plain, epochs=1, batch_size=2, warmup_epochs=0.0)
    method.fit(learner, TrainRequest(vs, "xd"), fit_ctx(tmp_path / "run"))
    after = dict(learner.named_parameters())
    assert not torch.equal(after["text_context"], before["text_context"])
    assert not torch.equal(
        after["video_prompts.0.global_tokens"], before["video_prompts.0.global_tokens"]
    )
    assert all(not p.requires_grad for p in learner.clip.parameters())


def test_checkpointing_gives_the_same_gradients_and_copies_keep_their_prompts():
    learner = _make().train()
    x = _moving(1)
    grads = []
    for enable in (False, True):
        learner.set_grad_checkpointing(enable)
        learner.zero_grad()
        _loss(learner, x).backward()
        grads.append([p.grad.clone() for p in learner.trainable_parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))
    learner.eval()
    twin = copy.deepcopy(learner)
    with torch.no_grad():
        fx = learner.encode_frames(x)
        twin.video_prompts[0].global_tokens.normal_()
        assert (twin.encode_frames(x) - fx).abs().max() > 1e-6
        assert torch.allclose(learner.encode_frames(x), fx, atol=1e-6)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("global_prompts", -1),
        ("global_prompts", 2.5),
        ("global_prompts", True),
        ("text_context", -2),
        ("text_context", 1000),  # no room in the text context
        ("prompt_layers", -1),
        ("prompt_layers", LAYERS + 1),  # more than the vision tower has
        ("local_prompts", 1),
        ("summary_token", "yes"),
        ("num_frames", 0),
    ],
)
def test_bad_settings_are_config_errors_naming_the_field(field, bad):
    with pytest.raises(ConfigError, match=field):
        VitaClipLearner(SPEC, VitaClipSettings(**{"num_frames": T, field: bad}))


def test_unknown_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="bottleneck"):
        settings_from(VitaClipSettings, {"bottleneck": 8}, "learner")
