"""Annotation readers on tiny trees written in each official format (no real data)."""

from __future__ import annotations

import json
import pickle
from collections import OrderedDict
from pathlib import Path

import pytest

from biasbench.data.readers import b2n, common, hat, hmdb51, k600, kinetics, scuba, ssv2, ucf101
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import AnnotationError, ConfigError, MissingDatasetError


def write(path: Path, text: str, crlf: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.replace("\n", "\r\n" if crlf else "\n").encode())
    return path


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0")
    return path


def problem(vs: VideoSet, words: str) -> str:
    hits = [p for p in vs.problems if words in p]
    assert hits, f"no problem mentioning {words!r} in {vs.problems}"
    return hits[0]


# -- common ------------------------------------------------------------------------------------


def test_read_lines_strips_crlf_trailing_spaces_and_keeps_line_numbers(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"\xef\xbb\xbfone 1 \r\n\r\ntwo 2\rthree 3\n")
    lines = common.read_lines(p)
    assert [(ln.number, ln.text) for ln in lines] == [(1, "one 1"), (3, "two 2"), (4, "three 3")]


@pytest.mark.parametrize(
    "raw, words",
    [
        ("ApplyEyeMakeup", "apply eye makeup"),
        ("HandstandPushups", "handstand pushups"),
        ("YoYo", "yo yo"),
        ("Skijet", "skijet"),
        ("TaiChi", "tai chi"),
    ],
)
def test_split_camel(raw, words):
    assert common.split_camel(raw) == words


def test_label_maps_in_every_public_shape(tmp_path):
    csv_h = write(tmp_path / "a.csv", 'id,name\n0,"Putting something, something"\n1,b\n', True)
    csv_bare = write(tmp_path / "b.csv", "0,Putting something, something\n1,b\n")
    idx2cls = write(tmp_path / "c.json", json.dumps({"1": "b", "0": "a"}))
    cls2idx = write(tmp_path / "d.json", json.dumps({"a [x]": "0", "b": "1"}))
    class_ind = write(tmp_path / "e.txt", "1 A\n2 B\n", True)
    assert common.load_label_map(csv_h) == ["Putting something, something", "b"]
    assert common.load_label_map(csv_bare) == ["Putting something, something", "b"]
    assert common.load_label_map(idx2cls) == ["a", "b"]
    assert common.load_label_map(cls2idx) == ["a [x]", "b"]
    assert common.load_label_map(class_ind) == ["A", "B"]
    gap = write(tmp_path / "gap.csv", "id,name\n0,a\n2,c\n")
    with pytest.raises(AnnotationError, match="contiguous"):
        common.load_label_map(gap)


# -- UCF101 ------------------------------------------------------------------------------------

CLASS_IND = "1 ApplyEyeMakeup\n2 HandstandPushups\n3 YoYo\n"
TRAIN01 = (
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
    "HandstandPushups/v_HandStandPushups_g08_c01.avi 2\n"
    "YoYo/v_YoYo_g08_c01.avi 3\n"
    "YoYo/v_YoYo_g08_c02.avi 3\n"
)
TEST01 = (
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\nHandstandPushups/v_HandStandPushups_g01_c01.avi\n"
)


@pytest.fixture
def ucf(tmp_path):
    lists = tmp_path / "ucf" / "ucfTrainTestlist"
    write(lists / "classInd.txt", CLASS_IND, crlf=True)
    write(lists / "trainlist01.txt", TRAIN01, crlf=True)
    write(lists / "testlist01.txt", TEST01, crlf=True)
    for line in (TRAIN01 + TEST01).splitlines()[:-1]:  # the last test video is missing
        touch(tmp_path / "ucf" / "videos" / line.split()[0])
    return tmp_path / "ucf"


def test_ucf101_train_test_full_with_handstand_quirk(ucf):
    train = ucf101.read_ucf101(ucf, split=1, subset="train")
    assert [r.label for r in train.records] == [0, 1, 2, 2]
    assert train.class_names == ["apply eye makeup", "handstand pushups", "yo yo"]
    assert train.info["raw_class_names"] == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert train.records[1].video_id == "v_HandStandPushups_g08_c01"
    assert train.records[1].path == ucf / "videos/HandstandPushups/v_HandStandPushups_g08_c01.avi"
    assert train.problems == []  # a file name spelled differently from its folder is no problem
    test = ucf101.read_ucf101(ucf, split=1, subset="test", check_files=True)
    assert [r.label for r in test.records] == [0, 1]
    assert problem(test, "files missing").startswith("1 ")
    full = ucf101.read_ucf101(ucf, subset="full")
    assert (len(full), full.split) == (6, "full")


def test_ucf101_mp4_without_videos_folder(tmp_path):
    write(tmp_path / "classInd.txt", "1 Walk\n")
    write(tmp_path / "testlist01.txt", "Walk/v_Walk_g01_c01.mp4\n")
    touch(tmp_path / "Walk" / "v_Walk_g01_c01.mp4")
    vs = ucf101.read_ucf101(tmp_path, subset="test", check_files=True)
    assert vs.records[0].path == tmp_path / "Walk" / "v_Walk_g01_c01.mp4"
    assert vs.problems == []


def test_ucf101_reports_list_vs_classind_and_duplicates(ucf):
    bad = TRAIN01 + "YoYo/v_YoYo_g09_c01.avi 1\nYoYo/v_YoYo_g08_c01.avi 3\nYoYo/v_YoYo_g10.avi 7\n"
    write(ucf / "ucfTrainTestlist" / "trainlist02.txt", bad + "Juggle/v_Juggle_g01_c01.avi 1\n")
    vs = ucf101.read_ucf101(ucf, split=2, subset="train")
    assert "trainlist02.txt:5 id 1 is ApplyEyeMakeup but the folder is YoYo" in problem(
        vs, "disagree with classInd"
    )
    assert problem(vs, "ids outside 1..3").startswith("1 ")
    assert problem(vs, "duplicate video ids").startswith("1 ")
    assert problem(vs, "not in classInd (skipped)").startswith("1 ")
    assert vs.records[4].label == 2  # the folder wins over the id


@pytest.mark.parametrize(
    "line, reason",
    [("YoYo/v_YoYo_g01_c01.avi three", "not an integer"), ("v_YoYo.avi 3", "ClassDir")],
)
def test_ucf101_malformed_line_names_file_and_line(ucf, line, reason):
    write(ucf / "ucfTrainTestlist" / "trainlist03.txt", TRAIN01 + line + "\n", crlf=True)
    with pytest.raises(AnnotationError, match=reason) as e:
        ucf101.read_ucf101(ucf, split=3, subset="train")
    assert e.value.line == 5 and e.value.path.endswith("trainlist03.txt")


def test_ucf101_missing_root_shows_layout(tmp_path):
    with pytest.raises(MissingDatasetError, match="classInd.txt") as e:
        ucf101.read_ucf101(tmp_path / "nowhere")
    assert "ucfTrainTestlist/" in str(e.value)


def test_ucf101_inspect_finds_every_split(ucf):
    sets = ucf101.inspect([ucf])
    assert [(s.split, len(s)) for s in sets] == [("train1", 4), ("test1", 2), ("full", 6)]
    assert sets[0].summary()["classes"] == 3


# -- HMDB51 ------------------------------------------------------------------------------------


@pytest.fixture
def hmdb(tmp_path):
    splits = tmp_path / "hmdb" / "testTrainMulti_7030_splits"
    rows = {
        "kick": ["k1.avi 1 ", "k2.avi 2 ", "k3.avi 0 "],
        "kick_ball": ["b1.avi 1 ", "b2.avi 1 ", "b3.avi 2 "],
        "sword": ["s1.avi 2 ", "s2.avi 1 "],
    }
    for cls, lines in rows.items():
        write(splits / f"{cls}_test_split1.txt", "\n".join(lines) + "\n")
        for ln in lines:
            touch(tmp_path / "hmdb" / "videos" / cls / ln.split()[0])
    return tmp_path / "hmdb"


def test_hmdb51_tags_and_alphabetical_order(hmdb):
    train = hmdb51.read_hmdb51(hmdb, subset="train", check_files=True)
    assert train.class_names == ["kick", "kick ball", "sword"]
    assert sorted((r.video_id, r.label) for r in train.records) == [
        ("b1", 1),
        ("b2", 1),
        ("k1", 0),
        ("s2", 2),
    ]
    assert train.problems == [] and train.info["class_order"] == "alphabetical by class folder"
    assert train.info["tag_counts"] == {"0": 1, "1": 4, "2": 3}
    assert len(hmdb51.read_hmdb51(hmdb, subset="test")) == 3
    assert len(hmdb51.read_hmdb51(hmdb, subset="unused")) == 1
    full = hmdb51.read_hmdb51(hmdb, subset="full")
    assert (len(full), full.split) == (7, "full")
    assert full.records[0].path == hmdb / "videos" / "kick" / "k1.avi"


def test_hmdb51_label_map_sets_order_and_reports_gaps(hmdb, tmp_path):
    lm = write(tmp_path / "labels.csv", "id,name\n0,kick ball\n1,kick\n2,sword\n3,wave\n")
    vs = hmdb51.read_hmdb51(hmdb, subset="train", label_map=lm)
    assert {r.video_id: r.label for r in vs.records}["b1"] == 0
    assert {r.video_id: r.label for r in vs.records}["k1"] == 1
    assert "wave" in problem(vs, "without a split file")
    vs = hmdb51.read_hmdb51(hmdb, subset="train", label_map=["kick", "sword"])
    assert "kick_ball" in problem(vs, "not in the label map (skipped)")
    assert len(vs) == 2


def test_hmdb51_bad_tag_and_missing_videos(hmdb):
    splits = hmdb / "testTrainMulti_7030_splits"
    write(splits / "sword_test_split2.txt", "s1.avi 2 \ns2.avi 3 \n")
    write(splits / "kick_test_split2.txt", "k9.avi 2 \n")
    with pytest.raises(AnnotationError, match="tag must be") as e:
        hmdb51.read_hmdb51(hmdb, split=2)
    assert e.value.line == 2
    write(splits / "sword_test_split2.txt", "s1.avi 2 \n")
    vs = hmdb51.read_hmdb51(hmdb, split=2, check_files=True)
    assert problem(vs, "files missing").startswith("1 ")


def test_hmdb51_file_name_naming_another_class(hmdb):
    splits = hmdb / "testTrainMulti_7030_splits"
    write(splits / "kick_test_split3.txt", "Goal_kick_ball_f_cm_np1_ba_med_0.avi 2 \n")
    write(splits / "kick_ball_test_split3.txt", "Goal_kick_ball_f_cm_np1_ba_med_1.avi 2 \n")
    vs = hmdb51.read_hmdb51(hmdb, split=3)
    assert "first: kick_test_split3.txt:1" in problem(vs, "file name names another class")
    assert len(vs) == 2


def test_hmdb51_inspect(hmdb):
    sets = hmdb51.inspect([hmdb])
    assert [(s.split, len(s)) for s in sets] == [("train1", 4), ("test1", 3), ("full", 7)]


# -- Kinetics ----------------------------------------------------------------------------------


def test_kinetics_csv_and_txt_styles(tmp_path):
    labels = write(tmp_path / "labels.csv", "id,name\n0,abseiling\n1,acting in play\n")
    write(tmp_path / "val.csv", "val/abseiling/aaa.mp4,0\nval/acting_in_play/bbb.mp4,1\n")
    vs = kinetics.read_kinetics(tmp_path, subset="val")
    assert [(r.video_id, r.label) for r in vs.records] == [("aaa", 0), ("bbb", 1)]
    assert vs.info["style"].startswith("csv") and vs.problems == []
    txt = write(
        tmp_path / "v.txt", "val/aaa_000001_000011.mp4 0\r\nval/bbb_000002_000012.mp4 1\r\n"
    )
    vs = kinetics.read_kinetics_list(txt, labels)
    assert vs.info["style"].startswith("txt") and vs.split == "val"
    assert vs.records[1].path == tmp_path / "val" / "bbb_000002_000012.mp4"


def test_kinetics_reports_folder_label_mismatch_and_range(tmp_path):
    labels = write(tmp_path / "labels.csv", "id,name\n0,abseiling\n1,acting in play\n")
    lst = write(
        tmp_path / "x.csv", "val/abseiling/a.mp4,1\nval/abseiling/b.mp4,5\nval/abseiling/a.mp4,0\n"
    )
    vs = kinetics.read_kinetics_list(lst, labels)
    assert "1 'acting in play': 1 name 'abseiling'; first: x.csv:1" in problem(
        vs, "class folder names another class than the label map gives"
    )
    assert problem(vs, "labels outside 0..1").startswith("1 ")
    assert problem(vs, "duplicate video ids").startswith("1 ")
    write(lst, "val/a/a.mp4,0\nval/a/b.mp4,zero\n")
    with pytest.raises(AnnotationError, match="x.csv:2"):
        kinetics.read_kinetics_list(lst, labels)


def test_kinetics_inspect_pairs_list_with_label_map(tmp_path):
    write(tmp_path / "kinetics_400_labels.csv", "id,name\n0,a\n")
    write(tmp_path / "val.txt", "val/x_000001_000011.mp4 0\n")
    (s,) = kinetics.inspect([tmp_path])
    assert (s.name, s.split, len(s)) == ("kinetics", "val", 1)
    write(tmp_path / "sub" / "labels.csv", "id,name\n0,a\n")
    assert len(kinetics.inspect([tmp_path])) == 1  # each list takes the map in its folder
    write(tmp_path / "other" / "val2.txt", "val/y_000001_000011.mp4 0\n")
    with pytest.raises(ConfigError, match="its own label map"):
        kinetics.inspect([tmp_path])


# -- SSv2 --------------------------------------------------------------------------------------


@pytest.fixture
def ssv2_root(tmp_path):
    labels = {"Pushing something from left to right": "0", "Putting something, something": "1"}
    entries = [
        {
            "id": "10",
            "label": "pushing a cup",
            "template": "Pushing [something] from left to right",
            "placeholders": ["a cup"],
        },
        {
            "id": "11",
            "label": "putting a, b",
            "template": "Putting [something], [something]",
            "placeholders": ["a", "b"],
        },
        {"id": "12", "label": "x", "template": "Spinning [something]", "placeholders": ["x"]},
    ]
    write(tmp_path / "labels" / "something-something-v2-labels.json", json.dumps(labels))
    write(tmp_path / "labels" / "something-something-v2-validation.json", json.dumps(entries))
    return tmp_path


def test_ssv2_brackets_removed_and_unknown_template_reported(ssv2_root):
    vs = ssv2.read_ssv2(ssv2_root, subset="validation")
    assert vs.class_names == [
        "Pushing something from left to right",
        "Putting something, something",
    ]
    assert [(r.video_id, r.label) for r in vs.records] == [("10", 0), ("11", 1)]
    assert vs.records[0].path == ssv2_root / "10.webm"
    assert "Spinning [something]" in problem(vs, "template has no label (skipped)")


def test_ssv2_malformed_entry_and_inspect(ssv2_root):
    (s,) = ssv2.inspect([ssv2_root])
    assert (s.split, len(s)) == ("validation", 2)
    (v,) = ssv2.inspect([ssv2_root / "labels" / "something-something-v2-labels.json"])
    assert (v.split, len(v), v.num_classes) == ("labels", 0, 2)
    write(ssv2_root / "labels" / "something-something-v2-train.json", '[{"label": "x"}]')
    with pytest.raises(AnnotationError, match="entry 0 lacks 'id'"):
        ssv2.read_ssv2(ssv2_root, subset="train")


# -- base-to-novel -----------------------------------------------------------------------------


@pytest.fixture
def vifi(tmp_path):
    labels = tmp_path / "vifi" / "labels"
    write(labels / "ucf_101_labels.csv", "id,name\n0,ApplyEyeMakeup\n1,Biking\n2,Typing\n3,YoYo\n")
    write(labels / "ucf_101_base_labels.csv", "id,name\n0,Typing\n1,Biking\n", crlf=True)
    write(labels / "ucf_101_novel_labels.csv", "id,name\n0,YoYo\n1,ApplyEyeMakeup\n", crlf=True)
    splits = tmp_path / "vifi" / "datasets_splits" / "base2novel_splits" / "ucf_splits"
    shots = [f"v_Typing_g{i:02d}_c01.avi 0" for i in range(16)]
    shots += [f"v_Biking_g{i:02d}_c01.avi 1" for i in range(16)]
    write(splits / "fs_base_s1_train.txt", "\n".join(shots) + "\n")
    write(splits / "fs_base_s2_train.txt", "\n".join(shots[:-1]) + "\n")
    write(splits / "novel_val.txt", "v_YoYo_g01_c01.avi 0\nv_ApplyEyeMakeup_g01_c01.avi 1\n")
    write(splits / "base_val.txt", "v_Typing_g01_c01.avi 0\nv_Biking_g01_c01.avi 1\n")
    touch(tmp_path / "ucfvideos" / "YoYo" / "v_YoYo_g01_c01.avi")
    return tmp_path / "vifi"


def test_b2n_local_labels_and_class_folder_layout(vifi, tmp_path):
    nv = b2n.read_b2n(vifi, dataset="ucf", subset="novel_val", video_root=tmp_path / "ucfvideos")
    assert [(r.video_id, r.label) for r in nv.records] == [
        ("v_YoYo_g01_c01", 0),
        ("v_ApplyEyeMakeup_g01_c01", 1),
    ]
    assert nv.class_names == ["yo yo", "apply eye makeup"]
    assert nv.records[0].path == tmp_path / "ucfvideos" / "YoYo" / "v_YoYo_g01_c01.avi"
    assert nv.info["half"] == "novel"
    assert nv.problems == ["1 novel class lists of another size than published (first: 2 vs 50)"]
    fs = b2n.read_b2n(vifi, dataset="ucf", subset="fewshot", shot_split=1)
    assert (len(fs), fs.num_classes) == (32, 2)
    assert not [p for p in fs.problems if "shots" in p or "half" in p]


def test_b2n_reports_shots_overlap_and_coverage(vifi):
    fs2 = b2n.read_b2n(vifi, dataset="ucf", subset="fewshot", shot_split=2)
    assert "Biking: 15" in problem(fs2, "without exactly 16 shots")
    labels = vifi / "labels"
    write(labels / "ucf_101_novel_labels.csv", "id,name\n0,YoYo\n1,Typing\n")
    vs = b2n.read_b2n(vifi, dataset="ucf", subset="base_val")
    assert "typing" in problem(vs, "classes in both halves")
    assert "applyeyemakeup" in problem(vs, "in neither half")


def test_b2n_hmdb_labels_checked_against_file_names(tmp_path):
    labels = tmp_path / "labels"
    write(labels / "hmdb_51_base_labels.csv", "id,name\n0,sword exercise\n1,sword\n")
    split = tmp_path / "hmdb_splits" / "base_val.txt"
    write(
        split, "Duel_sword_f_cm_np2_fr_bad_2.avi 0\nDrill_sword_exercise_u_nm_np1_fr_med_0.avi 0\n"
    )
    vs = b2n.read_b2n_file(
        split, labels / "hmdb_51_base_labels.csv", dataset="hmdb", video_root=tmp_path, shots=16
    )
    assert "0 'sword exercise': 1 name 'sword'; first: base_val.txt:1" in problem(
        vs, "file name names another class than the label map gives their label"
    )
    assert problem(vs, "names another class").startswith("1 ")


def test_b2n_inspect(vifi):
    with pytest.raises(ConfigError, match="known: k400"):
        b2n.read_b2n(vifi, dataset="ucf101")
    sets = b2n.inspect([vifi])
    assert sorted((s.split, len(s)) for s in sets) == [
        ("base_val", 2),
        ("fs_base_s1_train", 32),
        ("fs_base_s2_train", 31),
        ("novel_val", 2),
    ]


def _counts_set(counts: list[int]) -> VideoSet:
    recs = [VideoRecord(f"v{c}_{i}", Path("x"), c) for c, n in enumerate(counts) for i in range(n)]
    return VideoSet("t", "train", recs, [f"c{i}" for i in range(len(counts))], Path("."))


def test_most_frequent_half_breaks_ties_by_class_index():
    vs = _counts_set([5, 9, 3, 3, 3])  # classes 2, 3, 4 tie for the last base place
    assert b2n.most_frequent_half(vs) == ([0, 1, 4], [2, 3])
    a = b2n.most_frequent_half(vs, seed=7)
    assert a == b2n.most_frequent_half(vs, seed=7)
    assert a[0][:2] == [0, 1] and len(a[0]) == 3


def test_sample_shots_is_deterministic_and_relabels():
    vs = _counts_set([20, 20, 3])
    a = b2n.sample_shots(vs, [1, 0, 2], shots=4, seed=3)
    b = b2n.sample_shots(vs, [1, 0, 2], shots=4, seed=3)
    assert [r.video_id for r in a.records] == [r.video_id for r in b.records]
    assert a.class_names == ["c1", "c0", "c2"]
    assert {r.label for r in a.records if r.video_id.startswith("v1_")} == {0}
    assert len(a) == 4 + 4 + 3 and "2: 3" in problem(a, "fewer than 4 videos")
    c = b2n.sample_shots(vs, [1, 0, 2], shots=4, seed=4)
    assert [r.video_id for r in a.records] != [r.video_id for r in c.records]


# -- K600 --------------------------------------------------------------------------------------


@pytest.fixture
def k600_tree(tmp_path):
    d = tmp_path / "ovc" / "k600_split1"
    write(d / "k600-openset-index2cls.json", json.dumps({"0": "acting in play", "1": "arguing"}))
    body = "val/acting_in_play/a_000001_000011.mp4,0\nval/arguing/b_000001_000011.mp4,1\n"
    write(d / "test.csv", body)
    write(d / "val.csv", body)  # byte-identical copy, as in the public repo
    vifi = tmp_path / "vifi"
    write(vifi / "labels" / "ZS_split1_K600.csv", "id,name\n0,acting in play\n1,arguing\n")
    write(
        vifi / "k600_splits" / "ZS_split1_K600_eval.txt",
        "train/a_000001_000011.mp4 0\ntest/c_000001_000011.mp4 1\nval/b_000001_000011.mp4 1\n",
    )
    return tmp_path


def test_k600_records_which_video_list(k600_tree):
    d = k600_tree / "ovc" / "k600_split1"
    vs = k600.read_k600(d / "test.csv", d / "k600-openset-index2cls.json", split=1, num_classes=2)
    assert (len(vs), vs.split, vs.problems) == (2, "split1", [])
    assert vs.info["video_list_kind"] == "K600 val only"
    assert vs.info["video_list"].endswith("test.csv")
    v = k600_tree / "vifi"
    mixed = k600.read_k600(
        v / "k600_splits/ZS_split1_K600_eval.txt", v / "labels/ZS_split1_K600.csv", split=1
    )
    assert mixed.info["video_sources"] == {"test": 1, "train": 1, "val": 1}
    assert mixed.info["video_list_kind"].startswith("mixed")
    assert "2" in problem(mixed, "without 160 classes")


def test_k600_index_lists_into_vocabulary_and_k400_overlap(tmp_path):
    vocab = write(
        tmp_path / "classes620_label_defn.json", json.dumps([{"word": w} for w in "abcde"])
    )
    idx = write(tmp_path / "tst_class_idxs.json", json.dumps([[3, 4], [0, 4], [1, 2]]))
    assert k600.read_split_classes(idx, split=2, vocabulary=vocab) == ["a", "e"]
    lst = write(tmp_path / "split2.txt", "val/x_000001_000011.mp4 1\n")
    k400 = write(tmp_path / "k400.csv", "id,name\n0,a\n")
    vs = k600.read_k600(lst, idx, split=2, vocabulary=vocab, k400_labels=k400, num_classes=2)
    assert "a" in problem(vs, "split classes that are K400 classes")


def test_k600_inspect_dedupes_copies_and_compares_class_lists(k600_tree):
    sets = k600.inspect([k600_tree / "ovc"])
    assert len(sets) == 1 and len(sets[0]) == 2
    write(k600_tree / "ovc" / "k600_split1_classes.json", json.dumps({"0": "arguing", "1": "x"}))
    (s,) = k600.inspect([k600_tree / "ovc"])
    assert problem(s, "different class lists for split 1")


# -- SCUBA -------------------------------------------------------------------------------------


def test_scuba_ucf_style_frames_meta_and_template_from_disk(tmp_path):
    lst = write(
        tmp_path / "place365" / "testlist01.txt", "v_Walk_g01_c01__3 16 1\nv_Run_g02_c01__0 8 0\n"
    )
    touch(tmp_path / "place365" / "frames" / "v_Walk_g01_c01__3" / "frame000001.jpg")
    vs = scuba.read_scuba(lst, class_names=["run", "walk"], check_files=True)
    r = vs.records[0]
    assert (r.video_id, r.label, r.num_frames) == ("v_Walk_g01_c01__3", 1, 16)
    assert r.meta == {"source_video": "v_Walk_g01_c01", "background": 3, "variant": "places365"}
    assert r.path == tmp_path / "place365" / "frames" / "v_Walk_g01_c01__3"
    assert vs.is_frames and vs.frame_template == "frame{:06d}.jpg"
    assert vs.info["frame_template_source"] == "frame 1 found on disk"
    assert problem(vs, "files missing").startswith("1 ")


def test_scuba_k400_style_and_placeholders(tmp_path):
    lst = write(tmp_path / "k400_scuba_vqgan.txt", "abseiling/-abc_000001_000011__0 300 0\n")
    vs = scuba.read_scuba(lst)
    assert vs.frame_template == "{:06d}.jpg" and vs.info["variant"] == "vqgan-clip"
    assert vs.class_names == ["class 0"] and "placeholders" in vs.info["class_names"]
    assert vs.records[0].meta["source_video"] == "-abc_000001_000011"


def test_scuba_variant_choice_and_malformed(tmp_path):
    write(tmp_path / "stripe" / "list.txt", "v_A_g01_c01__1 4 0\n")
    write(tmp_path / "place365" / "list.txt", "v_A_g01_c01__2 4 0\n")
    vs = scuba.read_scuba_variant(tmp_path, variant="stripes", class_names=["a"])
    assert vs.records[0].meta["background"] == 1 and vs.split == "stripes"
    assert len(scuba.inspect([tmp_path])) == 2
    with pytest.raises(ConfigError):
        scuba.read_scuba_variant(tmp_path, variant="imagenet")
    bad = write(tmp_path / "bad.txt", "v_A_g01_c01__1 4 0\nv_A_g01_c01 4 0\n")
    with pytest.raises(AnnotationError, match="__<k>") as e:
        scuba.read_scuba(bad)
    assert e.value.line == 2


# -- HAT ---------------------------------------------------------------------------------------

PAIRS = {
    "archery/v1": ["bowling/v9", 120, 1],
    "bowling/v2": ["archery/v3", 90, 0],
}


def test_hat_pairs_from_pickle_and_json(tmp_path):
    root = tmp_path / "hat"
    pkl = root / "actionswap_far_2.pickle"
    pkl.parent.mkdir(parents=True)
    pkl.write_bytes(pickle.dumps(PAIRS))
    write(root / "k_val_list_rawframes.txt", "archery/v1 150 0\nbowling/v2 99 0\n")
    vs = hat.read_hat(
        pkl,
        root=root,
        class_names=["archery", "bowling"],
        video_list=root / "k_val_list_rawframes.txt",
    )
    r = vs.records[0]
    assert (r.video_id, r.label, r.num_frames, r.path) == ("v1", 0, 150, root / "ori/archery/v1")
    assert r.meta["bg_video"] == "bowling/v9" and r.meta["bg_num_frames"] == 120
    assert r.meta["bg_label"] == 1 and r.meta["bg_path"] == root / "inp/bowling/v9"
    assert (vs.info["swap"], vs.info["repeat"], vs.frame_template) == ("Far", 2, "{:06d}.jpg")
    assert "bowling/v2" in problem(vs, "video-list labels that disagree")
    js = write(root / "actionswap_close_1.json", json.dumps(PAIRS))
    assert [r.label for r in hat.read_hat(js, root=root).records] == [0, 1]


def test_hat_reports_bad_pairs_and_missing_folders(tmp_path):
    pairs = {"archery/v1": ["archery/v1", 10, 0], "bowling/v2": ["archery/v3", 0, 1]}
    js = write(tmp_path / "actionswap_same_1.json", json.dumps(pairs))
    touch(tmp_path / "ori" / "archery" / "v1" / "000001.jpg")
    vs = hat.read_hat(js, root=tmp_path, class_names=["archery", "bowling"], check_files=True)
    assert problem(vs, "swap a video with itself")
    assert problem(vs, "backgrounds with no frames")
    assert "archery/v3 -> 1" in problem(vs, "background class indices that disagree")
    assert problem(vs, "Same pairs with different classes")
    assert problem(vs, "files missing").startswith("1 ")
    assert problem(vs, "bg_path folders missing").startswith("2 ")


def test_hat_refuses_pickled_objects_and_bad_shapes(tmp_path):
    evil = tmp_path / "actionswap_rand_1.pickle"
    evil.write_bytes(pickle.dumps(OrderedDict(PAIRS)))
    with pytest.raises(AnnotationError, match="refusing"):
        hat.load_pairs(evil)
    bad = write(tmp_path / "actionswap_rand_2.json", json.dumps({"a/v": ["b/w", "ten", 1]}))
    with pytest.raises(AnnotationError, match="entry 'a/v'"):
        hat.load_pairs(bad)


def test_hat_inspect_recovers_class_names_from_all_pair_files(tmp_path):
    write(tmp_path / "actionswap_close_1.json", json.dumps({"archery/v1": ["bowling/v9", 5, 1]}))
    write(tmp_path / "actionswap_rand_1.json", json.dumps({"bowling/v2": ["archery/v3", 5, 0]}))
    sets = hat.inspect([tmp_path])
    assert [s.split for s in sets] == ["close_1", "rand_1"]
    assert sets[0].class_names == ["archery", "bowling"] and sets[0].problems == []
