"""Learner ``motion-clip``: frozen CLIP + a frame-difference motion stream (TSN / DiST).

The contract tests over every registered learner (``test_learner_contract.py``) cover it too;
here: what trains, the exact start at CLIP, the closed-form size, the fact the learner exists
for (its motion pathway separates time-mirrored motions that no single frame and no frame
average can), and one real training update through the engine.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from learner_helpers import SPEC, T, clip_of, make_learner, moving, prompt_loss
from test_training import fit_ctx, method_with, toy_videoset
from torch import nn

from biasbench.baselines.learners.clip import ClipLearner, ClipSettings
from biasbench.baselines.learners.motion_clip import (
    MotionClipLearner,
    MotionClipSettings,
    MotionStream,
)
from biasbench.baselines.recipes.plain import Plain
from biasbench.cli import cli
from biasbench.config import settings_from
from biasbench.errors import ConfigError
from biasbench.models.backbone import OPENAI_MEAN, OPENAI_STD
from biasbench.plugins import LEARNERS, METHODS
from biasbench.protocol import TrainRequest
from biasbench.training.ensemble import reference_clip


def _clip_params(learner) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in learner.clip.named_parameters()}


def closed_form_count(s: MotionClipSettings, dim: int) -> int:
    """Conv kernels (3 input channels, no bias) + GroupNorm affines + the projection."""
    widths = [s.width * 2**i for i in range(s.depth)]
    stem = max(3, 2 * s.stem_stride - 1)
    convs = 3 * widths[0] * s.temporal_kernel * stem**2
    convs += sum(a * b * s.temporal_kernel * 9 for a, b in zip(widths, widths[1:], strict=False))
    return convs + 2 * sum(widths) + widths[-1] * dim + dim


# -- declaration and size -------------------------------------------------------------------
def test_registered_and_declares_what_it_trains():
    cls = LEARNERS.get("motion-clip")
    assert cls is MotionClipLearner
    assert cls.trainable and cls.starts_at_clip and not cls.trains_clip_weights
    learner = make_learner("motion-clip")
    trainable = {n for n, p in learner.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("motion.", "fuse.")) for n in trainable)
    assert {n for n, _ in learner.named_parameters() if n.startswith(("motion.", "fuse."))} == (
        trainable
    )
    assert sum(p.numel() for p in learner.trainable_parameters()) == closed_form_count(
        learner.settings, 128
    )


@pytest.mark.parametrize(
    "values", [{}, {"width": 8, "depth": 2}, {"stem_stride": 4, "temporal_kernel": 5}]
)
def test_parameter_count_follows_the_closed_form(values):
    learner = make_learner("motion-clip", **values)
    expected = closed_form_count(learner.settings, learner.clip.visual.output_dim)
    assert learner.describe()["params_trainable"] == expected


@pytest.mark.parametrize(
    ("field", "bad"),
    [("num_frames", 1), ("width", 0), ("depth", 0), ("stem_stride", 0), ("temporal_kernel", 2)],
)
def test_bad_settings_are_config_errors_naming_the_field(field, bad):
    with pytest.raises(ConfigError, match=f"learner.{field}"):
        MotionClipLearner(SPEC, settings_from(MotionClipSettings, {field: bad}, "learner"))


# -- starting point ---------------------------------------------------------------------------
def test_starts_exactly_at_clip_on_a_moving_clip():
    learner = make_learner("motion-clip")
    clip = clip_of(learner)
    x = moving(3)
    with torch.no_grad():
        assert torch.equal(learner.encode_video(x), clip.encode_video(x))
        video, per_frame = learner.encode_with_frames(x)
        ref_video, ref_frames = clip.encode_with_frames(x)
    assert torch.equal(video, ref_video) and torch.equal(per_frame, ref_frames)


def test_reference_and_text_cache_key_are_frozen_clips():
    learner = make_learner("motion-clip")
    ref = reference_clip(learner, {})
    assert type(ref) is ClipLearner
    assert all(
        torch.equal(ref.clip.state_dict()[k], v) for k, v in learner.clip.state_dict().items()
    )
    assert set(learner.text_state()) == set(clip_of(learner).text_state())
    identity = learner.text_identity()
    with torch.no_grad():
        learner.fuse.weight.normal_()
        learner.motion.blocks[0][0].weight.add_(1.0)
    assert learner.text_identity() == identity  # the stream never invalidates class texts


def test_static_clips_single_frames_and_per_frame_features():
    learner = make_learner("motion-clip")
    with torch.no_grad():
        learner.fuse.weight.normal_()
        learner.fuse.bias.normal_()
        static = moving(2)[:, :1].expand(2, T, 3, 64, 64)
        m = learner.motion_embedding(static)
        assert torch.allclose(m[0], m[1])  # zero differences: the same vector for any scene
        video, per_frame = learner.encode_with_frames(moving(2))
        one = moving(2)[:, :1]  # a single frame has no difference to take: frozen CLIP
        assert torch.equal(learner.encode_video(one), clip_of(learner).encode_video(one))
    assert torch.allclose(per_frame.mean(dim=1), video, atol=1e-6)


# -- what the motion pathway is for -------------------------------------------------------------
def mirrored_clips(
    pairs: int, seed: int, size: int = 32, frames: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """``pairs`` clips of a bright square moving right (wrapping around, so every frame's
    square position is uniform in either class), and the same clips played backwards.

    Normalised like CLIP's input; ``[pairs, frames, 3, size, size]`` each.
    """
    g = torch.Generator().manual_seed(seed)
    clips = torch.empty(pairs, frames, 3, size, size)
    for i in range(pairs):
        background = 0.5 * torch.rand(3, 1, 1, generator=g)
        base = background.expand(3, size, size).clone()
        y = int(torch.randint(0, size - 6, (1,), generator=g))
        base[:, y : y + 6, :6] = 1.0
        x0 = int(torch.randint(0, size, (1,), generator=g))
        speed = int(torch.randint(2, 4, (1,), generator=g))
        for t in range(frames):
            noise = 0.03 * torch.randn(3, size, size, generator=g)
            clips[i, t] = torch.roll(base, x0 + speed * t, dims=2) + noise
    mean, std = torch.tensor(OPENAI_MEAN)[:, None, None], torch.tensor(OPENAI_STD)[:, None, None]
    clips = (clips - mean) / std
    return clips, clips.flip(1)


def _same_frames(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Whether two sets of clips hold the same frames with the same multiplicities."""
    fa, ca = torch.unique(a.flatten(0, 1).flatten(1), dim=0, return_counts=True)
    fb, cb = torch.unique(b.flatten(0, 1).flatten(1), dim=0, return_counts=True)
    return torch.equal(fa, fb) and torch.equal(ca, cb)


def _train_stream_and_head(
    stream: MotionStream, x: torch.Tensor, y: torch.Tensor, steps: int = 25
) -> nn.Linear:
    """Train ``stream`` and a linear head on ``(x, y)`` with Adam, batches of 32."""
    head = nn.Linear(stream.out_channels, 2)
    opt = torch.optim.Adam([*stream.parameters(), *head.parameters()], lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(steps):
        idx = torch.randperm(len(x), generator=g)[:32]
        opt.zero_grad()
        F.cross_entropy(head(stream(x[idx])), y[idx]).backward()
        opt.step()
    return head


def test_motion_pathway_alone_separates_time_mirrored_motions_that_frames_cannot():
    torch.manual_seed(0)
    right, left = mirrored_clips(96, seed=1)
    # every frame of a leftward clip is a frame of a rightward one: no single frame, and no
    # order-free pooling of frames, can tell the classes apart
    assert _same_frames(right, left)
    x, y = torch.cat([right, left]), torch.tensor([0] * 96 + [1] * 96)
    stream = MotionStream(MotionClipSettings(width=8, depth=3))
    head = _train_stream_and_head(stream, x, y)
    test_right, test_left = mirrored_clips(32, seed=2)
    with torch.no_grad():
        pred = head(stream(torch.cat([test_right, test_left]))).argmax(1)
    accuracy = (pred == torch.tensor([0] * 32 + [1] * 32)).float().mean().item()
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.2f} (chance 0.5)"

    clip = ClipLearner(SPEC, ClipSettings(num_frames=8)).eval()
    up = F.interpolate(test_right[:4].flatten(0, 1), size=64, mode="nearest").view(4, 8, 3, 64, 64)
    with torch.no_grad():
        forward, backward = clip.encode_video(up), clip.encode_video(up.flip(1))
    assert torch.allclose(forward, backward, rtol=0, atol=1e-6)  # frame average: order-blind


def test_once_fused_the_video_embedding_tells_a_clip_from_its_reversal():
    learner = make_learner("motion-clip")
    x = moving(2)
    with torch.no_grad():
        before = learner.encode_video(x), learner.encode_video(x.flip(1))
        assert torch.allclose(*before, rtol=0, atol=1e-6)  # CLIP's order-blind frame average
        learner.fuse.weight.normal_()
        assert not torch.allclose(learner.encode_video(x), learner.encode_video(x.flip(1)))


# -- training ---------------------------------------------------------------------------------
def test_two_sgd_steps_train_the_stream_and_leave_clip():
    learner = make_learner("motion-clip").train()
    clip_before = _clip_params(learner)
    stem_before = learner.motion.blocks[0][0].weight.detach().clone()
    opt = torch.optim.SGD(learner.trainable_parameters(), lr=0.5)
    for step in range(2):  # the zero projection gets its gradient first, the stream second
        opt.zero_grad()
        prompt_loss(learner, moving(3)).backward()
        stem_grad = learner.motion.blocks[0][0].weight.grad
        assert (stem_grad is None or not stem_grad.any()) == (step == 0)
        assert learner.fuse.weight.grad.any()
        opt.step()
    assert not torch.equal(learner.motion.blocks[0][0].weight, stem_before)
    assert all(torch.equal(p, clip_before[n]) for n, p in learner.clip.named_parameters())


def test_one_plain_run_through_the_engine_moves_only_the_stream_and_projection(tmp_path):
    learner = make_learner("motion-clip").train()
    clip_before = _clip_params(learner)
    added_before = {
        n: p.detach().clone() for n, p in learner.named_parameters() if not n.startswith("clip.")
    }
    vs = toy_videoset(tmp_path / "toys", per_class=1, size=64, frames=T)
    vs = dataclasses.replace(vs, records=vs.records[:4])
    method = method_with(Plain, epochs=1, batch_size=2, warmup_epochs=0.0)
    method.fit(learner, TrainRequest(vs, "xd"), fit_ctx(tmp_path / "run"))
    assert len((tmp_path / "run" / "steps.csv").read_text().splitlines()) == 1 + 2
    after = dict(learner.named_parameters())
    assert all(torch.equal(p, clip_before[n]) for n, p in learner.clip.named_parameters())
    assert not torch.equal(after["fuse.weight"], added_before["fuse.weight"])
    moved = [
        n
        for n, v in added_before.items()
        if n.startswith("motion.") and not torch.equal(after[n], v)
    ]
    assert moved, "the motion stream did not move in two updates"


# -- methods --------------------------------------------------------------------------------
def test_methods_accept_it_except_those_that_interpolate_with_clip_weights():
    res = CliRunner().invoke(cli, ["list", "methods", "--learner", "motion-clip"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines()[1:]}
    assert set(lines) == set(METHODS.names())
    refused = {n for n, line in lines.items() if "refused:" in line}
    assert refused == {"open-vclip"} and "CLIP does not have" in lines["open-vclip"]
    plain = METHODS.get("plain")
    weight = plain(settings_from(plain.Settings, {"clip_ensemble": "weight"}, "method"))
    decision = plain(settings_from(plain.Settings, {"clip_ensemble": "decision"}, "method"))
    assert "clip_ensemble=weight" in weight.refusal(MotionClipLearner)
    assert decision.refusal(MotionClipLearner) is None
