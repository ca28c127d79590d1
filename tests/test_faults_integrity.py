"""Fault injection: run identity, integrity and one writer per run (issue "Run integrity").

Each test makes the broken input in a temporary folder — copies of the small world laid out as
a user's UCF101 + UCF-SCUBA data root, hand-edited lists, a second process holding a run —
and checks that it ends in a correct result or a one-line error, never a silent wrong number.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from biasbench.cli import main
from biasbench.config import RunConfig, apply_overrides
from biasbench.errors import AnnotationError, RunEnvironmentError
from biasbench.harness import run
from biasbench.runrecord import RunLock, RunRecord, atomic_write_bytes, read_record


def _data_root(world, root: Path, drop_test_lines: int = 0) -> Path:
    """The small world as a user's UCF101 + UCF-SCUBA data root (optionally fewer IC tests)."""
    shutil.copytree(world.ucf_root, root / "UCF101")
    shutil.copytree(world.scuba_root, root / "UCF-SCUBA")
    if drop_test_lines:
        test = root / "UCF101" / "ucfTrainTestlist" / "testlist01.txt"
        lines = test.read_text().splitlines(keepends=True)
        test.write_text("".join(lines[: len(lines) - drop_test_lines]))
    return root


def _args(world, out: Path, *extra: str) -> list[str]:
    return [
        "run",
        "-m",
        "zero-shot",
        "-p",
        "ucf-scuba",
        "-q",
        "--out",
        str(out),
        "--set",
        f"backbone.arch={world.arch}",
        "--set",
        f"backbone.weights={world.clip_weights}",
        "--set",
        "eval.templates=video",
        "--set",
        "num_workers=0",
        "--set",
        "protocol.scufo=false",
        *extra,
    ]


def _cfg(world, out: Path, data_root: Path, **kw) -> RunConfig:
    base = {
        "method": "zero-shot",
        "protocol": "ucf-scuba",
        "out": str(out),
        "num_workers": 0,
        "data_root": str(data_root),
        "backbone": {"arch": world.arch, "weights": str(world.clip_weights)},
        "eval": {"templates": "video"},
        "protocol_cfg": {"scufo": False},
    }
    return apply_overrides(RunConfig(), {**base, **kw})


def _ic_n(path: Path) -> int:
    return json.loads((path / "sets.json").read_text())["main/ic"]["videos_scored"]


@pytest.fixture(scope="module")
def roots(small_world, tmp_path_factory):
    """Two datasets that differ: B's in-context test list lacks its last 5 lines."""
    base = tmp_path_factory.mktemp("datasets")
    return _data_root(small_world, base / "A"), _data_root(small_world, base / "B", 5)


def test_relative_data_root_is_resolved_so_another_dataset_is_another_run(
    small_world, roots, tmp_path, monkeypatch, capsys
):
    a, b = roots
    out = tmp_path / "runs"
    monkeypatch.chdir(a)
    assert main(_args(small_world, out, "--data-root", ".")) == 0
    monkeypatch.chdir(b)
    assert main(_args(small_world, out, "--data-root", ".")) == 0
    printed = capsys.readouterr().out
    assert "complete run found" not in printed  # B is scored, not A's result reprinted
    runs = sorted(p.parent for p in out.rglob("COMPLETE"))
    assert len(runs) == 2
    scored = sorted(_ic_n(r) for r in runs)
    n_test = len((a / "UCF101" / "ucfTrainTestlist" / "testlist01.txt").read_text().split())
    assert scored == [n_test - 5, n_test]
    ids = {read_record(r).identity["data"]["roots"]["ucf101"] for r in runs}
    assert ids == {str((a / "UCF101").resolve()), str((b / "UCF101").resolve())}


def test_edited_annotation_file_changes_the_run_identity(small_world, tmp_path):
    root = _data_root(small_world, tmp_path / "d")
    first = run(_cfg(small_world, tmp_path / "runs", root), progress=False)
    test = root / "UCF101" / "ucfTrainTestlist" / "testlist01.txt"
    test.write_text("".join(test.read_text().splitlines(keepends=True)[:-1]))
    second = run(_cfg(small_world, tmp_path / "runs", root), progress=False)
    assert not second.reused and second.path != first.path
    assert _ic_n(second.path) == _ic_n(first.path) - 1
    digests = read_record(second.path).identity["data"]["annotations"]
    assert str(test.resolve()) in digests


def test_labels_outside_the_vocabulary_refused_before_scoring(small_world, tmp_path, capsys):
    """classInd.txt without its last class: SCUBA labels point past the vocabulary."""
    root = _data_root(small_world, tmp_path / "d")
    class_ind = root / "UCF101" / "ucfTrainTestlist" / "classInd.txt"
    class_ind.write_text("".join(class_ind.read_text().splitlines(keepends=True)[:-1]))
    out = tmp_path / "runs"
    for _ in range(3):  # once refused, always refused: never a COMPLETE run on bad labels
        code = main(_args(small_world, out, "--data-root", str(root)))
        err = capsys.readouterr().err.strip()
        assert code == 1
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert "outside its vocabulary" in err and "ucf_scuba.txt:" in err
    assert not out.exists()  # refused before a run folder was made


def test_duplicated_list_lines_refused_or_dropped_and_counted(small_world, tmp_path, capsys):
    root = _data_root(small_world, tmp_path / "d")
    test = root / "UCF101" / "ucfTrainTestlist" / "testlist01.txt"
    lines = test.read_text().splitlines(keepends=True)
    test.write_text("".join(lines + lines[:5]))
    out = tmp_path / "runs"
    code = main(_args(small_world, out, "--data-root", str(root)))
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1
    assert "5 duplicated line(s)" in err and f"testlist01.txt:{len(lines) + 1}" in err
    assert "duplicates=drop" in err
    assert not out.exists()
    code = main(_args(small_world, out, "--data-root", str(root), "--set", "duplicates=drop"))
    assert code == 0
    (path,) = [p.parent for p in out.rglob("COMPLETE")]
    assert _ic_n(path) == len(lines)  # each video scored once
    record = read_record(path)
    assert record.config["episodes"]["main"]["evals"]["ic"]["duplicates_dropped"] == 5
    assert record.identity["duplicates"] == "drop"


def test_resume_from_any_spelling_of_out_and_other_worker_or_batch_settings(
    small_world, roots, tmp_path, monkeypatch
):
    a, _ = roots
    monkeypatch.chdir(tmp_path)
    first = run(_cfg(small_world, "runs", a), progress=False)
    metrics = {m.name: m.value for m in first.metrics}
    for out, extra in (
        ("./runs/", {"num_workers": 1}),
        (str(tmp_path / "runs"), {"eval": {"templates": "video", "batch_size": 3}}),
    ):
        (first.path / "COMPLETE").unlink()
        shutil.rmtree(first.path / "predictions" / "main" / "oc")
        again = run(_cfg(small_world, out, a, **extra), progress=False)
        assert not again.reused
        assert again.path.resolve() == first.path.resolve()
        assert {m.name: m.value for m in again.metrics} == pytest.approx(metrics)
    prov = json.loads((first.path / "provenance.json").read_text())
    assert len(prov["resumed"]) == 2
    not_in = read_record(first.path).config["not_in_identity"]
    assert {"out", "num_workers", "eval.batch_size"} <= set(not_in)


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from biasbench.runrecord import RunLock
    lock = RunLock(sys.argv[1]); lock.acquire()
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
    """
)


def _hold(folder: Path, seconds: float) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_of_one_run_exits_naming_the_holder(small_world, roots, tmp_path, capsys):
    a, _ = roots
    from biasbench.resolve import resolve

    path = resolve(_cfg(small_world, tmp_path / "runs", a), progress=False).path
    holder = _hold(path, 60)
    try:
        code = main(_args(small_world, tmp_path / "runs", "--data-root", str(a)))
        err = capsys.readouterr().err.strip()
        assert code == 1 and len(err.splitlines()) == 1
        assert f"pid {holder.pid}" in err and "--wait" in err
        assert not (path / "COMPLETE").exists() and not (path / "predictions").exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed (-9): its lock is stale and the next writer simply takes it
    assert main(_args(small_world, tmp_path / "runs", "--data-root", str(a))) == 0
    assert (path / "COMPLETE").is_file()


def test_wait_queues_behind_the_holder(small_world, roots, tmp_path):
    a, _ = roots
    from biasbench.resolve import resolve

    path = resolve(_cfg(small_world, tmp_path / "runs", a), progress=False).path
    holder = _hold(path, 2)
    t0 = time.monotonic()
    code = main(_args(small_world, tmp_path / "runs", "--data-root", str(a), "--wait"))
    holder.wait()
    assert code == 0 and time.monotonic() - t0 >= 1.0
    assert (path / "COMPLETE").is_file()


def test_lock_is_exclusive_between_open_file_descriptions(tmp_path):
    first, second = RunLock(tmp_path), RunLock(tmp_path)
    first.acquire()
    with pytest.raises(Exception, match="another process"):
        second.acquire()
    first.release()
    second.acquire()  # released: free again
    second.release()


def test_full_disk_leaves_no_temporary_file_and_names_the_path(tmp_path, monkeypatch):
    """The disk fills up after the temporary file was created: it is removed again."""
    target = tmp_path / "metrics.json"

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(RunEnvironmentError, match="no space left") as e:
        atomic_write_bytes(target, b"{}")
    assert str(target) in str(e.value)
    assert list(tmp_path.iterdir()) == []  # no .tmp left behind


def test_a_set_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A failure while writing a set's files leaves no set folder: it is recomputed."""
    import numpy as np

    from biasbench.results import SetResult

    rec = RunRecord.open(tmp_path / "run", {"run_id": "x"}, {})
    res = SetResult("ic", ["a", "b"], np.array([0, 1]), np.eye(2, dtype=np.float32), ["p", "q"])
    import biasbench.runrecord as rr

    monkeypatch.setattr(
        rr, "_predictions_csv", lambda r: (_ for _ in ()).throw(OSError(28, "full"))
    )
    with pytest.raises(RunEnvironmentError):
        rec.save_set("main", res)
    assert rec.load_set("main", "ic") is None
    assert not any((tmp_path / "run" / "predictions" / "main").iterdir())
    monkeypatch.undo()
    rec.save_set("main", res)
    stored = rec.load_set("main", "ic")
    assert stored is not None and stored.ids == ["a", "b"]
    assert (rec.set_dir("main", "ic") / "predictions.csv").is_file()
    rec.close()


def test_another_run_in_the_folder_is_refused(tmp_path):
    RunRecord.open(tmp_path / "run", {"run_id": "one"}, {}).close()
    with pytest.raises(ValueError, match="holds run 'one'"):
        RunRecord.open(tmp_path / "run", {"run_id": "two"}, {})


def test_annotation_error_type_names_file(small_world, tmp_path):
    root = _data_root(small_world, tmp_path / "d")
    test = root / "UCF101" / "ucfTrainTestlist" / "testlist01.txt"
    test.write_text(test.read_text() + test.read_text().splitlines(keepends=True)[0])
    with pytest.raises(AnnotationError, match="testlist01.txt"):
        run(_cfg(small_world, tmp_path / "runs", root), progress=False)


def test_identity_ignores_where_and_how_fast_but_not_what(small_world, tmp_path):
    """Output folder, workers and batch size leave the run id; a result setting changes it."""
    from biasbench.resolve import resolve

    base = {
        "method": "zero-shot",
        "protocol": "synth-scuba",
        "out": str(tmp_path / "a"),
        "num_workers": 0,
        "world": {"preset": "small"},
    }
    first = resolve(apply_overrides(RunConfig(), base), progress=False)
    moved = apply_overrides(RunConfig(), {**base, "out": str(tmp_path / "b"), "num_workers": 1})
    moved = apply_overrides(moved, ["eval.batch_size=3"])
    assert resolve(moved, progress=False).run_id == first.run_id
    other = apply_overrides(RunConfig(), base)
    other = apply_overrides(other, ["eval.aggregation=sum_softmax"])
    changed = resolve(other, progress=False)
    assert changed.run_id != first.run_id and changed.variant_id != first.variant_id
    reseeded = resolve(apply_overrides(RunConfig(), {**base, "seed": 1}), progress=False)
    assert reseeded.run_id != first.run_id and reseeded.variant_id == first.variant_id
    assert not (tmp_path / "a").exists()  # resolving writes nothing
