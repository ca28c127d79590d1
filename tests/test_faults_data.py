"""Fault injection for data fidelity: label maps that disagree with their own lists.

Each test writes a tiny annotation tree in the public format (ViFi-CLIP lists and label csvs,
HMDB51 / UCF101 file names that carry their class), breaks it the way the public files are
broken, and checks what the readers, ``biasbench data inspect`` and ``b2n-hmdb`` make of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from biasbench.cli import main
from biasbench.config import settings_dict, settings_from
from biasbench.data.readers import b2n, hmdb51, kinetics, scuba, ucf101
from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import AnnotationError, ConfigError
from biasbench.protocols.b2n import B2nHmdb

SWAP_LINE = "names another class than the label map gives their label"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    return path


def hmdb_file(cls: str, i: int) -> str:
    """An HMDB51 file name of class ``cls`` (the dataset's naming convention)."""
    return f"Clip{i}_{cls.replace(' ', '_')}_f_cm_np1_fr_med_{i}.avi"


def lines(rows: list[tuple[str, int]]) -> str:
    return "".join(f"{video} {label}\n" for video, label in rows)


def inspect_cli(capsys, fmt: str, *paths: Path) -> tuple[int, list[dict], str]:
    """``biasbench data inspect`` in-process: exit code, parsed summaries, stderr."""
    code = main(["data", "inspect", "--format", fmt, *map(str, paths)])
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else [], err


# -- 1. the swap is reported wherever paths carry the class ---------------------------------


def test_kinetics_reader_reports_hmdb_label_map_swap(tmp_path, capsys):
    """ViFi-CLIP's hmdb list read with its swapped label map: the labels and counts are named."""
    labels = write(tmp_path / "hmdb_51_labels.csv", "id,name\n0,kick ball\n1,kick\n2,wave\n")
    rows = [(hmdb_file("kick", i), 0) for i in range(3)]
    rows += [(hmdb_file("kick ball", i), 1) for i in range(2)]
    rows += [(hmdb_file("wave", i), 2) for i in range(2)]
    lst = write(tmp_path / "val1.txt", lines(rows))
    code, sets, _ = inspect_cli(capsys, "kinetics", lst, labels)
    assert code == 0
    (summary,) = sets
    assert summary["problems"] == [
        f"5 videos whose file name {SWAP_LINE} (2 labels: 0 'kick ball': 3 name 'kick'; "
        "1 'kick': 2 name 'kick ball'; first: val1.txt:1)"
    ]
    assert summary["info"]["path_classes"] == {
        "source": "file name",
        "videos_checked": 7,
        "videos_disagreeing": 5,
    }


def test_kinetics_reader_reads_class_folders_and_ucf_file_names(tmp_path):
    """``<class>/<file>`` paths and UCF101 ``v_<Class>_gGG_cCC`` names are cross-checked too."""
    labels = write(tmp_path / "labels.csv", "id,name\n0,kick\n1,kick ball\n")
    lst = write(tmp_path / "list.txt", "kick_ball/a.avi 0\nkick/b.avi 0\nkick_ball/c.avi 1\n")
    vs = kinetics.read_kinetics_list(lst, labels)
    assert vs.problems == [
        f"1 videos whose class folder {SWAP_LINE} "
        "(1 labels: 0 'kick': 1 name 'kick ball'; first: list.txt:1)"
    ]
    ucf_labels = write(tmp_path / "ucf.csv", "id,name\n0,ApplyEyeMakeup\n1,YoYo\n")
    ucf = write(tmp_path / "ucf.txt", "v_YoYo_g01_c01.avi 0\nv_ApplyEyeMakeup_g01_c01.avi 0\n")
    vs = kinetics.read_kinetics_list(ucf, ucf_labels)
    assert "0 'ApplyEyeMakeup': 1 name 'YoYo'; first: ucf.txt:1" in vs.problems[0]


def test_kinetics_list_without_class_in_paths_is_not_flagged(tmp_path):
    """Kinetics ids carry no class: nothing is checked, nothing is reported."""
    labels = write(tmp_path / "labels.csv", "id,name\n0,abseiling\n")
    lst = write(tmp_path / "val.txt", "val/abc_000001_000011.mp4 0\n")
    vs = kinetics.read_kinetics_list(lst, labels)
    assert vs.problems == []
    assert vs.info["path_classes"]["videos_checked"] == 0


def test_hmdb51_reader_names_label_and_count_via_shared_check(tmp_path, capsys):
    splits = tmp_path / "hmdb" / "testTrainMulti_7030_splits"
    write(splits / "kick_test_split1.txt", f"{hmdb_file('kick ball', 0)} 2 \n")
    write(splits / "kick_ball_test_split1.txt", f"{hmdb_file('kick ball', 1)} 2 \n")
    code, sets, _ = inspect_cli(capsys, "hmdb51", tmp_path / "hmdb")
    test1 = next(s for s in sets if s["split"] == "test1")
    assert code == 0 and test1["problems"] == [
        f"1 videos whose file name {SWAP_LINE} "
        "(1 labels: 0 'kick': 1 name 'kick ball'; first: kick_test_split1.txt:1)"
    ]


def test_scuba_list_checked_against_the_callers_label_map(tmp_path):
    lst = write(
        tmp_path / "hmdb51_places365.txt",
        "Clip0_kick_f_cm_np1_fr_med_0__1 16 1\nClip1_kick_ball_f_cm_np1_fr_med_1__1 16 0\n",
    )
    vs = scuba.read_scuba(lst, class_names=["kick", "kick ball"])
    assert vs.problems[0].startswith(f"2 videos whose file name {SWAP_LINE} (2 labels:")
    assert scuba.read_scuba(lst).problems == []  # placeholder names: nothing to check


# -- 2. b2n-hmdb corrects the swapped halves, or reproduces them -----------------------------

BASE = ["pour", "sword exercise", "sword"]  # as shipped: the videos of 1 are sword, of 2 exercise
NOVEL = ["kick ball", "kick"]  # as shipped: the videos of 0 are kick, of 1 kick ball
TRUE_BASE = ["pour", "sword", "sword exercise"]
TRUE_NOVEL = ["kick", "kick ball"]


def csv(names: list[str]) -> str:
    return "id,name\n" + "".join(f"{i},{n}\n" for i, n in enumerate(names))


@pytest.fixture
def vifi_hmdb(tmp_path) -> Path:
    """A ViFi-CLIP tree whose HMDB class lists carry the public swap, and videos on disk in
    HMDB51's ``videos/<class>/`` layout."""
    root = tmp_path / "vifi"
    write(root / "labels" / "hmdb_51_base_labels.csv", csv(BASE))
    write(root / "labels" / "hmdb_51_novel_labels.csv", csv(NOVEL))
    write(root / "labels" / "hmdb_51_labels.csv", csv(BASE + NOVEL))
    splits = root / "datasets_splits" / "base2novel_splits" / "hmdb_splits"
    for s in (1, 2, 3):
        shots = [(hmdb_file(c, 100 * s + i), j) for j, c in enumerate(TRUE_BASE) for i in range(16)]
        write(splits / f"fs_base_s{s}_train.txt", lines(shots))
    val = {"base_val": TRUE_BASE, "novel_val": TRUE_NOVEL}
    for name, classes in val.items():
        rows = [(hmdb_file(c, i), j) for j, c in enumerate(classes) for i in range(2)]
        write(splits / f"{name}.txt", lines(rows))
        for video, j in rows:
            touch(tmp_path / "hmdb" / "videos" / classes[j].replace(" ", "_") / video)
    return root


def b2n_hmdb(vifi_hmdb: Path, **settings) -> list:
    protocol = B2nHmdb(settings_from(B2nHmdb.Settings, settings, "protocol"))
    data = DataContext(
        datasets={
            "b2n": {"root": str(vifi_hmdb)},
            "hmdb51": {"root": str(vifi_hmdb.parent / "hmdb")},
        }
    )
    return protocol.episodes(data)


def swaps(vs: VideoSet) -> list[str]:
    """The problem lines about paths that name another class (a tiny tree has others)."""
    return [p for p in vs.problems if SWAP_LINE in p]


def renamed_videos(a: VideoSet, b: VideoSet) -> int:
    """Videos whose class name differs between two readings of one list."""
    pairs = zip(a.records, b.records, strict=True)
    return sum(a.class_names[x.label] != b.class_names[y.label] for x, y in pairs)


def test_b2n_hmdb_uses_corrected_names_by_default(vifi_hmdb):
    episodes = b2n_hmdb(vifi_hmdb)
    official = b2n_hmdb(vifi_hmdb, label_names="official")
    for ep, off in zip(episodes, official, strict=True):
        assert ep.train.videoset.class_names == TRUE_BASE
        assert swaps(ep.train.videoset) == []
        assert renamed_videos(ep.train.videoset, off.train.videoset) == 32  # of 48 shots
        assert ep.train.info["label_names"] == "corrected"
        assert set(ep.train.info["renamed_labels"]["base"]) == {"1", "2"}
    base, novel = (e.videoset for e in episodes[0].evals)
    assert (base.class_names, novel.class_names) == (TRUE_BASE, TRUE_NOVEL)
    assert base.info["renamed_labels"] == {
        "1": {"official": "sword exercise", "corrected": "sword", "videos": 2},
        "2": {"official": "sword", "corrected": "sword exercise", "videos": 2},
    }
    assert novel.info["renamed_labels"]["0"] == {
        "official": "kick ball",
        "corrected": "kick",
        "videos": 2,
    }
    off_base, off_novel = (e.videoset for e in official[0].evals)
    assert renamed_videos(base, off_base) == 4 and renamed_videos(novel, off_novel) == 4
    # the videos are found in their own class folder whichever names are used
    for vs in (base, novel, off_base, off_novel):
        assert vs.validate(check_files=True) == []


def test_b2n_hmdb_official_setting_reproduces_the_shipped_lists(vifi_hmdb):
    (ep, *_) = b2n_hmdb(vifi_hmdb, label_names="official")
    assert ep.train.videoset.class_names == BASE
    assert ep.train.info["label_names"] == "official"
    assert ep.train.info["renamed_labels"] == {"base": {}, "novel": {}}
    base, novel = (e.videoset for e in ep.evals)
    assert novel.class_names == NOVEL and "renamed_labels" not in novel.info
    assert swaps(novel) == [
        f"4 videos whose file name {SWAP_LINE} (2 labels: 0 'kick ball': 2 name 'kick'; "
        "1 'kick': 2 name 'kick ball'; first: novel_val.txt:1)"
    ]
    assert swaps(base)[0].startswith(f"4 videos whose file name {SWAP_LINE} (2 labels: ")


def test_b2n_label_names_setting_is_recorded_and_checked(vifi_hmdb):
    assert settings_dict(B2nHmdb.Settings())["label_names"] == "corrected"
    with pytest.raises(ConfigError, match="protocol.label_names must be one of"):
        b2n_hmdb(vifi_hmdb, label_names="fixed")


def test_b2n_correction_refuses_ambiguous_or_clashing_evidence(tmp_path):
    labels = write(tmp_path / "labels" / "hmdb_51_base_labels.csv", csv(["sword", "wave"]))
    mixed = write(  # label 0's videos name two classes: no single right name
        tmp_path / "hmdb_splits" / "base_val.txt",
        lines([(hmdb_file("sword", 0), 0), (hmdb_file("wave", 1), 0), (hmdb_file("wave", 2), 1)]),
    )
    vs = b2n.read_b2n_file(
        mixed, labels, dataset="hmdb", video_root=tmp_path, label_names="corrected"
    )
    assert vs.class_names == ["sword", "wave"] and vs.info["renamed_labels"] == {}
    assert swaps(vs)[0].startswith(f"1 videos whose file name {SWAP_LINE}")
    clash = write(  # renaming 0 to 'wave' would name two labels 'wave'
        tmp_path / "hmdb_splits" / "novel_val.txt",
        lines([(hmdb_file("wave", 0), 0), (hmdb_file("wave", 1), 1)]),
    )
    vs = b2n.read_b2n_file(
        clash, labels, dataset="hmdb", video_root=tmp_path, label_names="corrected"
    )
    assert vs.class_names == ["sword", "wave"] and vs.info["renamed_labels"] == {}
    assert swaps(vs)[0].startswith(f"1 videos whose file name {SWAP_LINE}")


# -- 3. data inspect finds ViFi-CLIP's labels/ folder, or says which path to add -------------


def ucf_b2n_tree(root: Path, with_labels: bool = True) -> Path:
    """``<root>/datasets_splits/base2novel_splits/ucf_splits`` (+ ``<root>/labels``)."""
    splits = root / "datasets_splits" / "base2novel_splits" / "ucf_splits"
    write(splits / "base_val.txt", "v_Typing_g01_c01.avi 0\nv_Biking_g01_c01.avi 1\n")
    write(splits / "novel_val.txt", "v_YoYo_g01_c01.avi 0\n")
    if with_labels:
        write(root / "labels" / "ucf_101_base_labels.csv", "id,name\n0,Typing\n1,Biking\n")
        write(root / "labels" / "ucf_101_novel_labels.csv", "id,name\n0,YoYo\n")
    return splits


def test_b2n_inspect_finds_labels_beside_the_split_folders(tmp_path, capsys):
    splits = ucf_b2n_tree(tmp_path / "vifi")
    code, sets, err = inspect_cli(capsys, "b2n", splits)
    assert code == 0 and err == ""
    assert [(s["split"], s["videos"]) for s in sets] == [("base_val", 2), ("novel_val", 1)]
    assert sets[0]["info"]["class_file"] == str(
        tmp_path / "vifi" / "labels" / "ucf_101_base_labels.csv"
    )
    assert sets[1]["info"]["raw_class_names"] == ["YoYo"]


def test_b2n_inspect_without_labels_names_the_folder_to_add(tmp_path, capsys):
    splits = ucf_b2n_tree(tmp_path / "vifi", with_labels=False)
    code, _, err = inspect_cli(capsys, "b2n", splits)
    assert code == 1
    assert err == (
        f"error: {splits / 'base_val.txt'}: needs the class list ucf_101_base_labels.csv: "
        f"add {tmp_path / 'vifi' / 'labels'} (ViFi-CLIP's labels folder) to the paths\n"
    )


def test_b2n_inspect_with_a_labels_folder_lacking_the_list(tmp_path):
    splits = ucf_b2n_tree(tmp_path / "vifi", with_labels=False)
    write(tmp_path / "vifi" / "labels" / "hmdb_51_base_labels.csv", "id,name\n0,kick\n")
    with pytest.raises(AnnotationError) as e:
        b2n.inspect([splits])
    assert str(e.value) == (
        f"{splits / 'base_val.txt'}: needs the class list ucf_101_base_labels.csv: "
        f"{tmp_path / 'vifi' / 'labels'} lacks it: add the folder that holds "
        "ucf_101_base_labels.csv to the paths"
    )


def test_b2n_inspect_on_the_few_shot_folder_points_to_base2novel(tmp_path, capsys):
    ucf_b2n_tree(tmp_path / "vifi")
    few_shot = tmp_path / "vifi" / "datasets_splits" / "ucf_splits"
    write(few_shot / "val1.txt", "v_YoYo_g01_c01.avi 0\n")
    code, _, err = inspect_cli(capsys, "b2n", few_shot)
    assert code == 1 and err.count("\n") == 1
    sibling = tmp_path / "vifi" / "datasets_splits" / "base2novel_splits" / "ucf_splits"
    assert err.startswith(f"error: {few_shot}: holds no base-to-novel split files")
    assert err.endswith(f"ViFi-CLIP keeps them in {sibling}: pass that folder instead\n")


def test_name_rules_are_the_readers_own():
    """The generic list reader uses the HMDB51 and UCF101 readers' naming rules, not copies."""
    assert (hmdb51.name_class, ucf101.name_class) == kinetics.NAME_RULES
