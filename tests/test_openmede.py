"""Open-MeDe: Eq. 10 against autograd by hand, GWA against Eqs. 11-13 on stored snapshots, the
batch samplers, the ablation switches, and two torchrun ranks against one process."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from test_distributed import needs_torchrun
from test_methods import ce_grad, clips, step_for
from test_training import fit_ctx, method_with, run_worker, toy_videoset, videoset_to_json

from biasbench.baselines.learners.dummy import DummyLearner
from biasbench.errors import ConfigError
from biasbench.methods.openmede.gwa import GaussianAverage, gaussian_weight, gwa_parameters
from biasbench.methods.openmede.method import OpenMeDe, split
from biasbench.methods.openmede.sampler import initial_order, similar_order
from biasbench.protocol import TrainRequest
from biasbench.training import checkpoint as ckpt
from biasbench.training.data import Batch, ShardedBatchOrder

DELTA = 1.67e-3


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return toy_videoset(tmp_path_factory.mktemp("toys"), per_class=2, size=64, frames=4)


def _halves(batch: Batch) -> tuple[Batch, Batch]:
    a, b = split(batch, 2)
    return a, b


def _eq10(theta: torch.Tensor, support: Batch, query: Batch, alpha: float, delta: float):
    """``g_s + delta * g_q(theta - alpha * g_s)`` with autograd on fresh copies."""
    at_theta = DummyLearner()
    with torch.no_grad():
        at_theta.video_proj.copy_(theta)
    g_s = ce_grad(at_theta, support)
    fast = DummyLearner()
    with torch.no_grad():
        fast.video_proj.copy_(theta - alpha * g_s)
    return g_s + delta * ce_grad(fast, query)


# -- Eq. 10 ---------------------------------------------------------------------------------
def test_meta_gradient_is_eq_10_and_theta_is_restored(toys, tmp_path):
    learner = DummyLearner()
    recipe = OpenMeDe()
    step = step_for(recipe, learner, tmp_path, lr=0.5)  # alpha synced with the lr: 0.5
    support, query = _halves(clips(toys, learner))
    theta = learner.video_proj.detach().clone()
    stats = recipe.compute_grads(learner, [support, query], step)
    assert torch.allclose(learner.video_proj.grad, _eq10(theta, support, query, 0.5, DELTA))
    assert torch.equal(learner.video_proj.detach(), theta)
    assert stats["loss"] > 0 and stats["loss_query"] > 0


def test_tasks_per_rank_average_eq_10_over_the_tasks(toys, tmp_path):
    learner = DummyLearner()
    recipe = method_with(OpenMeDe, tasks_per_rank=2, delta=0.3, inner_lr=0.2)
    step = step_for(recipe, learner, tmp_path, lr=1e-3)  # inner_lr overrides the sync
    support, query = _halves(clips(toys, learner))
    theta = learner.video_proj.detach().clone()
    recipe.compute_grads(learner, [support, query], step)
    (s1, s2), (q1, q2) = split(support, 2), split(query, 2)
    expected = 0.5 * (_eq10(theta, s1, q1, 0.2, 0.3) + _eq10(theta, s2, q2, 0.2, 0.3))
    assert torch.allclose(learner.video_proj.grad, expected, atol=1e-6)


def test_without_meta_it_is_plain_fine_tuning_on_one_batch(toys, tmp_path):
    learner = DummyLearner()
    recipe = method_with(OpenMeDe, meta=False)
    assert recipe.batches_per_update == 1 and OpenMeDe().batches_per_update == 2
    step = step_for(recipe, learner, tmp_path)
    batch = clips(toys, learner)
    recipe.compute_grads(learner, [batch], step)
    assert torch.allclose(learner.video_proj.grad, ce_grad(DummyLearner(), batch), atol=1e-6)


def test_invalid_settings_are_named():
    with pytest.raises(ConfigError, match="sampler must be one of"):
        method_with(OpenMeDe, sampler="random")
    with pytest.raises(ConfigError, match="tasks_per_rank"):
        method_with(OpenMeDe, tasks_per_rank=0)


# -- GWA (Eqs. 11-13) ----------------------------------------------------------------------
def test_gaussian_weights_and_paper_parameters():
    assert gaussian_weight(15, 15, 10) == pytest.approx(1 / math.sqrt(2 * math.pi * 10))
    assert gaussian_weight(12, 15, 10) / gaussian_weight(15, 15, 10) == pytest.approx(
        math.exp(-9 / 20)
    )
    assert gwa_parameters("xd", 22) == (15.0, 10.0)
    assert gwa_parameters("b2n", 12) == (7.0, 10.0)
    mu, sigma2 = gwa_parameters("xd", 11)  # half the schedule: the same shape over it
    assert mu == pytest.approx(7.5) and sigma2 == pytest.approx(2.5)


def test_running_gwa_equals_eq_11_on_stored_snapshots():
    rng = np.random.default_rng(0)
    snapshots = [
        {"w": torch.tensor(rng.normal(size=(3, 2)), dtype=torch.float32)} for _ in range(6)
    ]
    mu, sigma2 = 4.0, 2.0
    avg = GaussianAverage(mu, sigma2)
    for t, snap in enumerate(snapshots, start=1):
        avg.update(snap, t)
    # Eq. 11 with alpha_t = w_t / sum_i w_i and theta_0 excluded, written out independently
    w = np.exp(-((np.arange(1, 7) - mu) ** 2) / (2 * sigma2))
    expected = sum(a * s["w"].numpy() for a, s in zip(w / w.sum(), snapshots, strict=True))
    np.testing.assert_allclose(avg.average["w"].numpy(), expected, atol=1e-6)
    # the state survives a resume
    again = GaussianAverage(mu, sigma2)
    again.load_state_dict(avg.state_dict())
    assert torch.equal(again.average["w"], avg.average["w"]) and again.epochs == avg.epochs


def test_trained_openmede_evaluates_the_gwa_of_its_epoch_checkpoints(toys, tmp_path):
    learner = DummyLearner()
    clip = learner.video_proj.detach().clone()
    method = method_with(
        OpenMeDe, epochs=4, batch_size=2, lr=0.05, warmup_epochs=0.0, gwa_mu=2.5, gwa_sigma2=1.0
    )
    out = method.fit(learner, TrainRequest(toys, "xd"), fit_ctx(tmp_path / "run"))
    snaps = [
        ckpt.load(ckpt.epoch_path(tmp_path / "run", t))["video_proj"].numpy() for t in range(1, 5)
    ]
    w = np.exp(-((np.arange(1, 5) - 2.5) ** 2) / 2.0)
    expected = sum(a * s for a, s in zip(w / w.sum(), snaps, strict=True))
    np.testing.assert_allclose(out.video_proj.detach().numpy(), expected, atol=1e-6)
    assert not np.allclose(expected, snaps[-1]) and not np.allclose(expected, clip.numpy())
    # two batches per update: 8 videos / (2 x 2) = 2 updates per epoch
    assert len((tmp_path / "run" / "steps.csv").read_text().splitlines()) == 1 + 2 * 4


def test_gwa_off_keeps_the_last_weights(toys, tmp_path):
    method = method_with(OpenMeDe, epochs=2, batch_size=4, lr=0.05, warmup_epochs=0.0, gwa=False)
    out = method.fit(DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(tmp_path / "run"))
    last = ckpt.load(ckpt.epoch_path(tmp_path / "run", 2))["video_proj"]
    assert torch.equal(out.video_proj.detach(), last)


# -- samplers (supplementary Table 5) -------------------------------------------------------
def test_initial_sampler_is_the_dataset_order():
    assert initial_order(np.array([3, 0, 2, 1])).tolist() == [0, 1, 2, 3]


def test_similar_sampler_pairs_each_support_video_with_the_closest_class():
    # classes 0<->1 and 2<->3 are close; two videos per class
    sim = np.array([[1, 0.9, 0.1, 0.0], [0.9, 1, 0.0, 0.1], [0.1, 0, 1, 0.8], [0, 0.1, 0.8, 1]])
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    order = np.array([0, 4, 2, 6, 1, 5, 3, 7])
    out = similar_order(order, labels, sim, batch_size=2)
    assert sorted(out.tolist()) == list(range(8))
    # support [0 (c0), 4 (c2)] -> query [2 (c1), 6 (c3)]; support [1, 5] -> query [3, 7]
    assert out.tolist() == [0, 4, 2, 6, 1, 5, 3, 7]
    pairs = out.reshape(-1, 2, 2)
    assert all(sim[labels[s], labels[q]] >= 0.8 for p in pairs for s, q in zip(*p, strict=True))


def test_similar_sampler_falls_back_when_the_closest_class_is_used_up():
    sim = np.array([[1.0, 0.9, 0.2], [0.9, 1.0, 0.3], [0.2, 0.3, 1.0]])
    labels = np.array([0, 0, 0, 1, 2, 2])
    out = similar_order(np.arange(6), labels, sim, batch_size=3)
    assert sorted(out.tolist()) == list(range(6))
    support, query = out[:3], out[3:]
    assert labels[support].tolist() == [0, 0, 0]
    assert labels[query].tolist() == [1, 2, 2]  # one video of class 1, then the next closest


def test_sampler_reaches_the_batches(toys, tmp_path):
    recipe = method_with(OpenMeDe, sampler="initial")
    labels = np.array([r.label for r in toys.records])
    order = ShardedBatchOrder(
        _Epoch(len(toys.records)),
        batch_size=2,
        seed=0,
        batches_per_update=2,
        arrange=lambda perm, epoch: recipe.arrange_epoch(perm, labels, epoch),
    )
    assert list(order) == list(range(len(toys.records)))


class _Epoch:
    def __init__(self, n: int):
        self.n, self.epoch = n, 0

    def __len__(self) -> int:
        return self.n


# -- two torchrun ranks = one process with the same two tasks -----------------------------------
@pytest.mark.slow
@needs_torchrun
def test_two_ranks_are_two_tasks(tmp_path):
    vs = toy_videoset(tmp_path / "toys", per_class=4, size=32, frames=4)
    settings = {
        "epochs": 2,
        "batch_size": 4,
        "lr": 1e-2,
        "delta": 0.5,
        "inner_lr": 5.0,
        "gwa_mu": 1.5,
    }
    base = {"videoset": videoset_to_json(vs), "method": "openmede"}
    jobs = {
        "two_ranks": ({**settings}, 2),
        "one_process_two_tasks": ({**settings, "tasks_per_rank": 2}, 0),
        "one_process_one_task": ({**settings}, 0),
    }
    states = {}
    for name, (s, nproc) in jobs.items():
        job = {**base, "settings": s, "run_dir": str(tmp_path / name), "out": str(tmp_path / name)}
        proc = run_worker(tmp_path, {**job, "out": str(tmp_path / f"{name}.pt")}, name, nproc)
        assert proc.returncode == 0, proc.stderr[-3000:]
        states[name] = torch.load(tmp_path / f"{name}.pt")["state"]["video_proj"]
    assert torch.allclose(states["two_ranks"], states["one_process_two_tasks"], atol=1e-6)
    # the split into tasks matters: one task of 4 + 4 videos is a different update
    assert not torch.allclose(states["two_ranks"], states["one_process_one_task"], atol=1e-4)


def test_every_learner_contract_covers_openmede():
    from biasbench.plugins import METHODS

    assert METHODS.get("openmede") is OpenMeDe and METHODS.get("open-mede") is OpenMeDe
    assert dataclasses.is_dataclass(OpenMeDe.Settings)
