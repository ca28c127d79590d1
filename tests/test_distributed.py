"""Two processes under torchrun (gloo) train to the same weights as one with the same global batch.

Skipped where torch.distributed, gloo or torchrun is unavailable. Each rank sees half of every
global batch; gradients are averaged over ranks once per update; only rank 0 writes files.
"""

from __future__ import annotations

import importlib.util
import shutil

import pytest
import torch
import torch.distributed as dist
from test_training import run_worker, toy_videoset, videoset_to_json

#: marks a test that launches torchrun with gloo (skipped where that cannot run)
needs_torchrun = pytest.mark.skipif(
    not dist.is_available()
    or not dist.is_gloo_available()
    or importlib.util.find_spec("torch.distributed.run") is None,
    reason="torch.distributed with gloo and torchrun needed",
)
pytestmark = [pytest.mark.slow, needs_torchrun]


def test_two_ranks_equal_one_rank_with_the_same_global_batch(tmp_path):
    vs = toy_videoset(tmp_path / "toys", per_class=4, size=32, frames=8)
    base = {
        "videoset": videoset_to_json(vs),
        "method": "plain",
        "settings": {"epochs": 2, "batch_size": 4, "lr": 1e-2},
    }
    one = run_worker(
        tmp_path, {**base, "run_dir": str(tmp_path / "one"), "out": str(tmp_path / "one.pt")}, "one"
    )
    assert one.returncode == 0, one.stderr
    two = run_worker(
        tmp_path,
        {**base, "run_dir": str(tmp_path / "two"), "out": str(tmp_path / "two.pt")},
        "two",
        nproc=2,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    moved = (
        (
            a["state"]["video_proj"]
            - torch.load(tmp_path / "one" / "checkpoints" / "epoch_001.pt")["video_proj"]
        )
        .abs()
        .max()
    )
    assert moved > 1e-3  # training did change the weights
    for k in a["state"]:
        assert torch.allclose(a["state"][k], b["state"][k], rtol=0, atol=1e-6), k
    # rank 0 alone wrote the logs: one row per update, and the same updates as one process
    rows_one = (tmp_path / "one" / "steps.csv").read_text().splitlines()
    rows_two = (tmp_path / "two" / "steps.csv").read_text().splitlines()
    assert len(rows_one) == len(rows_two)
    assert not list((tmp_path / "two").glob("**/*.tmp*"))
    shutil.rmtree(tmp_path / "toys")
