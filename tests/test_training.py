"""The training engine: schedule, optimizer groups, sharding, averaging, checkpoints, resume.

Everything runs on tiny frame-folder videos written here and on the dummy learner, so the
whole file takes seconds. Helpers at the top (``toy_videoset``, ``WORKER``) are shared with
``test_methods.py`` and ``test_distributed.py``.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from biasbench.baselines.learners.dummy import DummyLearner
from biasbench.baselines.recipes.open_vclip import OpenVClip
from biasbench.baselines.recipes.plain import Plain
from biasbench.config import settings_from
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import ConfigError
from biasbench.method import FitContext
from biasbench.protocol import TrainRequest
from biasbench.sweep.state import progress
from biasbench.training import checkpoint as ckpt
from biasbench.training.averaging import UniformAverage, WeightAverage, uniform_average
from biasbench.training.data import ShardedBatchOrder
from biasbench.training.optim import build_optimizer, param_groups
from biasbench.training.schedule import WarmupCosine
from biasbench.training.settings import TrainSettings, defaults_for, resolve_settings

CLASSES = ("moving right", "moving left", "standing still", "growing")


# -- shared helpers ---------------------------------------------------------------------
def toy_videoset(root: Path, per_class: int = 3, size: int = 64, frames: int = 8) -> VideoSet:
    """Frame-folder videos: a white square moving right / left / still / growing on a
    per-video coloured background."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    records = []
    for label, _ in enumerate(CLASSES):
        for i in range(per_class):
            folder = root / f"c{label}_v{i}"
            folder.mkdir(exist_ok=True)
            bg = rng.integers(0, 255, 3)
            y, x0 = int(rng.integers(2, size // 2)), int(rng.integers(size // 4, size // 2))
            for t in range(frames):
                img = np.empty((size, size, 3), np.uint8)
                img[:] = bg
                x = x0 + [3 * t, -3 * t, 0, 0][label]
                side = size // 6 + (t if label == 3 else 0)
                img[y : y + side, max(x, 0) : max(x, 0) + side] = 255
                Image.fromarray(img).save(folder / f"frame{t + 1:06d}.jpg", quality=95)
            records.append(VideoRecord(folder.name, folder, label, frames))
    return VideoSet("toy", "train", records, list(CLASSES), root, is_frames=True)


def videoset_to_json(vs: VideoSet) -> str:
    return json.dumps(
        {
            "root": str(vs.root),
            "classes": vs.class_names,
            "records": [[r.video_id, str(r.path), r.label, r.num_frames] for r in vs.records],
        }
    )


def fit_ctx(run_dir: Path, **kw) -> FitContext:
    base = dict(embedded=True, templates=["a video of {}."], progress=False)
    return FitContext(run_dir, 0, "cpu", 0, **{**base, **kw})


def method_with(cls, **settings):
    return cls(settings_from(cls.Settings, settings, "method"))


#: A training script run as a subprocess (killed / resumed runs, torchrun). Arguments: a JSON
#: file with ``videoset``, ``method``, ``settings``, ``run_dir``, ``out``, optional ``kill_after_epoch``.
WORKER = r"""
import json, os, signal, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from biasbench.baselines.learners.dummy import DummyLearner
from biasbench.config import settings_from
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.method import FitContext
from biasbench.plugins import METHODS
from biasbench.protocol import TrainRequest
from biasbench.training.distributed import env_ranks
from biasbench.vocabulary import build_classifier

job = json.loads(Path(sys.argv[1]).read_text())
v = json.loads(job["videoset"])
vs = VideoSet("toy", "train", [VideoRecord(i, Path(p), l, n) for i, p, l, n in v["records"]],
              v["classes"], Path(v["root"]), is_frames=True)
kill = job.get("kill_after_epoch")

def evaluate(learner, epoch):
    if kill is not None and epoch >= kill:
        os.kill(os.getpid(), signal.SIGKILL)  # a hard kill right after the epoch's checkpoint
    return {}

torch.manual_seed(0)
learner = DummyLearner()
cls = METHODS.get(job["method"])
method = cls(settings_from(cls.Settings, job["settings"], "method"))
ctx = FitContext(Path(job["run_dir"]), 0, "cpu", 0, False, "xd", embedded=True,
                 templates=["a video of {}."], evaluate=evaluate)
out = method.fit(learner, TrainRequest(vs, "xd"), ctx)
if env_ranks()[0] == 0:
    out.eval()
    from biasbench.data.loader import ClipDataset
    ds = ClipDataset(vs, out.data_config, train=False)
    frames = torch.stack([ds[i]["frames"][0] for i in range(len(ds))])
    with torch.no_grad():
        logits = out.logits(out.encode_video(frames),
                            build_classifier(out, vs.class_names, ["a video of {}."]))
    labels = torch.tensor([r.label for r in vs.records])
    torch.save({"state": {k: v for k, v in out.state_dict().items()}, "logits": logits,
                "top1": float((logits.argmax(1) == labels).float().mean())}, job["out"])
"""


def run_worker(tmp_path: Path, job: dict, name: str, nproc: int = 0) -> subprocess.CompletedProcess:
    """Run :data:`WORKER` on ``job`` (under torchrun with ``nproc`` ranks when ``nproc > 0``)."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    job_file = tmp_path / f"{name}.json"
    job_file.write_text(json.dumps(job))
    cmd = [sys.executable, str(script), str(job_file)]
    if nproc:
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={nproc}",
            str(script),
            str(job_file),
        ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def toys(tmp_path_factory) -> VideoSet:
    return toy_videoset(tmp_path_factory.mktemp("toys"), size=32, frames=8)


# -- schedule and optimizer ---------------------------------------------------------------
def test_warmup_cosine_values():
    s = WarmupCosine(base_lr=1.0, min_lr=0.01, warmup_start_lr=0.1, warmup_steps=4, total_steps=14)
    assert s(0) == pytest.approx(0.1)
    assert s(2) == pytest.approx(0.55)  # halfway up the linear warm-up
    assert s(4) == pytest.approx(1.0)  # peak right after warm-up
    assert s(9) == pytest.approx(0.505)  # cosine midpoint = (base + min) / 2
    assert s(14) == pytest.approx(0.01)
    assert all(s(i) >= s(i + 1) for i in range(4, 14))


def test_schedule_in_epochs_matches_paper_shape():
    s = WarmupCosine.for_epochs(3.33e-6, 3.33e-8, 3.33e-8, 2, 22, updates_per_epoch=10)
    assert (s.warmup_steps, s.total_steps) == (20, 220)
    assert s(0) == pytest.approx(3.33e-8) and s(20) == pytest.approx(3.33e-6)


def test_no_weight_decay_on_one_dimensional_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    groups = param_groups(model.named_parameters(), 0.01)
    assert groups[0]["names"] == ["0.weight"] and groups[0]["weight_decay"] == 0.01
    assert sorted(groups[1]["names"]) == ["0.bias", "1.bias", "1.weight"]
    assert groups[1]["weight_decay"] == 0.0
    # one AdamW step: 1-D parameters move exactly as without decay, 2-D ones are decayed
    torch.manual_seed(0)
    a, b = nn.Linear(3, 4), nn.Linear(3, 4)
    b.load_state_dict(a.state_dict())
    w0 = a.weight.detach().clone()
    x = torch.randn(2, 3)
    for m in (a, b):
        m(x).sum().backward()
    build_optimizer(a.named_parameters(), lr=0.1, weight_decay=0.5).step()
    torch.optim.AdamW(b.parameters(), lr=0.1, weight_decay=0.0).step()
    assert torch.equal(a.bias, b.bias)
    assert torch.allclose(a.weight, b.weight - 0.1 * 0.5 * w0, atol=1e-7)  # decoupled decay


def test_plain_update_equals_a_manual_clipped_adamw_step(tmp_path, toys):
    torch.manual_seed(0)
    learner = DummyLearner()
    start = learner.video_proj.detach().clone()
    n = len(toys)
    method = method_with(
        Plain,
        epochs=1,
        batch_size=n,
        warmup_epochs=0.0,
        lr=0.05,
        min_lr=0.0,
        warmup_start_lr=0.0,
        weight_decay=0.1,
    )
    method.fit(learner, TrainRequest(toys, "xd"), fit_ctx(tmp_path / "run"))

    # the same update by hand: one batch = every video, CE on frozen text, clip, AdamW
    from biasbench.data.loader import ClipDataset
    from biasbench.data.transforms import TrainAugment
    from biasbench.vocabulary import build_classifier

    ref = DummyLearner()
    ds = ClipDataset(toys, ref.data_config, train=True, seed=0, augment=TrainAugment(flip_p=0.0))
    frames = torch.stack([ds[i]["frames"] for i in range(n)])
    labels = torch.tensor([r.label for r in toys.records])
    w = start.clone().requires_grad_(True)
    ref.video_proj = nn.Parameter(w)
    cls = build_classifier(ref, list(CLASSES), ["a video of {}."])
    loss = nn.functional.cross_entropy(ref.logits(ref.encode_video(frames), cls), labels)
    (g,) = torch.autograd.grad(loss, ref.video_proj)
    g = g * min(1.0, 1.0 / (g.norm() + 1e-6))
    m, v = 0.1 * g, 0.001 * g * g  # first AdamW step, bias-corrected: m_hat = g, v_hat = g^2
    m_hat, v_hat = m / 0.1, v / 0.001
    expected = start * (1 - 0.05 * 0.1) - 0.05 * m_hat / (v_hat.sqrt() + 1e-8)
    assert torch.allclose(learner.video_proj.detach(), expected, atol=1e-6)


# -- settings ------------------------------------------------------------------------------
def test_paper_and_embedded_defaults():
    b2n = resolve_settings(TrainSettings(), defaults_for("b2n", embedded=False))
    xd = resolve_settings(TrainSettings(), defaults_for("xd", embedded=False))
    assert (b2n.epochs, xd.epochs) == (12, 22)
    assert (xd.warmup_epochs, xd.lr, xd.min_lr, xd.warmup_start_lr) == (
        2.0,
        3.33e-6,
        3.33e-8,
        3.33e-8,
    )
    assert xd.batch_size == 32 and xd.flip_p == 0.5
    small = resolve_settings(TrainSettings(), defaults_for("xd", embedded=True))
    assert small.epochs < 12 and small.batch_size == 8 and small.flip_p == 0.0
    mine = resolve_settings(TrainSettings(epochs=3, lr=1e-3), defaults_for("b2n", embedded=False))
    assert (mine.epochs, mine.lr, mine.warmup_epochs) == (3, 1e-3, 2.0)
    assert OpenVClip().resolved_settings("xd", False).clip_ensemble == "weight"
    with pytest.raises(ConfigError, match="precision"):
        resolve_settings(TrainSettings(precision="fp8"), defaults_for("xd", False))


# -- sharding ------------------------------------------------------------------------------
class _Sized(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n, self.epoch = n, 0

    def __len__(self):
        return self.n


def test_two_ranks_see_the_global_batch_of_one_rank():
    ds = _Sized(23)
    one = list(ShardedBatchOrder(ds, 6, seed=3))
    r0 = list(ShardedBatchOrder(ds, 6, seed=3, rank=0, world_size=2))
    r1 = list(ShardedBatchOrder(ds, 6, seed=3, rank=1, world_size=2))
    assert len(one) == 18  # the tail that does not fill a batch is dropped
    for b in range(3):
        assert sorted(one[6 * b : 6 * b + 6]) == sorted(
            r0[3 * b : 3 * b + 3] + r1[3 * b : 3 * b + 3]
        )
    two = ShardedBatchOrder(ds, 6, seed=3, batches_per_update=2)
    assert two.updates_per_epoch == 1 and len(list(two)) == 12
    ds.epoch = 1
    assert list(ShardedBatchOrder(ds, 6, seed=3)) != one  # a new order every epoch
    order = ShardedBatchOrder(ds, 6, seed=3)
    full = list(order)
    order.skip(2)
    assert list(order) == full[12:]  # resuming inside an epoch skips consumed batches
    with pytest.raises(ConfigError):
        ShardedBatchOrder(ds, 5, seed=3, world_size=2)


# -- averaging -------------------------------------------------------------------------------
def test_running_average_equals_weighted_mean_of_snapshots():
    torch.manual_seed(0)
    snaps = [{"w": torch.randn(3, 2), "b": torch.randn(2)} for _ in range(5)]
    swa = UniformAverage(start=2)
    for epoch, s in enumerate(snaps, 1):
        swa.update(s, epoch)
    expected = uniform_average(snaps[1:])
    assert swa.epochs == [2, 3, 4, 5]
    for k in expected:
        assert torch.allclose(swa.average[k], expected[k], atol=1e-6)
    hand = (snaps[1]["w"] + snaps[2]["w"] + snaps[3]["w"] + snaps[4]["w"]) / 4
    assert torch.allclose(swa.average["w"], hand, atol=1e-6)

    class Ramp(WeightAverage):  # Eq. 13 holds for any weights
        def weight(self, epoch):
            return float(epoch)

    ramp = Ramp()
    for epoch, s in enumerate(snaps, 1):
        ramp.update(s, epoch)
    weighted = sum(e * s["w"] for e, s in enumerate(snaps, 1)) / 15
    assert torch.allclose(ramp.average["w"], weighted, atol=1e-6)
    restored = Ramp()
    restored.load_state_dict(ramp.state_dict())
    assert torch.equal(restored.average["w"], ramp.average["w"])


def test_swa_result_is_the_mean_of_the_stored_epoch_checkpoints(tmp_path, toys):
    torch.manual_seed(0)
    method = method_with(OpenVClip, epochs=3, batch_size=4, clip_ensemble="none", swa_start=2)
    out = method.fit(DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(tmp_path / "run"))
    snaps = [ckpt.load(ckpt.epoch_path(tmp_path / "run", e)) for e in (2, 3)]
    mean = uniform_average(snaps)
    assert torch.allclose(out.video_proj.detach(), mean["video_proj"], atol=1e-6)


# -- checkpoints, logs, resume ---------------------------------------------------------------
def test_checkpoint_is_atomic_and_rng_round_trips(tmp_path):
    path = tmp_path / "c" / "x.pt"
    ckpt.atomic_save({"a": torch.ones(2)}, path)
    assert torch.equal(ckpt.load(path)["a"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["x.pt"]
    torch.manual_seed(5)
    np.random.seed(5)
    state = ckpt.capture_rng()
    ckpt.atomic_save({"rng": state}, path)
    a = (torch.rand(3), np.random.rand(3))
    ckpt.restore_rng(ckpt.load(path)["rng"])
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_logs_and_run_folder(tmp_path, toys):
    calls = []

    def evaluate(learner, epoch):
        calls.append((epoch, learner.training))
        return {"ic": {"top1": 50.0, "top5": 100.0, "n": 12}}

    run = tmp_path / "run"
    method = method_with(Plain, epochs=2, batch_size=4, eval_every=1)
    method.fit(DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(run, evaluate=evaluate))
    assert [c[0] for c in calls] == [1, 2]
    steps = (run / "steps.csv").read_text().splitlines()
    assert steps[0].startswith("epoch,step,lr,loss") and len(steps) == 1 + 6
    assert (run / "epochs.csv").read_text().count("\n") == 3
    assert (run / "epoch_eval.csv").read_text().splitlines() == [
        "epoch,set,top1,top5,n",
        "1,ic,50,100,12",
        "2,ic,50,100,12",
    ]
    assert any((run / "tb").iterdir())
    resolved = json.loads((run / "resolved_settings.json").read_text())
    assert resolved["settings"]["epochs"] == 2 and resolved["updates_per_epoch"] == 3
    assert resolved["settings"]["lr"] == 3e-4 and resolved["embedded"] is True
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["epoch_001.pt", "epoch_002.pt", "last.pt"]
    # a finished run that is fitted again resumes at the end and returns the same model
    again = method_with(Plain, epochs=2, batch_size=4).fit(
        DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(run)
    )
    assert torch.equal(
        again.video_proj, ckpt.load(run / "checkpoints" / "epoch_002.pt")["video_proj"]
    )


def test_killed_after_first_epoch_resumes_to_the_same_result(tmp_path, toys):
    """A SIGKILL right after epoch 1's checkpoint, then a rerun: bit-identical end state."""
    settings = {
        "epochs": 3,
        "batch_size": 4,
        "swa_start": 1,
        "clip_ensemble": "weight",
        "eval_every": 1,
    }
    base = {"videoset": videoset_to_json(toys), "method": "open-vclip", "settings": settings}
    full = run_worker(
        tmp_path, {**base, "run_dir": str(tmp_path / "a"), "out": str(tmp_path / "a.pt")}, "full"
    )
    assert full.returncode == 0, full.stderr
    job = {**base, "run_dir": str(tmp_path / "b"), "out": str(tmp_path / "b.pt")}
    killed = run_worker(tmp_path, {**job, "kill_after_epoch": 1}, "killed")
    assert killed.returncode == -signal.SIGKILL
    assert (tmp_path / "b" / "checkpoints" / "last.pt").is_file()
    assert not (tmp_path / "b.pt").exists()
    # what `biasbench sweep status` says of such a record: how far its training got
    record = tmp_path / "record"
    (record / "train").mkdir(parents=True)
    (record / "train" / "main").symlink_to(tmp_path / "b")
    assert progress(record) == "training epoch 1/3 (update 3/9)"
    resumed = run_worker(tmp_path, job, "resumed")
    assert resumed.returncode == 0, resumed.stderr
    a, b = torch.load(tmp_path / "a.pt"), torch.load(tmp_path / "b.pt")
    for k in a["state"]:
        assert torch.equal(a["state"][k], b["state"][k]), k
    assert torch.equal(a["logits"], b["logits"]) and a["top1"] == b["top1"]
    rows = (tmp_path / "b" / "steps.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[1]) for r in rows] == list(range(9))  # no duplicated steps


def test_mid_epoch_checkpoint_resume_is_bit_identical(tmp_path, toys):
    """Resuming from an update-level checkpoint inside an epoch (``checkpoint_every``)."""
    settings = dict(epochs=2, batch_size=4, checkpoint_every=1)
    torch.manual_seed(0)
    ref = method_with(Plain, **settings).fit(
        DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(tmp_path / "ref")
    )

    class Crash(Plain):
        def compute_grads(self, learner, batches, step):
            if step.step == 4:  # epoch 2, second update
                raise KeyboardInterrupt
            return super().compute_grads(learner, batches, step)

    run = tmp_path / "run"
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        method_with(Crash, **settings).fit(DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(run))
    assert ckpt.load(ckpt.last_path(run))["position"] == {"epoch": 2, "batch": 1, "step": 4}
    torch.manual_seed(0)
    out = method_with(Plain, **settings).fit(DummyLearner(), TrainRequest(toys, "xd"), fit_ctx(run))
    assert torch.equal(out.video_proj, ref.video_proj)
    assert math.isclose(len((run / "steps.csv").read_text().splitlines()), 7)
