"""The learner contract, over every registered learner (DESIGN.md, "Learner").

Each learner is built on the tiny random-init CLIP (or its own tiny config) and checked for
shapes and norms, its declared starting point (a learner that its paper starts at CLIP gives
frozen CLIP's predictions before training), what it trains against what it declares
(``trainable``, ``trains_clip_weights``, text side frozen unless it says otherwise), and one
forward/backward step that moves its outputs. Method x learner compatibility is checked too:
a refused combination fails before anything runs, with its reason, and is listed by
``biasbench list methods --learner L``.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from biasbench.baselines.learners.clip import ClipLearner, ClipSettings
from biasbench.cli import cli
from biasbench.config import config_presets, load_config_file, settings_from
from biasbench.errors import ConfigError
from biasbench.models.backbone import BackboneSpec
from biasbench.models.learner import Learner
from biasbench.plugins import LEARNERS, METHODS

SPEC = BackboneSpec("biasbench-tiny-p8-64", None)
T, B = 4, 3
PROMPTS = ["a video of running.", "a video of jumping.", "a video of waving.", "a video."]


def _build(name: str) -> Learner:
    torch.manual_seed(0)
    cls = LEARNERS.get(name)
    names = {f.name for f in dataclasses.fields(cls.Settings)}
    values = {"num_frames": T} if "num_frames" in names else {}
    return cls(SPEC, settings_from(cls.Settings, values, "learner")).eval()


def _frames(learner: Learner, static: bool = False, seed: int = 1) -> torch.Tensor:
    dc = learner.data_config
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, dc.num_frames, 3, dc.size, dc.size, generator=g)
    return x[:, :1].expand_as(x).contiguous() if static else x


def _logits(learner: Learner, frames: torch.Tensor) -> torch.Tensor:
    classifier = learner.encode_text(learner.tokenize(PROMPTS))
    return learner.logits(learner.encode_video(frames).float(), classifier)


@pytest.mark.parametrize("name", LEARNERS.names())
def test_shapes_and_norms(name):
    learner = _build(name)
    x = _frames(learner)
    with torch.no_grad():
        text = learner.encode_text(learner.tokenize(PROMPTS))
        logits = _logits(learner, x)
    assert text.shape[0] == len(PROMPTS) and text.ndim == 2
    assert torch.allclose(text.norm(dim=-1), torch.ones(len(PROMPTS)), atol=1e-4)
    assert logits.shape == (B, len(PROMPTS)) and torch.isfinite(logits).all()
    assert float(learner.logit_scale) > 0


@pytest.mark.parametrize("name", LEARNERS.names())
def test_starting_point_is_frozen_clip_when_declared(name):
    learner = _build(name)
    if not learner.starts_at_clip:
        pytest.skip(f"{name} does not start at CLIP (its paper adds non-identity parts)")
    assert isinstance(learner, ClipLearner), "starting at CLIP needs CLIP weights to compare"
    clip = ClipLearner(SPEC, ClipSettings(num_frames=T))
    clip.clip.load_state_dict(learner.clip.state_dict())
    x = _frames(learner, static=True)  # one frame repeated: every temporal model is idle
    with torch.no_grad():
        assert torch.allclose(_logits(learner, x), _logits(clip.eval(), x), atol=1e-4)
        assert _logits(learner, x).argmax(1).tolist() == _logits(clip, x).argmax(1).tolist()


@pytest.mark.parametrize("name", LEARNERS.names())
def test_trainable_parameters_match_the_declaration(name):
    learner = _build(name)
    trainable = {n for n, p in learner.named_parameters() if p.requires_grad}
    assert bool(trainable) == learner.trainable
    counted = sum(p.numel() for p in learner.trainable_parameters())
    assert counted == sum(p.numel() for n, p in learner.named_parameters() if n in trainable)
    assert learner.describe()["params_trainable"] == counted
    if not isinstance(learner, ClipLearner):
        return
    assert "clip.logit_scale" not in trainable  # no method learns the temperature
    if learner.trainable and learner.trains_clip_weights:
        assert all(n.startswith("clip.") for n in trainable)
    if learner.trainable and not learner.trains_clip_weights:
        assert any(not n.startswith("clip.") for n in trainable)
    text_tower = {n for n in trainable if n.startswith("clip.") and not n.startswith("clip.visual")}
    if text_tower:  # the training engine must know to recompute class texts every step
        assert getattr(learner, "text_trainable", False)


@pytest.mark.parametrize("name", [n for n in LEARNERS.names() if LEARNERS.get(n).trainable])
def test_one_step_moves_the_predictions(name):
    learner = _build(name).train()
    x = _frames(learner)
    with torch.no_grad():
        before = _logits(learner, x)
    opt = torch.optim.SGD(learner.trainable_parameters(), lr=1.0)
    for _ in range(2):  # zero-initialised branches get their gradient on the second step
        opt.zero_grad()
        F.cross_entropy(_logits(learner, x), torch.arange(B) % len(PROMPTS)).backward()
        assert any(p.grad is not None for p in learner.trainable_parameters())
        opt.step()
    with torch.no_grad():
        after = _logits(learner, x)
    assert torch.isfinite(after).all() and not torch.allclose(before, after, atol=1e-6)


def test_refused_combinations_are_listed_with_their_reason():
    res = CliRunner().invoke(cli, ["list", "methods", "--learner", "st-adapter"])
    assert res.exit_code == 0, res.output
    lines = {line.split()[0]: line for line in res.output.splitlines()[1:]}
    assert set(lines) == set(METHODS.names())
    assert "refused:" in lines["open-vclip"] and "CLIP does not have" in lines["open-vclip"]
    assert lines["openmede"].split()[1] == "ok" and lines["plain"].split()[1] == "ok"
    res = CliRunner().invoke(cli, ["list", "methods", "--learner", "clip"])
    assert "refused: the learner has nothing to train" in res.output
    assert "zero-shot      ok" in res.output
    res = CliRunner().invoke(cli, ["list", "methods", "--learner", "st-adaptr"])
    assert res.exit_code == 2 and "st-adapter" in res.output


def test_every_learner_is_accepted_by_openmede_and_plain():
    for name in LEARNERS.names():
        cls = LEARNERS.get(name)
        for method in ("openmede", "plain", "grad-accum"):
            reason = METHODS.get(method)().refusal(cls)
            assert (reason is None) == cls.trainable, (method, name, reason)


def test_weight_ensemble_is_refused_for_added_weights_and_decision_is_not():
    plain = METHODS.get("plain")
    st = LEARNERS.get("st-adapter")
    weight = plain(settings_from(plain.Settings, {"clip_ensemble": "weight"}, "method"))
    decision = plain(settings_from(plain.Settings, {"clip_ensemble": "decision"}, "method"))
    assert "clip_ensemble=weight" in weight.refusal(st)
    assert decision.refusal(st) is None
    assert weight.refusal(LEARNERS.get("vclip")) is None


def test_a_refused_run_stops_before_any_work(tmp_path):
    args = ["run", "--method", "open-vclip", "--learner", "st-adapter", "--protocol"]
    res = CliRunner().invoke(cli, [*args, "synth-scuba", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "open-vclip cannot train learner st-adapter" in res.output
    assert not any(tmp_path.iterdir())  # no run record was started


@pytest.mark.parametrize("name", LEARNERS.names())
def test_every_real_learner_ships_an_embedded_and_a_vit_b16_config(name):
    if name == "dummy":
        pytest.skip("the contract-test learner has no paper")
    cls = LEARNERS.get(name)
    for kind in ("embedded", "vit-b16"):
        data = load_config_file(f"{name}-{kind}")
        assert data["learner"] == name
        settings = settings_from(cls.Settings, data.get("learner_cfg", {}), "learner")
        if kind == "embedded":  # builds on the embedded world's tiny CLIP and runs
            learner = cls(SPEC, settings).eval()
            with torch.no_grad():
                assert torch.isfinite(_logits(learner, _frames(learner))).all()
    assert f"{name}-embedded" in config_presets()


def test_a_misspelt_preset_names_the_close_ones():
    with pytest.raises(ConfigError, match="did you mean xclip-vit-b16"):
        load_config_file("xclip-vit-b61")
