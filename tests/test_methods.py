"""Training methods: their public math against hand computations, their gradients against
autograd on copies, the CLIP ensembles, and a contract test over every registered trainable
method x every trainable learner (two updates each)."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from test_training import CLASSES, fit_ctx, method_with, toy_videoset

from biasbench.baselines.learners.clip import ClipLearner
from biasbench.baselines.learners.dummy import DummyLearner
from biasbench.baselines.learners.vclip import VClipLearner
from biasbench.baselines.recipes.froster import (
    Froster,
    ResidualProjector,
    froster_loss,
    rfd_loss,
)
from biasbench.baselines.recipes.grad_accum import GradAccum
from biasbench.baselines.recipes.meta_unseen import MetaUnseen, split_classes
from biasbench.baselines.recipes.open_vclip import OpenVClip, iwr_gradient, iwr_weights
from biasbench.baselines.recipes.plain import Plain
from biasbench.config import settings_from
from biasbench.data.loader import ClipDataset
from biasbench.models.backbone import BackboneSpec
from biasbench.models.learner import Learner
from biasbench.plugins import LEARNERS, METHODS
from biasbench.protocol import TrainRequest
from biasbench.training import checkpoint as ckpt
from biasbench.training.data import Batch
from biasbench.training.distributed import DistEnv
from biasbench.training.ensemble import DecisionEnsemble, patch, patch_learner, reference_clip
from biasbench.training.loop import prepare
from biasbench.training.meta import fast_weights, first_order_meta_grads, meta_gradient
from biasbench.training.recipe import StepContext
from biasbench.vocabulary import build_classifier

TINY = BackboneSpec("biasbench-tiny-p8-64", None)
TEMPLATES = ["a video of {}.", "{}"]


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return toy_videoset(tmp_path_factory.mktemp("toys"), per_class=2, size=64, frames=4)


def clips(vs, learner: Learner, n: int | None = None) -> Batch:
    ds = ClipDataset(vs, learner.data_config, train=False)
    idx = list(range(len(ds) if n is None else n))
    frames = torch.stack([ds[i]["frames"][0] for i in idx])
    return Batch(frames, torch.tensor([vs.records[i].label for i in idx]), torch.tensor(idx))


def step_for(recipe, learner: Learner, tmp_path, lr: float = 1e-3, seed: int = 7) -> StepContext:
    """The StepContext of update 0 as the loop builds it, for calling ``compute_grads``."""
    ctx = fit_ctx(tmp_path, templates=TEMPLATES)
    prep = prepare(recipe, learner, list(CLASSES), ctx, DistEnv(), updates_per_epoch=1)
    generator = torch.Generator().manual_seed(seed)
    return StepContext(0, 1, lr, generator, prep.run, prep.params, prep.learner_params)


def ce_grad(learner: Learner, batch: Batch, classes=None) -> torch.Tensor:
    """Autograd of the mean CE of the dummy learner's only trainable tensor."""
    cls = build_classifier(learner, list(CLASSES), TEMPLATES)
    labels = batch.labels
    if classes is not None:
        cls = cls[classes]
        labels = torch.tensor([classes.tolist().index(int(y)) for y in labels])
    loss = F.cross_entropy(learner.logits(learner.encode_video(batch.frames), cls), labels)
    return torch.autograd.grad(loss, learner.video_proj)[0]


# -- public math ----------------------------------------------------------------------------
def test_rfd_loss_and_froster_objective_by_hand():
    s = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # [B=1, T=2, D=2]
    t = torch.tensor([[[3.0, 0.0], [1.0, 1.0]]])
    # frame 1: cos = 1 -> 0; frame 2: cos = 1/sqrt(2) -> 1 - 0.7071
    assert rfd_loss(s, t).item() == pytest.approx((0 + 1 - 1 / math.sqrt(2)) / 2, abs=1e-6)
    ce = torch.tensor(1.5)
    assert froster_loss(ce, torch.tensor(0.2), torch.tensor(0.1), 2.0).item() == pytest.approx(2.1)


def test_residual_projector_starts_as_identity_and_scales_its_branch():
    torch.manual_seed(0)
    h = ResidualProjector(4, alpha=0.1)
    z = torch.randn(3, 4)
    assert torch.equal(h(z), z)  # W2 = 0 at start
    with torch.no_grad():
        h.fc2.weight.copy_(torch.eye(4))
        h.fc1.weight.copy_(torch.eye(4))
    assert torch.allclose(h(z), z + 0.1 * F.gelu(z))
    assert all(m.bias is None for m in (h.fc1, h.fc2))


def test_iwr_weights_and_gradient_by_hand():
    # L(w) = 0.5 * ||w - a||^2, so dL/dw = w - a wherever it is evaluated
    theta, clip, a, lam = (
        torch.tensor([2.0, -1.0]),
        torch.tensor([0.0, 1.0]),
        torch.tensor([1.0, 1.0]),
        0.25,
    )
    (mixed,) = iwr_weights([theta], [clip], lam)
    assert torch.allclose(mixed, torch.tensor([1.5, -0.5]))  # 0.25 * clip + 0.75 * theta
    (g,) = iwr_gradient([theta - a], [mixed - a], lam, scale=0.5)
    assert torch.allclose(g, torch.tensor([1.0 + 0.25, -2.0 - 0.75]))
    (g,) = iwr_gradient([theta - a], [mixed - a], lam, scale=0.5, chain_rule=True)
    assert torch.allclose(g, torch.tensor([1.0 + 0.1875, -2.0 - 0.5625]))


def test_first_order_meta_gradient_by_hand():
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    a, b, alpha = torch.tensor([0.0, 1.0]), torch.tensor([3.0, 0.0]), 0.5
    (fw,) = fast_weights([w], [w.detach() - a], alpha)
    assert torch.allclose(fw, torch.tensor([0.5, 1.5]))
    assert torch.allclose(
        meta_gradient([torch.ones(2)], [torch.full((2,), 2.0)], 1.0, 0.1)[0], torch.full((2,), 1.2)
    )
    loss_s, loss_q = first_order_meta_grads(
        [w],
        lambda: 0.5 * ((w - a) ** 2).sum(),
        lambda: 0.5 * ((w - b) ** 2).sum(),
        alpha=alpha,
        support_weight=1.0,
        query_weight=0.1,
    )
    g_s = torch.tensor([1.0, 1.0])  # w - a
    g_q = torch.tensor([0.5, 1.5]) - b  # at w' = w - alpha * g_s
    assert torch.allclose(w.grad, g_s + 0.1 * g_q)
    assert torch.equal(w.detach(), torch.tensor([1.0, 2.0]))  # weights restored
    assert loss_s == pytest.approx(1.0) and loss_q == pytest.approx(0.5 * (2.5**2 + 1.5**2))


def test_split_classes_is_a_partition():
    seen, unseen = split_classes(7, 0.5, torch.Generator().manual_seed(0))
    assert len(seen) == 4 and len(unseen) == 3
    assert sorted(seen.tolist() + unseen.tolist()) == list(range(7))


def test_patching_ratio():
    theta, clip = {"w": torch.tensor([4.0, 0.0])}, {"w": torch.tensor([0.0, 2.0])}
    assert torch.equal(patch(theta, clip, 0.5)["w"], torch.tensor([2.0, 1.0]))
    assert torch.equal(patch(theta, clip, 0.25)["w"], torch.tensor([3.0, 0.5]))
    assert torch.equal(patch(theta, clip, 0.0)["w"], theta["w"])
    learner = DummyLearner()
    start = ckpt.trainable_state(learner)
    with torch.no_grad():
        learner.video_proj.add_(1.0)
    patch_learner(learner, start, 0.5)
    assert torch.allclose(learner.video_proj, start["video_proj"] + 0.5)


def test_decision_ensemble_mixes_each_models_own_logits(toys):
    a = DummyLearner()
    b = copy.deepcopy(a)
    with torch.no_grad():
        b.video_proj.mul_(-1.0).add_(0.3)
        b.text_embed.add_(0.5)  # a different text side too: each keeps its own classifier
    ens = DecisionEnsemble(a, b, ratio=0.25)
    batch = clips(toys, a)
    with torch.no_grad():
        got = ens.logits(
            ens.encode_video(batch.frames), build_classifier(ens, list(CLASSES), TEMPLATES)
        )
        la = a.logits(a.encode_video(batch.frames), build_classifier(a, list(CLASSES), TEMPLATES))
        lb = b.logits(b.encode_video(batch.frames), build_classifier(b, list(CLASSES), TEMPLATES))
    assert torch.allclose(got, 0.75 * la + 0.25 * lb, atol=1e-5)


def test_reference_of_vclip_is_frame_wise_clip_at_the_initial_weights():
    torch.manual_seed(0)
    vclip = VClipLearner(TINY)
    start = ckpt.trainable_state(vclip)
    with torch.no_grad():
        vclip.clip.visual.proj.add_(0.5)  # "training"
    ref = reference_clip(vclip, start)
    clip = ClipLearner(TINY)
    state = vclip.clip.state_dict()
    state.update({k[5:]: v for k, v in start.items()})
    clip.clip.load_state_dict(state)
    x = torch.randn(1, 3, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ref.encode_frames(x), clip.encode_frames(x), atol=1e-6)
    assert type(ref) is ClipLearner and not any(p.requires_grad for p in ref.parameters())


# -- recipe gradients against autograd on copies -----------------------------------------------
def test_plain_and_grad_accum_gradients(toys, tmp_path):
    learner = DummyLearner()
    batch = clips(toys, learner)
    one, two = (
        Batch(batch.frames[:4], batch.labels[:4], batch.indices[:4]),
        Batch(batch.frames[4:], batch.labels[4:], batch.indices[4:]),
    )
    step = step_for(Plain(), learner, tmp_path)
    Plain().compute_grads(learner, [one], step)
    assert torch.allclose(learner.video_proj.grad, ce_grad(DummyLearner(), one), atol=1e-6)
    learner.video_proj.grad = None
    GradAccum().compute_grads(learner, [one, two], step)
    expected = 0.5 * (ce_grad(DummyLearner(), one) + ce_grad(DummyLearner(), two))
    assert torch.allclose(learner.video_proj.grad, expected, atol=1e-6)


def test_open_vclip_gradient_is_iwr_of_autograd(toys, tmp_path):
    learner = DummyLearner()
    clip_state = learner.video_proj.detach().clone()
    with torch.no_grad():
        learner.video_proj.add_(0.2 * torch.randn_like(learner.video_proj))  # away from "CLIP"
    theta = learner.video_proj.detach().clone()
    recipe = OpenVClip()
    step = step_for(recipe, learner, tmp_path)
    recipe.anchor = [clip_state]
    batch = clips(toys, learner)
    stats = recipe.compute_grads(learner, [batch], step)
    lam = 0.6 * float(torch.rand((), generator=torch.Generator().manual_seed(7)))
    assert stats["lambda"] == pytest.approx(lam)
    at_theta, at_mix = DummyLearner(), DummyLearner()
    with torch.no_grad():
        at_theta.video_proj.copy_(theta)
        at_mix.video_proj.copy_(lam * clip_state + (1 - lam) * theta)
    expected = ce_grad(at_theta, batch) + 0.5 * ce_grad(at_mix, batch)
    assert torch.allclose(learner.video_proj.grad, expected, atol=1e-6)
    assert torch.equal(learner.video_proj.detach(), theta)


def test_meta_unseen_gradient_is_first_order_maml_over_disjoint_classes(toys, tmp_path):
    learner = DummyLearner()
    recipe = MetaUnseen()
    step = step_for(recipe, learner, tmp_path, lr=0.5)
    batch = clips(toys, learner)
    theta = learner.video_proj.detach().clone()
    recipe.compute_grads(learner, [batch], step)
    seen, unseen = split_classes(4, 0.5, torch.Generator().manual_seed(7))
    mask = torch.isin(batch.labels, seen)
    s, q = batch.select(mask), batch.select(~mask)
    g_s = ce_grad(DummyLearner(), s, seen)
    fast = DummyLearner()
    with torch.no_grad():
        fast.video_proj.copy_(theta - 0.5 * g_s)
    g_q = ce_grad(fast, q, unseen)
    assert torch.allclose(learner.video_proj.grad, g_s + g_q, atol=1e-6)
    assert torch.equal(learner.video_proj.detach(), theta)


def test_froster_starts_with_zero_distillation_and_plain_gradients(toys, tmp_path):
    learner = DummyLearner()
    recipe = Froster()
    step = step_for(recipe, learner, tmp_path)
    batch = clips(toys, learner)
    stats = recipe.compute_grads(learner, [batch], step)
    assert stats["distill_visual"] == pytest.approx(0.0, abs=1e-6)  # student == teacher at start
    assert stats["distill_text"] == 0.0  # frozen text side: no text term
    assert torch.allclose(learner.video_proj.grad, ce_grad(DummyLearner(), batch), atol=1e-5)
    assert set(recipe.modules()) == {"proj_visual", "teacher"}


def test_froster_trainable_text_with_descriptions(toys, tmp_path):
    desc = tmp_path / "desc.json"
    desc.write_text(json.dumps({c: [f"someone is {c} in a video"] for c in CLASSES}))
    vclip = VClipLearner(TINY, dataclasses.replace(VClipLearner.Settings(), num_frames=2))
    method = method_with(Froster, epochs=1, batch_size=4, train_text=True, descriptions=str(desc))
    text_before = vclip.clip.token_embedding.weight.detach().clone()
    out = method.fit(vclip, TrainRequest(toys, "xd"), fit_ctx(tmp_path / "run"))
    assert not torch.equal(out.clip.token_embedding.weight, text_before)
    assert set(method.modules()) == {"proj_visual", "proj_text", "teacher"}
    resolved = json.loads((tmp_path / "run" / "resolved_settings.json").read_text())
    assert resolved["text_trainable"] is True


# -- contract: every trainable method x every trainable learner -----------------------------------
def _trainable_methods() -> list[str]:
    return [n for n in METHODS.names() if METHODS.get(n).trains]


def _build_learner(name: str) -> Learner | None:
    cls = LEARNERS.get(name)
    fields = {f.name for f in dataclasses.fields(cls.Settings)}
    values = {"num_frames": 2} if "num_frames" in fields else {}
    learner = cls(TINY, settings_from(cls.Settings, values, "learner"))
    return learner if learner.trainable_parameters() else None


@pytest.mark.parametrize("learner_name", LEARNERS.names())
@pytest.mark.parametrize("method_name", _trainable_methods())
def test_every_method_trains_every_trainable_learner_for_two_updates(
    method_name, learner_name, toys, tmp_path
):
    cls = METHODS.get(method_name)
    reason = cls().refusal(LEARNERS.get(learner_name))
    if reason:
        pytest.skip(f"{method_name} refuses {learner_name}: {reason}")
    torch.manual_seed(0)
    learner = _build_learner(learner_name)
    assert learner is not None, f"{learner_name} says it trains but has no trainable parameters"
    k = cls.batches_per_update
    vs = dataclasses.replace(toys, records=toys.records[: 2 * k * 2])  # two updates of 2 videos
    before = {n: p.detach().clone() for n, p in learner.named_parameters() if p.requires_grad}
    method = method_with(cls, epochs=1, batch_size=2, warmup_epochs=0.0)
    out = method.fit(learner, TrainRequest(vs, "xd"), fit_ctx(tmp_path / "run"))
    assert isinstance(out, Learner)
    steps = (tmp_path / "run" / "steps.csv").read_text().splitlines()
    assert len(steps) == 1 + 2
    after = dict(learner.named_parameters())
    assert any(not torch.equal(after[n], v) for n, v in before.items())
    with torch.no_grad():
        emb = out.eval().encode_video(clips(vs, learner, 2).frames)
        cls_w = build_classifier(out, list(CLASSES), TEMPLATES)
        assert torch.isfinite(out.logits(emb, cls_w)).all()


def test_froster_cross_entropy_trains_the_learners_whole_video_path(toys, tmp_path):
    """FROSTER classifies through ``encode_video``: X-CLIP's integration transformer and
    prompt generator, which frame-level features bypass, must move too."""
    from biasbench.baselines.learners.xclip import XClipLearner, XClipSettings

    torch.manual_seed(0)
    learner = XClipLearner(TINY, XClipSettings(num_frames=2, prompt_alpha_init=0.1))
    watched = {
        n: p.detach().clone()
        for n, p in learner.named_parameters()
        if n.startswith(("mit.", "prompt.")) and p.requires_grad
    }
    vs = dataclasses.replace(toys, records=toys.records[:4])
    method = method_with(Froster, epochs=1, batch_size=2, warmup_epochs=0.0)
    method.fit(learner, TrainRequest(vs, "xd"), fit_ctx(tmp_path / "run"))
    after = dict(learner.named_parameters())
    for group in ("mit.", "prompt."):
        moved = [
            n for n, v in watched.items() if n.startswith(group) and not torch.equal(after[n], v)
        ]
        assert moved, f"froster left every {group} parameter of xclip untouched"
