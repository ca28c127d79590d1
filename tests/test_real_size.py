"""The real-size path on the CPU: every learner's ViT-B/16 preset, random weights, one clip.

Every registered learner with a ``<learner>-vit-b16`` preset is built on ViT-B/16 (random
init, no weights file) and scores one 8x3x224x224 clip against a 2-class text classifier;
trainable ones also take one Open-MeDe update through the training engine (``prepare`` +
``update_step``: a support and a query batch of one clip each) and are scored after it. So
shape and memory errors at real size show up here, not on a user's cluster. The functions
are ``benchmarks/gpu_check.py``'s: the GPU check's first step runs the same on a GPU.

Cost on two CPU cores: a ViT-B/16 forward of one 8-frame clip takes about 10 s and an
Open-MeDe update (two forward and two backward passes) with the scoring after it 40-110 s.
By default the update runs for ``vclip`` (the paper's learner) and every learner is scored,
under three minutes in all; the updates of the other learners are marked ``slow`` (about six
minutes more).
"""

from __future__ import annotations

import pytest
import torch
from benchmark_scripts import load_benchmark

CPU = torch.device("cpu")
ARCH = "ViT-B-16"
UPDATED_BY_DEFAULT = {"vclip"}


GPU_CHECK = load_benchmark("gpu_check")
PRESETS = GPU_CHECK.presets("vit-b16")


def _scores_one_clip(learner) -> None:
    logits = GPU_CHECK.evaluation_batch(learner, CPU)
    assert logits.shape == (1, 2) and torch.isfinite(logits).all()


def test_every_preset_is_real_size():
    assert {"clip", "vclip", "st-adapter", "xclip", "vifi-clip", "vita-clip"} <= dict(
        PRESETS
    ).keys()
    assert all(settings.get("num_frames") == 8 for _, settings in PRESETS)


@pytest.mark.parametrize(
    ("name", "settings"),
    [p for p in PRESETS if p[0] not in UPDATED_BY_DEFAULT],  # these are scored after updating
    ids=[p[0] for p in PRESETS if p[0] not in UPDATED_BY_DEFAULT],
)
def test_every_learner_scores_one_clip_at_real_size(name, settings):
    learner = GPU_CHECK.build(name, settings, ARCH, CPU)
    assert learner.data_config.size == 224 and learner.data_config.num_frames == 8
    _scores_one_clip(learner)


def _update_cases() -> list:
    return [
        pytest.param(
            name, settings, id=name, marks=() if name in UPDATED_BY_DEFAULT else pytest.mark.slow
        )
        for name, settings in PRESETS
        if GPU_CHECK.trains_with_openmede(name)
    ]


@pytest.mark.parametrize(("name", "settings"), _update_cases())
def test_openmede_update_and_scoring_at_real_size(name, settings, tmp_path):
    learner = GPU_CHECK.build(name, settings, ARCH, CPU)
    trainable = [p for p in learner.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in (trainable[0], trainable[-1])]
    stats = GPU_CHECK.openmede_update(learner, CPU, tmp_path)
    assert all(torch.isfinite(torch.tensor(stats[k])) for k in ("loss", "loss_query", "grad_norm"))
    assert stats["samples"] == 2 and stats["grad_norm"] > 0  # one support + one query clip
    moved = [
        not torch.equal(b, p.detach())
        for b, p in zip(before, (trainable[0], trainable[-1]), strict=True)
    ]
    assert any(moved), f"{name}: one Open-MeDe update changed neither end of its parameters"
    _scores_one_clip(learner)
