"""The harness end to end on the small embedded world: metrics, records, resume, bad input."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from biasbench.cli import main
from biasbench.config import RunConfig, apply_overrides
from biasbench.harness import run


def _cfg(tmp_path, **kw) -> RunConfig:
    base = {
        "method": "frozen-clip",
        "protocol": "synth-scuba",
        "out": str(tmp_path / "runs"),
        "num_workers": 0,
        "world": {"preset": "small"},
    }
    return apply_overrides(RunConfig(), {**base, **kw})


@pytest.fixture(scope="module")
def zero_shot_run(small_world, tmp_path_factory):
    cfg = _cfg(tmp_path_factory.mktemp("zs"))
    return cfg, run(cfg, progress=False)


def test_zero_shot_scores_every_set_and_writes_a_complete_record(zero_shot_run):
    cfg, out = zero_shot_run
    names = {m.name: m for m in out.metrics}
    assert set(names) >= {
        "ic_top1",
        "ic_top5",
        "oc_top1",
        "oc_top5",
        "hm_top1",
        "scufo_top1",
        "contrasted",
    }
    assert out.embedded and not out.reused
    for f in ("config.json", "provenance.json", "metrics.json", "sets.json", "COMPLETE"):
        assert (out.path / f).is_file(), f
    sets = json.loads((out.path / "sets.json").read_text())
    assert {"main/ic", "main/oc", "main/scufo"} == set(sets)
    assert all(s["videos_unreadable"] == 0 for s in sets.values())
    prov = json.loads((out.path / "provenance.json").read_text())
    assert prov["seed"] == 0 and prov["libraries"]["torch"]
    config = json.loads((out.path / "config.json").read_text())
    assert config["embedded_world"] is True and config["run"]["learner"] == "clip"
    assert config["run"]["eval"]["temporal_views"] == 1  # unset: the embedded protocols' 1
    # HM is recomputed from its inputs, not trusted
    ic, oc = names["ic_top1"].value, names["oc_top1"].value
    assert names["hm_top1"].value == pytest.approx(2 * ic * oc / (ic + oc))


def test_frozen_tiny_clip_is_static_biased_through_the_harness(zero_shot_run):
    """The world's premise, measured by the real pipeline: IC >= 2 x OC, IC well above chance."""
    _, out = zero_shot_run
    m = {x.name: x.value for x in out.metrics}
    sets = json.loads((out.path / "sets.json").read_text())
    chance = sets["main/ic"]["chance_top1"]
    assert m["ic_top1"] >= 2 * m["oc_top1"], m
    assert m["ic_top1"] >= 2 * chance, m  # small test world: short pretraining (see docs)


def test_predictions_match_metrics(zero_shot_run):
    from biasbench.runrecord import load_set_file

    _, out = zero_shot_run
    res = load_set_file(out.path / "predictions" / "main" / "ic" / "predictions.npz")
    top1 = 100 * float((res.scores.argmax(1) == res.labels).mean())
    m = {x.name: x.value for x in out.metrics}
    assert top1 == pytest.approx(m["ic_top1"])
    csv_text = (out.path / "predictions" / "main" / "ic" / "predictions.csv").read_text()
    assert csv_text.startswith("video_id,")


def test_home_and_away_in_context_videos_are_also_scored_apart(zero_shot_run, small_world):
    """Each group's top-1 recomputed from the stored predictions and world.json; the two
    groups partition the IC set, so IC top-1 is their size-weighted mean."""
    from biasbench.runrecord import load_set_file

    _, out = zero_shot_run
    m = {x.name: x for x in out.metrics}
    res = load_set_file(out.path / "predictions" / "main" / "ic" / "predictions.npz")
    manifest = json.loads(small_world.world_json.read_text())
    home = {v["id"]: v["is_home"] for v in manifest["videos"]["ic_test"]}
    right = res.scores.argmax(1) == res.labels
    for name, at_home in (("home", True), ("away", False)):
        keep = np.array([home[i] is at_home for i in res.ids])
        metric = m[f"ic_{name}_top1"]
        assert metric.n == keep.sum() > 0 and metric.higher_is_better
        assert metric.value == pytest.approx(100 * right[keep].mean())
    home_m, away_m = m["ic_home_top1"], m["ic_away_top1"]
    assert home_m.n + away_m.n == m["ic_top1"].n
    weighted = (home_m.value * home_m.n + away_m.value * away_m.n) / m["ic_top1"].n
    assert weighted == pytest.approx(m["ic_top1"].value)
    config = json.loads((out.path / "config.json").read_text())
    assert config["episodes"]["main"]["evals"]["ic"]["groups"] == {
        "home": home_m.n,
        "away": away_m.n,
    }


def test_rerun_reuses_complete_record_and_resumes_partial(zero_shot_run):
    cfg, out = zero_shot_run
    again = run(cfg, progress=False)
    assert again.reused and again.path == out.path
    before = {m.name: m.value for m in out.metrics}
    (out.path / "COMPLETE").unlink()
    ic_file = out.path / "predictions" / "main" / "ic" / "predictions.npz"
    ic_mtime = ic_file.stat().st_mtime_ns
    shutil.rmtree(out.path / "predictions" / "main" / "oc")
    resumed = run(cfg, progress=False)
    assert not resumed.reused and (out.path / "COMPLETE").is_file()
    assert ic_file.stat().st_mtime_ns == ic_mtime
    assert {m.name: m.value for m in resumed.metrics} == pytest.approx(before)


def _real_layout_copy(world, root):
    """Lay the small world out as a user's UCF101 + UCF-SCUBA data root."""
    shutil.copytree(world.ucf_root, root / "UCF101")
    shutil.copytree(world.scuba_root, root / "UCF-SCUBA")
    return root


def test_real_protocol_skips_and_lists_unreadable_videos(small_world, tmp_path):
    data_root = _real_layout_copy(small_world, tmp_path / "data")
    videos = sorted((data_root / "UCF101" / "videos").rglob("*.mp4"))
    test_list = (data_root / "UCF101" / "ucfTrainTestlist" / "testlist01.txt").read_text().split()
    tested = [v for v in videos if any(str(v).endswith(t) for t in test_list)]
    tested[0].write_bytes(b"not a video at all")  # corrupt
    tested[1].unlink()  # missing
    cfg = _cfg(
        tmp_path,
        protocol="ucf-scuba",
        data_root=str(data_root),
        backbone={"arch": small_world.arch, "weights": str(small_world.clip_weights)},
        eval={"temporal_views": 1, "templates": "video"},
    )
    out = run(cfg, progress=False)
    sets = json.loads((out.path / "sets.json").read_text())
    ic = sets["main/ic"]
    assert ic["videos_unreadable"] == 2
    assert {u["path"] for u in ic["unreadable"]} == {str(tested[0]), str(tested[1])}
    assert ic["videos_scored"] == len(test_list) - 2
    m = {x.name: x for x in out.metrics}
    assert m["ic_top1"].n == len(test_list) - 2
    assert out.unreadable == 2


def test_missing_dataset_is_one_clear_message(tmp_path, capsys):
    code = main(
        [
            "run",
            "--method",
            "frozen-clip",
            "--protocol",
            "ucf-scuba",
            "--data-root",
            str(tmp_path),
            "--out",
            str(tmp_path / "runs"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "ucf101" in err and "expected layout" in err and "classInd.txt" in err
    assert "Traceback" not in err


def test_unknown_names_exit_2_with_suggestion(capsys):
    assert main(["run", "--method", "frozen-clp", "--protocol", "synth-scuba"]) == 2
    assert "frozen-clip" in capsys.readouterr().err
    assert (
        main(
            ["run", "--method", "frozen-clip", "--protocol", "synth-scuba", "--set", "eval.nope=1"]
        )
        == 2
    )


def test_cli_run_prints_labelled_table(small_world, tmp_path, capsys):
    code = main(
        [
            "run",
            "--method",
            "frozen-clip",
            "--protocol",
            "synth-scuba",
            "-q",
            "--out",
            str(tmp_path / "runs"),
            "--set",
            "world.preset=small",
            "--set",
            "eval.temporal_views=1",
            "--set",
            "num_workers=0",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "oc_top1" in out and "embedded synthetic world" in out


def test_scufo_clips_repeat_one_frame(small_world):
    from biasbench.data.loader import ClipDataset
    from biasbench.data.readers.scuba import read_scuba
    from biasbench.models.backbone import data_config_for

    vs = read_scuba(small_world.scuba_root / "ucf_scuba.txt", small_world.scuba_root / "frames")
    ds = ClipDataset(vs, data_config_for(small_world.arch), train=False, repeat_one_frame=True)
    frames = ds[0]["frames"]
    assert np.allclose(frames[:, :1].numpy(), frames.numpy())


def test_default_views_per_protocol():
    from biasbench.plugins import PROTOCOLS

    assert PROTOCOLS.get("synth-scuba")().default_temporal_views() == 1
    assert PROTOCOLS.get("ucf-scuba")().default_temporal_views() == 3  # the papers' 3 x 1
