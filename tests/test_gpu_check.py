"""The GPU check script (benchmarks/gpu_check.py): it refuses without CUDA in one line, and
with --allow-cpu --quick (tiny CLIP, tiny counts) runs every step and writes its JSON."""

from __future__ import annotations

import json

import pytest
import torch
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def gpu_check():
    return load_benchmark("gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_refuses_without_cuda_in_one_line(gpu_check, tmp_path):
    out = tmp_path / "check.json"
    with pytest.raises(SystemExit) as err:
        gpu_check.main(["--out", str(out)])
    message = str(err.value.code)
    assert message.startswith("gpu_check: no CUDA device") and "\n" not in message
    assert "--allow-cpu" in message and not out.exists()


def test_quick_cpu_run_writes_every_figure(gpu_check, tmp_path):
    out = tmp_path / "check.json"
    argv = ["--allow-cpu", "--quick", "--learners", "clip,vclip", "--out", str(out)]
    doc = gpu_check.main(argv)
    assert json.loads(out.read_text()) == json.loads(json.dumps(doc))
    assert doc["failures"] == [] and doc["command"].endswith(" ".join(argv))
    assert {"device", "torch", "cuda", "arch", "frames"} <= doc.keys()
    # step 1: the learners' presets built, updated (if they train) and scored; every learner
    # at real size is tests/test_real_size.py's
    assert [r["learner"] for r in doc["smoke"]] == ["clip", "vclip"]
    assert all(r["ok"] for r in doc["smoke"])
    assert ["update_loss" in r for r in doc["smoke"]] == [False, True]  # frozen CLIP: no update
    # step 2: plain and openmede on vclip, and their ratio from the same run
    train = doc["train"]
    rates = [train[m]["samples_per_s"] for m in ("plain", "openmede")]
    assert all(r > 0 for r in rates) and train["openmede"]["batches_per_update"] == 2
    assert train["openmede_over_plain_samples_per_s"] == pytest.approx(
        rates[1] / rates[0], rel=0.02
    )
    # step 3: evaluation of decoded synthetic videos
    ev = doc["eval"]
    assert ev["eval_clips_per_s"] > 0 and ev["unreadable"] == 0 and ev["video_size"] == "320x240"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_short_run_on_cuda(gpu_check, tmp_path):
    argv = [
        "--out",
        str(tmp_path / "check.json"),
        "--updates",
        "2",
        "--warmup",
        "1",
        "--eval-videos",
        "8",
    ]
    doc = gpu_check.main(argv)
    assert doc["failures"] == []
    assert doc["train"]["plain"]["peak_mem_mb"] > 0 and doc["train"]["plain"]["bf16"]
