"""Validation before work: every bad setting or hostile environment ends in one line.

Bad values exit 2, environment problems (read-only or full disk, a file where a folder is
needed, no CUDA device) exit 1; never a traceback, never a run folder left by a refused run.
Everything is called in-process through ``biasbench.cli.main``. Tests run as root, where
``chmod`` does not stop writes: read-only conditions are real where root is bound too (a
path under an existing file) and otherwise a monkeypatched failure of the write probe.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

import pytest

from biasbench.cli import main
from biasbench.config import RunConfig, apply_overrides, settings_from
from biasbench.errors import ConfigError, RunEnvironmentError
from biasbench.training.settings import TrainSettings
from biasbench.validation import check_output_dir, check_run_config, unwritable_reason

ZERO_SHOT = ["run", "--method", "zero-shot", "--protocol", "synth-scuba", "-q"]
SMALL = ["--set", "world.preset=small"]


def _cli(capsys, args: list[str]) -> tuple[int, str]:
    """Exit code and stderr of ``biasbench ARGS``; stderr must be one line, no traceback."""
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return code, err


def _run(capsys, tmp_path, *extra: str) -> tuple[int, str]:
    """A zero-shot run into ``tmp_path/runs`` that must be refused without a folder."""
    out = tmp_path / "runs"
    code, err = _cli(capsys, [*ZERO_SHOT, *SMALL, "--out", str(out), *extra])
    assert not out.exists(), "a refused run left a folder behind"
    return code, err


def _fail_probes_under(monkeypatch, root: Path, code: int = errno.EROFS) -> None:
    """Make the write probe fail with ``code`` in folders under ``root`` (a read-only or
    full file system that binds root too); probes elsewhere behave normally."""
    real = tempfile.mkstemp

    def mkstemp(*args, dir=None, **kw):
        if dir is not None and Path(dir).is_relative_to(root):
            raise OSError(code, os.strerror(code), str(dir))
        return real(*args, dir=dir, **kw)

    monkeypatch.setattr("biasbench.validation.tempfile.mkstemp", mkstemp)


# -- bad values: exit 2 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("eval.aggregation=max", ["eval.aggregation", "'max'", "sum_logits"]),
        ("eval.temporal_views=0", ["eval.temporal_views=0", ">= 1"]),
        ("eval.batch_size=0", ["eval.batch_size=0", ">= 1"]),
        ("eval.spatial_views=0", ["eval.spatial_views=0", "1", "3"]),
        ("eval.templates=nope", ["eval.templates", "nope", "known"]),
        ("device=tpu", ["device='tpu'", "auto, cpu, cuda or cuda:N"]),
        ("num_workers=-1", ["num_workers=-1", "'auto'", ">= 0"]),
        ("num_workers=many", ["num_workers='many'", "'auto'"]),
        ("num_workers=1.5", ["num_workers=1.5"]),
        ("eval=3", ["'eval'", "mapping", "3"]),
        ("backbone.size=big", ["backbone", "size", "arch"]),
        ("world.preset=huge", ["world.preset='huge'", "small"]),
        ("world.p_home=2", ["p_home", "[0, 1]"]),
        ("data.ucf101=3", ["data.ucf101", "group"]),
        ("duplicates=keep", ["duplicates='keep'", "drop"]),
    ],
)
def test_bad_run_settings_exit_2(capsys, tmp_path, setting, words):
    code, err = _run(capsys, tmp_path, "--set", setting)
    assert code == 2, err
    assert all(w in err for w in words), err


def test_negative_seed_exits_2(capsys, tmp_path):
    code, err = _run(capsys, tmp_path, "--seed", "-1")
    assert code == 2 and "seed=-1" in err and "0.." in err


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("method.lr=-1", ["method.lr=-1.0", ">= 0"]),
        ("method.min_lr=-1e-3", ["method.min_lr"]),
        ("method.epochs=0", ["method.epochs=0", ">= 1"]),
        ("method.batch_size=0", ["method.batch_size=0"]),
        ("method.warmup_epochs=-1", ["method.warmup_epochs"]),
        ("method.weight_decay=-0.1", ["method.weight_decay"]),
        ("method.adam_eps=-1", ["method.adam_eps"]),
        ("method.adam_betas=[0.9,1.5]", ["method.adam_betas", "[0, 1)"]),
        ("method.grad_clip=0", ["method.grad_clip=0.0", "> 0"]),
        ("method.flip_p=1.5", ["method.flip_p=1.5", "[0, 1]"]),
        ("method.clip_ensemble_ratio=2", ["method.clip_ensemble_ratio", "[0, 1]"]),
        ("method.log_every=-1", ["method.log_every=-1"]),
        ("method.eval_every=-1", ["method.eval_every=-1"]),
        ("method.checkpoint_every=-2", ["method.checkpoint_every=-2"]),
        ("method.precision=fp8", ["method.precision='fp8'", "bf16"]),
        ("method.clip_ensemble=avg", ["method.clip_ensemble='avg'", "decision"]),
    ],
)
def test_bad_training_settings_exit_2_before_any_training(capsys, tmp_path, setting, words):
    out = tmp_path / "runs"
    args = ["run", "--method", "plain", "--protocol", "synth-scuba", "-q", *SMALL]
    code, err = _cli(capsys, [*args, "--out", str(out), "--set", setting])
    assert code == 2 and not out.exists()
    assert "invalid training settings" in err and all(w in err for w in words), err


def test_warmup_longer_than_training_is_refused():
    with pytest.raises(ConfigError, match=r"warmup_epochs=5.0 exceeds epochs=2"):
        settings_from(TrainSettings, {"epochs": 2, "warmup_epochs": 5}, "method")


def test_config_file_with_non_utf8_bytes(capsys, tmp_path):
    f = tmp_path / "run.yaml"
    raw = b"seed: 1\neval:\n  templates: caf\xe9\n"
    f.write_bytes(raw)
    code, err = _run(capsys, tmp_path, "--config", str(f))
    assert code == 2 and str(f) in err and "UTF-8" in err
    offset = raw.index(b"\xe9")
    assert f"offset {offset}," in err and "line 3" in err, err


@pytest.mark.parametrize("group", ["eval", "method_cfg", "data", "world", "backbone"])
def test_config_file_group_given_a_scalar(capsys, tmp_path, group):
    f = tmp_path / "run.yaml"
    f.write_text(f"{group}: 3\n")
    code, err = _run(capsys, tmp_path, "--config", str(f))
    assert code == 2 and str(f) in err and f"'{group}'" in err and "mapping" in err


def test_config_file_with_invalid_yaml(capsys, tmp_path):
    f = tmp_path / "run.yaml"
    f.write_text("eval: [1, 2\nseed: 3\n")
    code, err = _run(capsys, tmp_path, "--config", str(f))
    assert code == 2 and str(f) in err and "not valid YAML" in err and "line " in err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ucf101: {root: [\n", ["not valid YAML", "line "]),
        ("just a string\n", ["expected a mapping"]),
        ("- ucf101\n- scuba\n", ["expected a mapping"]),
        ("ucf101: 3\n", ["entry 'ucf101'", "mapping"]),
        ("ucf101: [a, b]\n", ["entry 'ucf101'"]),
        ("data_root: [a]\n", ["data_root"]),
        ("ucf101: {root: 3}\n", ["data.ucf101.root=3"]),
    ],
)
def test_bad_datasets_file(capsys, tmp_path, monkeypatch, text, words):
    f = tmp_path / "datasets.yaml"
    f.write_text(text)
    monkeypatch.setenv("BIASBENCH_DATASETS", str(f))
    out = tmp_path / "runs"
    args = ["run", "--method", "zero-shot", "--protocol", "ucf-scuba", "-q"]
    code, err = _cli(capsys, [*args, "--data-root", str(tmp_path), "--out", str(out)])
    assert code == 2 and not out.exists()
    assert all(w in err for w in words), err
    if "data.ucf101" not in err:
        assert str(f) in err


def test_datasets_file_with_non_utf8_bytes(capsys, tmp_path, monkeypatch):
    f = tmp_path / "datasets.yaml"
    f.write_bytes(b"ucf101:\n  root: /d\xffta\n")
    monkeypatch.setenv("BIASBENCH_DATASETS", str(f))
    code, err = _cli(capsys, ["data", "check", "--protocol", "ucf-scuba"])
    assert code == 2 and str(f) in err and "UTF-8" in err and "line 2" in err


def test_negative_counts_on_other_commands(capsys, tmp_path):
    code, err = _cli(capsys, ["data", "check", "--protocol", "synth-scuba", "--samples", "-3"])
    assert code == 2 and "--samples" in err and "-3" in err
    code, err = _cli(capsys, ["compare", "--protocol", "synth-scuba", "--n-boot", "-1"])
    assert code == 2 and "--n-boot" in err and "-1" in err


# -- the environment: exit 1 -----------------------------------------------------------------


def test_cuda_without_a_device_is_an_environment_error(capsys, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, err = _run(capsys, tmp_path, "--set", "device=cuda")
    assert code == 1 and "device=cuda" in err and "no CUDA device" in err


def test_cuda_index_beyond_the_devices(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(RunEnvironmentError, match=r"device=cuda:2: .* 2 CUDA device"):
        check_run_config(apply_overrides(RunConfig(), ["device=cuda:2"]))
    check_run_config(apply_overrides(RunConfig(), ["device=cuda:1"]))


def test_out_is_an_existing_file(capsys, tmp_path):
    f = tmp_path / "runs"
    f.write_text("not a folder")
    code, err = _cli(capsys, [*ZERO_SHOT, *SMALL, "--out", str(f)])
    assert code == 1 and str(f) in err and "is a file" in err
    assert f.read_text() == "not a folder"


def test_out_under_an_existing_file(capsys, tmp_path):
    """A real read-only condition that binds root: no folder can be made under a file."""
    f = tmp_path / "plain-file"
    f.write_text("x")
    code, err = _cli(capsys, [*ZERO_SHOT, *SMALL, "--out", str(f / "runs")])
    assert code == 1 and str(f) in err and "is a file" in err


def test_out_on_a_read_only_file_system(capsys, tmp_path, monkeypatch):
    _fail_probes_under(monkeypatch, tmp_path, errno.EROFS)
    code, err = _run(capsys, tmp_path)
    assert code == 1 and "--out" in err and "Read-only file system" in err
    assert str(tmp_path) in err


def test_output_probe_leaves_nothing_and_creates_no_folder(tmp_path):
    target = tmp_path / "a" / "b"
    check_output_dir(target)
    assert list(tmp_path.iterdir()) == []
    assert unwritable_reason(target) is None


def test_read_only_world_cache(capsys, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("BIASBENCH_CACHE", str(cache))
    _fail_probes_under(monkeypatch, cache, errno.EACCES)
    code, err = _run(capsys, tmp_path)
    assert code == 1 and str(cache) in err and "not writable" in err
    assert "BIASBENCH_CACHE" in err and "--cache-dir" in err
    assert list(cache.iterdir()) == []


def test_world_cache_under_a_file(capsys, tmp_path):
    f = tmp_path / "plain-file"
    f.write_text("x")
    code, err = _cli(capsys, ["world", "build", "--cache-dir", str(f / "cache")])
    assert code == 1 and str(f) in err and "BIASBENCH_CACHE" in err


def test_full_disk_while_building_the_world(capsys, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("BIASBENCH_CACHE", str(cache))

    def build_into(root, cfg, progress):
        (root / "part.mp4").write_bytes(b"x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(root / "next.mp4"))

    monkeypatch.setattr("biasbench.world.build._build_into", build_into)
    code, err = _run(capsys, tmp_path)
    assert code == 1 and str(cache) in err and "No space left on device" in err
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []


def test_full_disk_while_writing_the_run_record(capsys, tmp_path, monkeypatch, small_world):
    def fsync(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "runs"
    code, err = _cli(capsys, [*ZERO_SHOT, *SMALL, "--out", str(out)])
    assert code == 1 and "space" in err and str(out) in err
    assert not [p for p in out.rglob("*") if ".tmp" in p.name], "temp files left behind"


def test_a_stray_os_error_is_one_line(capsys, monkeypatch):
    def check_protocol(*args, **kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/data/cache/x.npz")

    monkeypatch.setattr("biasbench.datacheck.check_protocol", check_protocol)
    code, err = _cli(capsys, ["data", "check", "--protocol", "synth-scuba"])
    assert code == 1 and "/data/cache/x.npz" in err and "No space left on device" in err


def test_valid_defaults_pass():
    check_run_config(RunConfig())
    check_run_config(
        apply_overrides(
            RunConfig(),
            ["eval.spatial_views=3", "eval.aggregation=sum_softmax", "num_workers=0", "seed=7"],
        )
    )
