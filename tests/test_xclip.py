"""Learner ``xclip`` on a tiny random-init CLIP.

Behaviour pinned down: output shapes and the video-embedding part, "starts exactly at CLIP" on
a moving clip, what trains (new modules counted by formula), that one step leaves CLIP, that
video-specific prompting makes the classifier depend on the video, that the message tokens
carry information across frames once their gate opens, the frozen reference CLIP of FROSTER and
the CLIP ensembles, and clear errors for bad settings.
"""

from __future__ import annotations

import copy

import pytest
import torch
from learner_helpers import PROMPTS, SPEC, T, make_learner
from learner_helpers import clip_of as _clip_of
from learner_helpers import moving as _moving
from learner_helpers import prompt_loss as _loss

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.xclip import XClipLearner, XClipSettings
from biasbench.config import settings_from
from biasbench.errors import ConfigError
from biasbench.plugins import LEARNERS
from biasbench.training import checkpoint as ckpt
from biasbench.training.ensemble import DecisionEnsemble, reference_clip

WIDTH, LAYERS, EMBED, PATCHES = 128, 4, 128, 64  # biasbench-tiny-p8-64: 8 x 8 patches


def _make(**values) -> XClipLearner:
    return make_learner("xclip", **values)


def _classifier(learner) -> torch.Tensor:
    with torch.no_grad():
        return learner.encode_text(learner.tokenize(PROMPTS))


def _layer(d: int) -> int:
    """A pre-LN transformer layer of width d: 2 LNs, attention (qkv + out), MLP d -> 4d -> d."""
    return 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)


def _new_params(t: int, mit: int, prompt: int, patches: bool) -> int:
    message = (
        (WIDTH * WIDTH + WIDTH) + 2 * WIDTH + 4 * (WIDTH * WIDTH + WIDTH) + 1
    )  # fc, LN, MHA, g
    count = LAYERS * message + t * EMBED + mit * _layer(EMBED)
    if prompt:
        count += 2 * EMBED + prompt * _layer(EMBED) + EMBED  # context LN, layers, alpha
        if patches:
            count += 2 * WIDTH + WIDTH * EMBED  # patch-token LN and projection (no bias)
    return count


def test_is_registered_and_declares_its_kind():
    assert LEARNERS.get("xclip") is XClipLearner
    assert XClipLearner.Settings is XClipSettings
    assert XClipLearner.starts_at_clip and XClipLearner.trainable
    assert not XClipLearner.trains_clip_weights


@pytest.mark.parametrize("context, m", [("patches", PATCHES), ("frames", T)])
def test_shapes_and_the_video_embedding(context, m):
    learner = _make(prompt_context=context, prompt_alpha_init=0.1)
    x = _moving(3)
    cls = _classifier(learner)
    with torch.no_grad():
        emb = learner.encode_video(x)
        frames = learner.encode_frames(x)
        logits = learner.logits(emb, cls)
        static = learner.encode_video(x[:, :1].expand(-1, T, -1, -1, -1).contiguous())
    assert emb.shape == (3, EMBED + m * EMBED)
    assert logits.shape == (3, len(PROMPTS)) and torch.isfinite(logits).all()
    video = learner.video_embedding(emb)
    assert video.shape == (3, EMBED)
    assert frames.shape == (3, T, EMBED)
    assert torch.allclose(frames.norm(dim=-1), torch.ones(3, T), atol=1e-5)
    # at start the video embedding is the mean of the normalised frames (CLIP's convention):
    # unit norm on a static clip, shorter on a moving one
    assert torch.allclose(video, frames.mean(1), atol=1e-6)
    assert (video.norm(dim=-1) < 0.999).all()
    assert torch.allclose(learner.video_embedding(static).norm(dim=-1), torch.ones(3), atol=1e-5)


def test_without_prompting_the_output_is_the_video_embedding():
    learner = _make(prompt_layers=0)
    with torch.no_grad():
        emb = learner.encode_video(_moving())
    assert emb.shape == (2, EMBED) and torch.equal(learner.video_embedding(emb), emb)


@pytest.mark.parametrize("context", ["patches", "frames"])
def test_starts_exactly_at_clip_on_a_moving_clip(context):
    learner = _make(prompt_context=context)
    clip = _clip_of(learner)
    x = _moving()
    cls = _classifier(clip)
    with torch.no_grad():
        got = learner.logits(learner.encode_video(x), cls)
        want = clip.logits(clip.encode_video(x), cls)
        assert torch.allclose(got, want, atol=1e-5)
        assert torch.allclose(learner.encode_frames(x), clip.encode_frames(x), atol=1e-6)
        tokens = clip.tokenize(PROMPTS)
        assert torch.allclose(learner.encode_text(tokens), cls, atol=1e-6)
    assert torch.equal(learner.logit_scale, clip.logit_scale)


def test_trains_the_visual_tower_and_the_new_modules_only():
    learner = _make()
    trainable = {n for n, p in learner.named_parameters() if p.requires_grad}
    visual = {f"clip.{n}" for n, _ in learner.clip.named_parameters() if n.startswith("visual.")}
    assert visual <= trainable
    assert not any(n.startswith("clip.") and n not in visual for n in trainable)  # text, scale
    new = sum(p.numel() for n, p in learner.named_parameters() if not n.startswith("clip."))
    assert new == _new_params(T, mit=1, prompt=2, patches=True)
    assert all(p.requires_grad for n, p in learner.named_parameters() if not n.startswith("clip."))
    n_visual = sum(p.numel() for p in learner.clip.visual.parameters())
    count = sum(p.numel() for p in learner.trainable_parameters())
    assert count == n_visual + new == learner.describe()["params_trainable"]
    # CLIP's own keys are unchanged: the new modules are not inside the CLIP model
    assert learner.clip.state_dict().keys() == _clip_of(learner).clip.state_dict().keys()


@pytest.mark.parametrize("mit, prompt, context", [(2, 1, "frames"), (0, 0, "patches")])
def test_new_module_count_follows_the_settings(mit, prompt, context):
    learner = _make(mit_layers=mit, prompt_layers=prompt, prompt_context=context)
    new = sum(p.numel() for n, p in learner.named_parameters() if not n.startswith("clip."))
    assert new == _new_params(T, mit, prompt, context == "patches")


def test_one_step_leaves_clip_and_opens_the_gates():
    learner = _make().train()
    x = _moving()
    cls = _classifier(learner)
    with torch.no_grad():
        before = learner.logits(learner.encode_video(x), cls)
    _loss(learner, x).backward()
    assert all(m.gate.grad.abs().sum() > 0 for m in learner.message)
    assert learner.clip.visual.conv1.weight.grad.abs().sum() > 0
    assert learner.clip.logit_scale.grad is None
    assert learner.clip.token_embedding.weight.grad is None
    torch.optim.SGD(learner.trainable_parameters(), lr=0.5).step()
    with torch.no_grad():
        after = learner.logits(learner.encode_video(x), cls)
    assert (after - before).abs().max() > 1e-4
    assert all(m.gate.abs().sum() > 0 for m in learner.message)


def test_prompting_makes_the_classifier_video_specific():
    learner = _make(prompt_alpha_init=0.1)
    clip = _clip_of(learner)
    x = _moving(2)
    cls = _classifier(learner)
    with torch.no_grad():
        emb = learner.encode_video(x)
        own = learner.logits(emb, cls)
        d = EMBED
        swapped = torch.cat([emb[:, :d], emb.flip(0)[:, d:]], dim=1)  # the other video's context
        other = learner.logits(swapped, cls)
        plain = clip.logits(clip.encode_video(x), cls)
    assert torch.allclose(learner.video_embedding(emb), clip.encode_video(x), atol=1e-5)
    assert (own - other).abs().max() > 1e-4  # same video embedding, other classifier
    assert (own - plain).abs().max() > 1e-4


def test_messages_carry_information_across_frames_once_the_gate_opens():
    x = _moving(1)
    y = x.clone()
    y[:, 1] = torch.randn_like(y[:, 1])  # change frame 1 only
    closed, opened = _make(), _make(message_gate_init=1.0)
    with torch.no_grad():
        for learner, moves in ((closed, False), (opened, True)):
            fx, fy = learner.encode_frames(x), learner.encode_frames(y)
            assert ((fx[:, 0] - fy[:, 0]).abs().max() > 1e-5) == moves  # frame 0 sees frame 1
        twin = copy.deepcopy(opened)  # copies keep their own message modules
        twin.message[0].gate.zero_()
        assert (twin.encode_frames(x) - opened.encode_frames(x)).abs().max() > 1e-6


def test_checkpointing_gives_the_same_gradients():
    learner = _make(message_gate_init=0.5).train()
    x = _moving(1)
    grads = []
    for enable in (False, True):
        learner.set_grad_checkpointing(enable)
        learner.zero_grad()
        _loss(learner, x).backward()
        grads.append([p.grad.clone() for p in learner.message.parameters()])
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(*grads, strict=True))


def test_froster_and_clip_ensembles_see_plain_clip_as_the_reference():
    learner = _make(prompt_alpha_init=0.1)
    start = ckpt.trainable_state(learner)
    with torch.no_grad():
        learner.clip.visual.proj.add_(0.5)  # "training"
    ref = reference_clip(learner, start)
    assert type(ref) is ClipLearner
    x = _moving()
    with torch.no_grad():
        learner.clip.visual.proj.sub_(0.5)
        assert torch.allclose(ref.encode_frames(x), learner.encode_frames(x), atol=1e-5)
        # FROSTER distils the CCT frame embeddings and classifies the full video output
        video, z = learner.encode_with_frames(x)
        assert z.shape == (2, T, EMBED)
        assert torch.equal(video, learner.encode_video(x))
        assert torch.allclose(z, learner.encode_frames(x), atol=1e-6)


def test_decision_ensemble_mixes_xclip_logits_with_clip():
    """X-CLIP's wider video output survives the decision-space ensemble: ratio 0 gives the
    learner's own prompted logits, 1 CLIP's, and 0.5 their mean."""
    learner = _make()
    ref = reference_clip(learner, ckpt.trainable_state(learner))
    x, cls = _moving(), _classifier(learner)
    with torch.no_grad():
        own, clip_logits = (
            learner.logits(learner.encode_video(x), cls),
            ref.logits(ref.encode_video(x), cls),
        )
        for ratio, expected in [(0.0, own), (1.0, clip_logits), (0.5, (own + clip_logits) / 2)]:
            ens = DecisionEnsemble(learner, ref, ratio)
            emb = ens.encode_video(x)
            got = ens.logits(emb, ens.encode_text(learner.tokenize(PROMPTS)))
            assert torch.allclose(got, expected, atol=1e-4), ratio
            assert torch.equal(ens.video_embedding(emb), learner.video_embedding(emb[:, EMBED:]))


@pytest.mark.parametrize(
    "field, bad",
    [
        ("num_frames", 0),
        ("mit_layers", -1),
        ("prompt_layers", -2),
        ("prompt_layers", True),
        ("prompt_alpha_init", float("nan")),
        ("message_gate_init", float("inf")),
        ("prompt_context", "tokens"),
    ],
)
def test_bad_settings_are_config_errors_naming_the_field(field, bad):
    with pytest.raises(ConfigError, match=field):
        XClipLearner(SPEC, XClipSettings(**{"num_frames": T, field: bad}))


def test_unknown_or_mistyped_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="bottleneck"):
        settings_from(XClipSettings, {"bottleneck": 8}, "learner")
    with pytest.raises(ConfigError, match="mit_layers"):
        settings_from(XClipSettings, {"mit_layers": 1.5}, "learner")
