"""Every protocol end to end on tiny trees in each official format, made from the small world.

The small embedded world provides real mp4s and rawframes; the fixtures below lay them out
(per-file symlinks, so a test may break one file without touching the shared world) as a
user's UCF101, HMDB51, Kinetics-400/600, SSv2, ViFi-CLIP base-to-novel, SCUBA and UCF-HAT
trees. Runs use the ``dummy`` learner (the tiny CLIP where scores matter) with one view.
"""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import is_dataclass
from pathlib import Path

import pytest
import torch

from biasbench.cli import main
from biasbench.config import RunConfig, apply_overrides
from biasbench.datactx import DataContext
from biasbench.harness import run
from biasbench.plugins import PROTOCOLS

CRLF = "\r\n"
TRAIN_1_EPOCH = {"epochs": 1, "warmup_epochs": 0.0, "batch_size": 4}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- tiny trees --------------------------------------------------------------------------------


def _link(dst: Path, src: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def _write(path: Path, text: str, newline: str = "\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", newline).encode())
    return path


class World:
    """The small world's vocabulary and videos, grouped by class."""

    def __init__(self, paths):
        meta = json.loads(paths.world_json.read_text())
        self.paths, self.dirs, self.names = paths, meta["class_dirs"], meta["class_names"]
        self.train = _by_class(meta["videos"]["ic_train"], len(self.dirs))
        self.test = _by_class(meta["videos"]["ic_test"], len(self.dirs))
        self.oc = meta["videos"]["oc_test"]

    def mp4(self, label: int, vid: str) -> Path:
        return self.paths.ucf_root / "videos" / self.dirs[label] / f"{vid}.mp4"


def _by_class(videos: list[dict], k: int) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(k)]
    for v in sorted(videos, key=lambda v: v["id"]):
        out[v["label"]].append(v["id"])
    return out


def train_count(label: int) -> int:
    """Training videos per class in the trees: 2..5, so the most frequent half is known."""
    return 2 + label % 4


def ucf_tree(w: World, root: Path) -> None:
    lists = root / "ucfTrainTestlist"
    _write(lists / "classInd.txt", "".join(f"{i + 1} {d}\n" for i, d in enumerate(w.dirs)), CRLF)
    train = [(c, v) for c in range(len(w.dirs)) for v in w.train[c][: train_count(c)]]
    for n in (1, 2, 3):
        _write(
            lists / f"trainlist0{n}.txt",
            "".join(f"{w.dirs[c]}/{v}.mp4 {c + 1}\n" for c, v in train),
            CRLF,
        )
        test = [(c, v) for c in range(len(w.dirs)) for v in w.test[c][2 * n - 2 : 2 * n]]
        _write(
            lists / f"testlist0{n}.txt", "".join(f"{w.dirs[c]}/{v}.mp4\n" for c, v in test), CRLF
        )
    for c in range(len(w.dirs)):
        for v in w.train[c][:5] + w.test[c][:6]:
            _link(root / "videos" / w.dirs[c] / f"{v}.mp4", w.mp4(c, v))


def hmdb_folders(w: World) -> list[str]:
    return [n.replace(" ", "_") for n in w.names]


def hmdb_label(w: World):
    """World label -> HMDB51 label (classes in alphabetical folder order)."""
    order = sorted(hmdb_folders(w))
    return {c: order.index(f) for c, f in enumerate(hmdb_folders(w))}.__getitem__


def hmdb_tree(w: World, root: Path) -> None:
    folders = hmdb_folders(w)
    for c, folder in enumerate(folders):
        vids = w.train[c][:3] + w.test[c][:6]
        for v in vids:
            _link(root / "videos" / folder / f"{v}.avi", w.mp4(c, v))
        for n in (1, 2, 3):
            test = set(w.test[c][2 * n - 2 : 2 * n])
            tags = {v: 1 if v in w.train[c] else 2 if v in test else 0 for v in vids}
            text = "".join(f"{v}.avi {tags[v]} \n" for v in vids)
            _write(root / "testTrainMulti_7030_splits" / f"{folder}_test_split{n}.txt", text)


def kinetics_tree(w: World, root: Path) -> None:
    _write(root / "labels.csv", "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(w.names)))
    for subset, videos, count in (("train", w.train, 3), ("val", w.test, 2)):
        lines = []
        for c, name in enumerate(w.names):
            for v in videos[c][:count]:
                lines.append(f"{subset}/{name}/{v}.mp4,{c}\n")
                _link(root / subset / name / f"{v}.mp4", w.mp4(c, v))
        _write(root / f"{subset}.csv", "".join(lines))


K600_SPLITS = {1: [0, 2, 5], 2: [1, 3, 6], 3: [4, 6, 7]}


def k600_tree(w: World, root: Path) -> None:
    """Per split: its class list, a val-only csv (Open-VCLIP) and a mixed txt (ViFi-CLIP)."""
    for n, classes in K600_SPLITS.items():
        names = {str(i): w.names[c] for i, c in enumerate(classes)}
        _write(root / f"k600_split{n}_classes.json", json.dumps(names))
        val, mixed = [], []
        for i, c in enumerate(classes):
            v1, v2 = w.test[c][:2]
            val.append(f"val/{w.names[c]}/{v1}.mp4,{i}\n")
            links = [(root / "val" / w.names[c] / f"{v1}.mp4", v1)]
            for sub, v in (("val", v1), ("train", v2)):
                mixed.append(f"{sub}/{v}_000000_000010.mp4 {i}\n")
                links.append((root / sub / f"{v}_000000_000010.mp4", v))
            for dst, v in links:
                if not dst.is_symlink():  # a class may be in several splits
                    _link(dst, w.mp4(c, v))
        _write(root / f"k600_split{n}_val.csv", "".join(val))
        _write(root / f"k600_split{n}_mixed.txt", "".join(mixed))


def ssv2_tree(w: World, root: Path) -> None:
    _write(root / "labels" / "labels.json", json.dumps({n: str(i) for i, n in enumerate(w.names)}))
    for subset, videos, count in (("train", w.train, 4), ("validation", w.test, 2)):
        entries = []
        for c, name in enumerate(w.names):
            for v in videos[c][:count]:
                vid = f"{len(entries) + 1000 * (subset == 'train')}"
                entries.append({"id": vid, "label": name, "template": name, "placeholders": []})
                _link(root / "videos" / f"{vid}.webm", w.mp4(c, v))
        _write(root / "labels" / f"{subset}.json", json.dumps(entries))


B2N_BASE = [4, 5, 6, 7]  # the official halves of the tiny trees (deliberately not by frequency)


def b2n_tree(w: World, root: Path) -> None:
    """ViFi-CLIP split files for UCF (class-folder paths) and HMDB (bare file names)."""
    novel = [c for c in range(len(w.dirs)) if c not in B2N_BASE]
    for key, prefix, names in (("ucf", "ucf_101", w.dirs), ("hmdb", "hmdb_51", w.names)):
        d = root / "datasets_splits" / "base2novel_splits" / f"{key}_splits"
        for half, classes in (("base", B2N_BASE), ("novel", novel)):
            rows = "".join(f"{i},{names[c]}\n" for i, c in enumerate(classes))
            _write(root / "labels" / f"{prefix}_{half}_labels.csv", "id,name\n" + rows)

        def entry(c: int, v: str, key: str = key) -> str:
            return f"{w.dirs[c]}/{v}.mp4" if key == "ucf" else f"{v}.avi"

        for s in (1, 2, 3):
            shots = [(i, c, v) for i, c in enumerate(B2N_BASE) for v in w.train[c][s - 1 : s + 1]]
            _write(
                d / f"fs_base_s{s}_train.txt", "".join(f"{entry(c, v)} {i}\n" for i, c, v in shots)
            )
        for name, classes in (("base_val", B2N_BASE), ("novel_val", novel)):
            rows = [f"{entry(c, v)} {i}\n" for i, c in enumerate(classes) for v in w.test[c][:2]]
            _write(d / f"{name}.txt", "".join(rows))


def scuba_tree(w: World, root: Path, list_name: str, label_of) -> None:
    lines = []
    for v in sorted(w.oc, key=lambda v: v["id"])[::4]:
        lines.append(f"{v['id']} 16 {label_of(v['label'])}\n")
        _link(root / "frames" / v["id"], w.paths.scuba_root / "frames" / v["id"])
    _write(root / list_name, "".join(lines))


def hat_tree(w: World, root: Path) -> None:
    """UCF-HAT layout from the world's HAT export: per-video folder links, pickled pairs."""
    from biasbench.world.hat_export import export_hat

    export = export_hat(w.paths)
    for part in ("ori", "seg", "inp"):
        for folder in (export.root / part).glob("*/*"):
            _link(root / part / folder.parent.name / folder.name, folder)
    shutil.copy(export.video_list, root / "ucf101_hat_rawframes.txt")
    for kind in ("close", "far"):
        pairs = json.loads(export.pair_file(kind, 1).read_text())
        pairs = {k: tuple(v) for k, v in list(pairs.items())[::4]}
        (root / f"actionswap_{kind}_1.pickle").write_bytes(pickle.dumps(pairs))


def official_trees(small_world, root: Path) -> Path:
    """Every dataset the real protocols read, tiny, in its official layout, under ``root``
    (UCF-SCUBA aside: the world's own SCUBA folder is one, for whoever links it)."""
    w = World(small_world)
    ucf_tree(w, root / "UCF101")
    hmdb_tree(w, root / "HMDB51")
    kinetics_tree(w, root / "Kinetics-400")
    k600_tree(w, root / "Kinetics-600")
    ssv2_tree(w, root / "SSv2")
    b2n_tree(w, root / "base2novel")
    scuba_tree(w, root / "HMDB51-SCUBA", "hmdb51_places365.txt", hmdb_label(w))
    scuba_tree(w, root / "Kinetics-400-SCUBA", "k400_places365.txt", int)
    hat_tree(w, root / "UCF101-HAT")
    return root


@pytest.fixture(scope="module")
def data_root(small_world, tmp_path_factory) -> Path:
    return official_trees(small_world, tmp_path_factory.mktemp("data"))


def _cfg(tmp_path, protocol: str, data_root: Path | None = None, **kw) -> RunConfig:
    base = {
        "method": "zero-shot",
        "learner": "dummy",
        "protocol": protocol,
        "out": str(tmp_path / "runs"),
        "num_workers": 0,
        "world": {"preset": "small"},
        "eval": {"temporal_views": 1},
    }
    if data_root is not None:
        base["data_root"] = str(data_root)
    return apply_overrides(RunConfig(), {**base, **kw})


def _metrics(outcome) -> dict:
    return {m.name: m for m in outcome.metrics}


def _config(outcome) -> dict:
    return json.loads((outcome.path / "config.json").read_text())


# -- the registry contract ---------------------------------------------------------------------


def test_every_protocol_is_listed_with_its_datasets(capsys):
    assert main(["list", "protocols"]) == 0
    out = capsys.readouterr().out
    for entry in PROTOCOLS:
        cls = PROTOCOLS.get(entry.name)
        assert cls.name == entry.name and cls.summary == entry.summary
        assert cls.needs and is_dataclass(cls.Settings) and cls.Settings.__dataclass_params__.frozen
        line = next(i for i, ln in enumerate(out.splitlines()) if ln.split()[:1] == [entry.name])
        needs = out.splitlines()[line + 1]
        assert "needs:" in needs and all(n.name in needs for n in cls.needs)
    assert "kinetics400 (kinetics) [train only]" in out and "b2n (b2n) [optional]" in out


# -- base-to-novel ------------------------------------------------------------------------------


def _assert_b2n_metrics(m: dict) -> None:
    import numpy as np

    for name in ("base_top1", "novel_top1", "hm"):
        per_seed = [m[f"{name}_seed{s}"].value for s in (1, 2, 3)]
        assert m[name].value == pytest.approx(np.mean(per_seed))
        assert m[name].std == pytest.approx(np.std(per_seed, ddof=1))
    for s in (1, 2, 3):
        b, n = m[f"base_top1_seed{s}"].value, m[f"novel_top1_seed{s}"].value
        assert m[f"hm_seed{s}"].value == pytest.approx(2 * b * n / (b + n) if b + n else 0.0)
    b, n = m["base_top1"].value, m["novel_top1"].value
    assert m["hm_of_means"].value == pytest.approx(2 * b * n / (b + n) if b + n else 0.0)


@pytest.mark.parametrize("protocol", ["b2n-ucf", "b2n-hmdb"])
def test_b2n_reads_official_split_files(protocol, data_root, tmp_path):
    out = run(_cfg(tmp_path, protocol, data_root), progress=False)
    m = _metrics(out)
    _assert_b2n_metrics(m)
    assert m["base_top1"].n == 8 and m["novel_top1"].n == 8  # 2 videos x 4 classes each
    cfg = _config(out)
    evals = cfg["episodes"]["seed2"]["evals"]
    assert evals["base"]["split_source"] == "official ViFi-CLIP split files"
    assert evals["novel"]["novel_val_file"].endswith("novel_val.txt")
    assert evals["novel"]["vocabulary"] == "novel" and evals["base"]["vocabulary"] == "base"
    assert cfg["episodes"]["seed2"]["train"] is None  # zero-shot: the shot files are not read


def test_b2n_trains_three_seeds_on_official_shots(data_root, tmp_path):
    cfg = _cfg(tmp_path, "b2n-ucf", data_root, method="plain", method_cfg=TRAIN_1_EPOCH)
    out = run(cfg, progress=False)
    _assert_b2n_metrics(_metrics(out))
    episodes = _config(out)["episodes"]
    for s in (1, 2, 3):
        train = episodes[f"seed{s}"]["train"]
        assert train["videos"] == 8 and train["shot_file"].endswith(f"fs_base_s{s}_train.txt")
        assert (out.path / "train" / f"seed{s}").is_dir()


@pytest.mark.parametrize(
    "protocol, base",
    [
        ("b2n-ucf", [2, 3, 6, 7]),  # 2 + label % 4 training videos per class
        ("b2n-k400", [4, 5, 6, 7]),  # equal counts: the higher class indices
        ("b2n-ssv2", [4, 5, 6, 7]),
        ("b2n-hmdb", [4, 5, 6, 7]),
    ],
)
def test_b2n_falls_back_to_most_frequent_half_and_seeded_shots(
    protocol, base, data_root, small_world, tmp_path
):
    cfg = _cfg(
        tmp_path,
        protocol,
        data_root,
        method="plain",
        method_cfg=TRAIN_1_EPOCH,
        protocol_cfg={"source": "rebuild", "shots": 2, "seeds": 2},
    )
    out = run(cfg, progress=False)
    m = _metrics(out)
    assert {"base_top1", "novel_top1", "hm", "hm_of_means", "hm_seed2"} <= set(m)
    episodes = _config(out)["episodes"]
    assert set(episodes) == {"seed1", "seed2"}
    train = episodes["seed2"]["train"]
    assert train["split_source"].startswith("most-frequent-half rule")
    assert train["shot_seed"] == 2 and train["videos"] == 2 * 4
    names = World(small_world).names
    assert train["base_classes"] == [names[c] for c in base]
    assert episodes["seed1"]["evals"]["novel"]["novel_classes"] == [
        names[c] for c in range(8) if c not in base
    ]
    assert m["novel_top1"].n == 8  # 2 validation videos x 4 novel classes


def test_b2n_official_source_without_files_explains_layout(data_root, tmp_path, capsys):
    empty = tmp_path / "nothing"
    empty.mkdir()
    code = main(
        [
            "run", "--method", "zero-shot", "--learner", "dummy", "--protocol", "b2n-ucf",
            "--data-root", str(data_root), "--out", str(tmp_path / "runs"), "-q",
            "--set", f"data.b2n.root={empty}", "--set", "protocol.source=official",
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "ucf_splits" in err and "fs_base_s{1,2,3}_train.txt" in err


# -- cross-dataset -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol, sets, videos",
    [
        ("xd-ucf", ["split1", "split2", "split3"], 16),
        ("xd-hmdb", ["split1", "split2", "split3"], 16),
        ("xd-ucf-full", ["full"], 8 * 2 + sum(train_count(c) for c in range(8))),
        ("xd-hmdb-full", ["full"], 8 * (3 + 2)),
    ],
)
def test_xd_three_official_splits_or_the_full_set(protocol, sets, videos, data_root, tmp_path):
    import numpy as np

    out = run(_cfg(tmp_path, protocol, data_root), progress=False)
    m = _metrics(out)
    recorded = json.loads((out.path / "sets.json").read_text())
    assert sorted(recorded) == [f"main/{s}" for s in sets]
    assert all(r["videos_scored"] == videos for r in recorded.values())
    per_split = [recorded[f"main/{s}"]["top1"] for s in sets]
    assert m["top1"].value == pytest.approx(np.mean(per_split))
    assert m["top1"].n == videos * len(sets)
    if len(sets) == 3:
        assert m["top1"].std == pytest.approx(np.std(per_split, ddof=1))
        assert [m[f"top1_{s}"].value for s in sets] == pytest.approx(per_split)
    else:
        assert m["top1"].std is None and "top1_full" not in m


@pytest.mark.parametrize("kind, wanted", [("val", "K600 val only"), ("mixed", "mixed list")])
def test_xd_k600_records_which_video_list(kind, wanted, data_root, tmp_path):
    cfg = _cfg(tmp_path, "xd-k600", data_root, protocol_cfg={"video_list": kind})
    out = run(cfg, progress=False)
    m = _metrics(out)
    evals = _config(out)["episodes"]["main"]["evals"]
    for n in (1, 2, 3):
        assert evals[f"split{n}"]["video_list_kind"].startswith(wanted)
        suffix = ".csv" if kind == "val" else ".txt"
        assert evals[f"split{n}"]["video_list"].endswith(f"k600_split{n}_{kind}{suffix}")
        assert m[f"top1_split{n}"].n == 3 * (1 if kind == "val" else 2)
    assert m["top1"].std is not None


def test_xd_k600_trains_on_k400_and_takes_explicit_lists(data_root, tmp_path):
    explicit = {
        "split1_list": "k600_split1_val.csv",
        "split1_classes": "k600_split1_classes.json",
    }
    cfg = _cfg(
        tmp_path,
        "xd-k600",
        data_root,
        method="plain",
        method_cfg=TRAIN_1_EPOCH,
        protocol_cfg={"splits": [1]},
        data={"kinetics600": explicit},
    )
    out = run(cfg, progress=False)
    episode = _config(out)["episodes"]["main"]
    assert episode["train"]["videos"] == 8 * 3
    assert episode["train"]["train_list"].endswith("train.csv")
    assert list(episode["evals"]) == ["split1"]
    assert (out.path / "train" / "main").is_dir()


# -- out of context ------------------------------------------------------------------------------


def test_hmdb_scuba_ic_oc_scufo(data_root, tmp_path):
    out = run(_cfg(tmp_path, "hmdb-scuba", data_root), progress=False)
    m = _metrics(out)
    assert {"ic_top1", "oc_top1", "hm_top1", "scufo_top1", "contrasted"} <= set(m)
    assert m["ic_top1"].n == 16 and m["oc_top1"].n == 16 and m["contrasted"].n == 16
    # one source present: the pooled metrics are its own, so no per-source rows repeat them
    assert not any(s in name for name in m for s in ("places365", "vqgan", "stripes"))
    evals = _config(out)["episodes"]["main"]["evals"]
    assert evals["oc"]["sources"] == ["places365"] and evals["scufo"]["repeat_one_frame"]
    assert evals["oc"]["sources_absent"] == ["vqgan", "stripes"]


def test_hmdb_scuba_scores_every_background_source(data_root, small_world, tmp_path):
    w = World(small_world)
    root = tmp_path / "HMDB51-SCUBA"
    for family in ("place365", "vqgan"):  # one folder per source, as the release has
        scuba_tree(w, root / family, f"hmdb51_{family}.txt", hmdb_label(w))
    cfg = _cfg(tmp_path, "hmdb-scuba", data_root, data={"hmdb_scuba": {"root": str(root)}})
    out = run(cfg, progress=False)
    m = _metrics(out)
    sets = json.loads((out.path / "sets.json").read_text())
    assert set(sets) == {"main/ic", "main/oc", "main/scufo"}  # one inference per video
    assert m["oc_top1"].n == 32 and m["contrasted"].n == 32
    for source in ("places365", "vqgan"):
        assert m[f"oc_{source}_top1"].n == 16 and m[f"contrasted_{source}"].n == 16
        ic, oc = m["ic_top1"].value, m[f"oc_{source}_top1"].value
        assert m[f"hm_{source}_top1"].value == pytest.approx(
            2 * ic * oc / (ic + oc) if ic + oc else 0
        )
    pooled = {"oc_top1": "oc_{}_top1", "scufo_top1": "scufo_{}_top1", "contrasted": "contrasted_{}"}
    for name, per_source in pooled.items():  # equal sizes: pooled = the mean of the two
        values = [m[per_source.format(s)].value for s in ("places365", "vqgan")]
        assert m[name].value == pytest.approx(sum(values) / 2)
    evals = _config(out)["episodes"]["main"]["evals"]
    assert evals["oc"]["sources"] == ["places365", "vqgan"]
    assert evals["oc"]["sources_absent"] == ["stripes"]
    assert evals["oc"]["lists"]["vqgan"] == str(root / "vqgan" / "hmdb51_vqgan.txt")
    assert evals["oc"]["videos_per_source"] == {"places365": 16, "vqgan": 16}


def test_k400_scuba_is_closed_set_with_hm(data_root, tmp_path):
    out = run(_cfg(tmp_path, "k400-scuba", data_root), progress=False)
    m = _metrics(out)
    pooled = {"ic_top1", "ic_top5", "oc_top1", "oc_top5", "hm_top1"}
    assert set(m) == pooled  # one source present: no per-source rows repeating the pooled ones
    ic, oc = m["ic_top1"].value, m["oc_top1"].value
    assert m["hm_top1"].value == pytest.approx(2 * ic * oc / (ic + oc) if ic + oc else 0.0)
    assert m["ic_top1"].n == 16 and m["oc_top1"].n == 16


def test_ucf_hat_scores_foreground_and_counts_a_missing_background(
    data_root, tmp_path, small_world
):
    hat = tmp_path / "UCF101-HAT"
    shutil.copytree(data_root / "UCF101-HAT", hat, symlinks=True)
    pairs = pickle.loads((hat / "actionswap_far_1.pickle").read_bytes())
    fg, (bg, _, _) = next(iter(pairs.items()))
    (hat / "inp" / bg).unlink()  # a missing inpainted background
    close = pickle.loads((hat / "actionswap_close_1.pickle").read_bytes())
    users = sum(b == bg for b, _, _ in pairs.values())
    close_users = sum(b == bg for b, _, _ in close.values())
    cfg = _cfg(
        tmp_path,
        "ucf-hat",
        data_root,
        learner="clip",
        backbone={"arch": small_world.arch, "weights": str(small_world.clip_weights)},
        data={"ucf_hat": {"root": str(hat)}},
        protocol_cfg={"mask_coverage": None},
        eval={"temporal_views": 1, "templates": "video"},
    )
    out = run(cfg, progress=False)
    m = _metrics(out)
    sets = json.loads((out.path / "sets.json").read_text())
    assert sets["main/far1"]["videos_unreadable"] == users
    assert all(str(hat / "inp" / bg) in u["error"] for u in sets["main/far1"]["unreadable"])
    assert m["far_top1"].n == 16 - users and m["close_top1"].n == 16 - close_users
    n_close, n_far = m["close_top1"].n, m["far_top1"].n
    assert m["hat_top1"].n == n_close + n_far
    pooled = (m["close_top1"].value * n_close + m["far_top1"].value * n_far) / (n_close + n_far)
    assert m["hat_top1"].value == pytest.approx(pooled)
    assert not m["close_bg_pred"].higher_is_better and 0 <= m["far_bg_pred"].value <= 100
    evals = _config(out)["episodes"]["main"]["evals"]
    assert evals["close1"]["swap"] == "Close" and evals["far1"]["label"] == "foreground class"
    assert out.unreadable == users + close_users


def test_ucf_hat_mask_coverage_rule_is_applied_and_recorded(data_root, tmp_path, small_world):
    from biasbench.world.hat_export import export_hat

    coverage = export_hat(small_world).info["mask_coverage"]
    lo = sorted(c[0] for c in coverage.values())[len(coverage) // 2]  # about half survive
    cfg = _cfg(tmp_path, "ucf-hat", data_root, protocol_cfg={"mask_coverage": [lo, 0.5]})
    out = run(cfg, progress=False)
    info = _config(out)["episodes"]["main"]["evals"]["close1"]
    pairs = pickle.loads((data_root / "UCF101-HAT" / "actionswap_close_1.pickle").read_bytes())
    kept = [fg for fg in pairs if coverage[fg.split("/")[1]][0] >= lo]
    assert info["swaps_before_filter"] == 32 and info["swaps_kept"] == 2 * len(kept)
    assert 0 < len(kept) < 16 and _metrics(out)["close_top1"].n == len(kept)


# -- the embedded counterparts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "protocol, expected",
    [
        ("synth-b2n", {"base_top1", "novel_top1", "hm", "hm_of_means", "hm_seed3"}),
        ("synth-xd", {"top1", "top5", "top1_split1", "top1_split3"}),
        ("synth-closed", {"ic_top1", "oc_top1", "hm_top1"}),
        ("synth-hat", {"close_top1", "far_top5", "close_bg_pred", "far_bg_pred", "hat_top1"}),
    ],
)
def test_embedded_protocols_run_end_to_end(protocol, expected, small_world, tmp_path):
    out = run(_cfg(tmp_path, protocol), progress=False)
    m = _metrics(out)
    assert expected <= set(m) and out.embedded
    assert _config(out)["embedded_world"]
    world = DataContext(world_overrides={"preset": "small"}, progress=False)
    backbone = PROTOCOLS.get(protocol)().backbone(world)  # the world's tiny CLIP
    assert backbone.weights == str(small_world.clip_weights)
    assert all(v.n for v in m.values())


def test_synth_xd_evaluates_classes_never_trained_on(small_world, tmp_path):
    cfg = _cfg(tmp_path, "synth-xd", method="plain", method_cfg={"epochs": 1})
    episode = _config(run(cfg, progress=False))["episodes"]["main"]
    source = set(episode["train"]["source_classes"])
    assert len(source) == 5  # round(400 / 620 * 8)
    for n in (1, 2, 3):
        classes = episode["evals"][f"split{n}"]["classes"]
        assert len(classes) == 2 and not source & set(classes)  # round(160 / 220 * 3)


def test_synth_hat_close_is_nearer_than_far(small_world):
    from biasbench.world.hat_export import export_hat

    info = export_hat(small_world).info
    d = info["class_distances"]
    for c, (close, far) in enumerate(zip(info["close_classes"], info["far_classes"], strict=True)):
        assert max(d[c][o] for o in close) <= min(d[c][o] for o in far)
        assert c not in close + far


# -- data check ----------------------------------------------------------------------------------


def test_data_check_explains_each_missing_dataset(tmp_path, capsys):
    code = main(["data", "check", "--protocol", "xd-k600", "--data-root", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "MISSING     kinetics400" in out and "MISSING     kinetics600" in out
    assert "expected layout" in out and "k600_split{n}_classes.json" in out
    assert "result: FAILED" in out
    code = main(["data", "check", "-p", "xd-k600", "--data-root", str(tmp_path), "--no-train"])
    out = capsys.readouterr().out
    assert code == 1 and "not-needed  kinetics400" in out


def test_data_check_counts_missing_and_corrupt_videos(data_root, tmp_path, capsys):
    ucf = tmp_path / "UCF101"
    shutil.copytree(data_root / "UCF101", ucf, symlinks=True)
    tested = sorted((ucf / "videos").rglob("*.mp4"))
    test_list = (ucf / "ucfTrainTestlist" / "testlist01.txt").read_text().split()
    in_split1 = [v for v in tested if f"{v.parent.name}/{v.name}" in test_list]
    in_split1[0].unlink()
    in_split1[1].unlink()
    in_split1[1].write_bytes(b"not a video")
    args = ["data", "check", "-p", "xd-ucf", "--data-root", str(data_root)]
    args += ["--set", f"data.ucf101.root={ucf}", "--samples", "16"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "files: 1 of 16 missing" in out and str(in_split1[0]) in out
    assert "decode: 14 of 15 sampled videos readable" in out and str(in_split1[1]) in out
    assert "result: OK" in out
    assert main([*args, "--strict"]) == 1
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    split1 = next(s for s in report["sets"] if s["where"] == "main/split1")
    assert split1["missing"] == [str(in_split1[0])] and len(split1["unreadable"]) == 1

    out = run(_cfg(tmp_path, "xd-ucf", data_root, data={"ucf101": {"root": str(ucf)}}))
    sets = json.loads((out.path / "sets.json").read_text())
    assert sets["main/split1"]["videos_unreadable"] == 2
    assert _metrics(out)["top1_split1"].n == 14 and _metrics(out)["top1"].n == 16 * 3 - 2


def test_data_check_on_hat_and_embedded_protocols(data_root, small_world, tmp_path, capsys):
    args = ["data", "check", "-p", "ucf-hat", "--data-root", str(data_root), "--no-train"]
    assert main(args) == 1  # the world's actors cover a few % of a frame: 5-50 % keeps none
    assert "set main/close1 is empty" in capsys.readouterr().out
    assert main([*args, "--set", "protocol.mask_coverage=null"]) == 0
    out = capsys.readouterr().out
    assert "main/close1" in out and "decode: 4 of 4 sampled videos readable" in out
    assert main(["data", "check", "-p", "synth-b2n", "--set", "world.preset=small"]) == 0
    out = capsys.readouterr().out
    assert "(embedded world)" in out and "seed1/base" in out and "seed1/train" in out
