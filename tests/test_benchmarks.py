"""The training-cost benchmark's FLOP count against a hand formula (benchmarks/train_cost.py)."""

from __future__ import annotations

import pytest
import torch
from benchmark_scripts import load_benchmark

from biasbench.harness import build_learner
from biasbench.models.backbone import BackboneSpec

SPEC = BackboneSpec("biasbench-tiny-p8-64", None)


@pytest.fixture(scope="module")
def train_cost():
    return load_benchmark("train_cost")


def _vit_macs(learner, frames: int, keys_per_query: int) -> int:
    """Multiply-adds of a ViT over ``frames`` frames: patch embedding, per block the QKV/out
    projections and the MLP (12 W^2 per token) plus Q K^T and A V over ``keys_per_query``
    keys, and the final projection of the class token."""
    visual = learner.clip.visual
    w, layers = visual.transformer.width, len(visual.transformer.resblocks)
    patch = visual.conv1.kernel_size[0]
    grid = learner.data_config.size // patch
    n = grid * grid + 1
    per_frame = (n - 1) * 3 * patch * patch * w  # the patch convolution
    per_frame += layers * (n * 12 * w * w + 2 * n * keys_per_query * w)
    per_frame += w * visual.proj.shape[1]
    return frames * per_frame


@pytest.mark.parametrize("name, neighbours", [("clip", 1), ("vclip", 3)])
def test_forward_flops_count_projections_and_attention(train_cost, name, neighbours):
    """Frozen CLIP's fused attention and the CPU attention kernel are both counted; VCLIP's
    neighbour-frame attention costs three frames' keys per query, nothing else."""
    t = 4
    learner = build_learner(name, SPEC, {"num_frames": t}).eval()
    tokens = (learner.data_config.size // learner.clip.visual.conv1.kernel_size[0]) ** 2 + 1
    frames = torch.randn(1, t, 3, learner.data_config.size, learner.data_config.size)
    expected = _vit_macs(learner, t, neighbours * tokens)
    assert train_cost.forward_flops(learner, frames) == expected
