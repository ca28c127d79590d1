"""The protocol contract across the registry, the out-of-context base, and SCUBA's sources.

Every registered protocol declares how it is reported; the five out-of-context protocols share
one base; protocol modules share code only through the non-protocol modules; and a SCUBA
benchmark's background sources (tiny trees in the StillMix list format, no frames decoded) are
pooled into one OC set and scored alone and together.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from biasbench.datactx import DataContext
from biasbench.errors import MissingDatasetError
from biasbench.plugins import PROTOCOLS
from biasbench.protocol import ReportSpec
from biasbench.results import SetResult

FAMILIES = {"b2n", "xd", "ooc", "closed", "hat"}
OOC_PROTOCOLS = ("ucf-scuba", "hmdb-scuba", "k400-scuba", "synth-scuba", "synth-closed")
CLASSES = ["ApplyEyeMakeup", "Archery"]
PLACES = "replacebackground_with_box_for_UCF101_test_place365"  # StillMix's folder names
VQGAN = "replacebackground_with_box_for_UCF101_test_vqgan"


# -- the registry contract -----------------------------------------------------------------------


@pytest.mark.parametrize("name", [e.name for e in PROTOCOLS])
def test_every_protocol_declares_how_it_is_reported(name):
    cls = PROTOCOLS.get(name)
    spec = cls.report
    assert isinstance(spec, ReportSpec) and spec.family in FAMILIES
    assert spec.dataset and spec.metric_order
    assert all(isinstance(m, str) and m for m in spec.metric_order)
    assert len(set(spec.metric_order)) == len(spec.metric_order)
    assert json.loads(json.dumps(spec.to_dict()))["metric_order"] == list(spec.metric_order)
    assert (spec.dataset == "World") == cls.embedded


@pytest.mark.parametrize(
    "name, family, dataset, headline",
    [
        ("b2n-ssv2", "b2n", "SSv2", "base_top1"),
        ("xd-hmdb-full", "xd", "HMDB*", "top1"),
        ("xd-k600", "xd", "K600", "top1"),
        ("ucf-scuba", "ooc", "UCF", "ic_top1"),
        ("k400-scuba", "closed", "K400", "ic_top1"),
        ("synth-closed", "closed", "World", "ic_top1"),
        ("ucf-hat", "hat", "UCF", "close_top1"),
    ],
)
def test_report_specs_keep_todays_tables(name, family, dataset, headline):
    spec = PROTOCOLS.get(name).report
    assert (spec.family, spec.dataset, spec.metric_order[0]) == (family, dataset, headline)


def test_scuba_protocols_order_every_source_after_the_pooled_metrics():
    order = PROTOCOLS.get("hmdb-scuba").report.metric_order
    pooled = ("ic_top1", "ic_top5", "oc_top1", "oc_top5", "hm_top1", "scufo_top1", "contrasted")
    assert order[:7] == pooled
    for source in ("places365", "vqgan", "stripes"):
        assert {f"oc_{source}_top1", f"scufo_{source}_top1", f"contrasted_{source}"} <= set(order)


def test_the_five_out_of_context_protocols_share_one_base():
    from biasbench.protocols.ooc import OutOfContextProtocol

    for name in OOC_PROTOCOLS:
        cls = PROTOCOLS.get(name)
        assert issubclass(cls, OutOfContextProtocol), name
        owned = {m for c in cls.__mro__[: cls.__mro__.index(OutOfContextProtocol)] for m in vars(c)}
        assert not owned & {"episodes", "aggregate"}, f"{name} assembles its own episodes"
        assert "scufo" in {f.name for f in cls.Settings.__dataclass_fields__.values()}


def _imported_protocol_modules(path: Path) -> set[str]:
    """Modules of ``biasbench.protocols`` a source file imports (absolute or relative)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = node.module.split(".")[0] if node.module else None
            names = [f"biasbench.protocols.{base or a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "biasbench.protocols":
            names = [f"biasbench.protocols.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        found |= {n.split(".")[2] for n in names if n.startswith("biasbench.protocols.")}
    return found


def test_protocol_modules_import_shared_modules_only():
    import biasbench.protocols

    folder = Path(biasbench.protocols.__file__).parent
    protocol_modules = {e.target.split(":")[0].rsplit(".", 1)[1] for e in PROTOCOLS}
    assert {"ooc", "sources"}.isdisjoint(protocol_modules)
    for path in sorted(folder.glob("*.py")):
        siblings = _imported_protocol_modules(path) - {path.stem}
        assert not siblings & protocol_modules, f"{path.name} imports {siblings & protocol_modules}"
    assert _imported_protocol_modules(folder / "k400_scuba.py") == {"ooc"}


# -- SCUBA background sources on tiny trees -----------------------------------------------------


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _scuba_list(list_file: Path, frames: Path, videos: int = 2, backgrounds: int = 2) -> None:
    """A StillMix list (``<video>__<k> <num_frames> <label>``) and its (empty) frame folders."""
    lines = []
    for label, name in enumerate(CLASSES):
        for g in range(1, videos + 1):
            for k in range(backgrounds):
                folder = f"v_{name}_g{g:02d}_c01__{k}"
                (frames / folder).mkdir(parents=True, exist_ok=True)
                lines.append(f"{folder} 16 {label}\n")
    _write(list_file, "".join(lines))


@pytest.fixture
def trees(tmp_path) -> Path:
    """UCF101 lists (IC) and a UCF-SCUBA root holding the Places365 source (list and frame
    folders side by side, found by the folder's name)."""
    lists = tmp_path / "UCF101" / "ucfTrainTestlist"
    _write(lists / "classInd.txt", "".join(f"{i + 1} {n}\n" for i, n in enumerate(CLASSES)))
    test = [f"{n}/v_{n}_g{g:02d}_c01.avi\n" for n in CLASSES for g in (1, 2)]
    _write(lists / "testlist01.txt", "".join(test))
    _write(lists / "trainlist01.txt", "".join(t.replace("g0", "g1") for t in test))
    places = tmp_path / "UCF-SCUBA" / PLACES
    _scuba_list(places / "testlist01.txt", places)
    return tmp_path


def _with_vqgan(root: Path) -> dict:
    """The VQGAN-CLIP source as StillMix lays it out: list and frames in separate trees,
    named by ``vqgan_list`` / ``vqgan_frames``."""
    rel_list = f"lists_generated/v1/{VQGAN}/101classes/testlist01.txt"
    rel_frames = f"{VQGAN}/generated_videos"
    _scuba_list(root / "UCF-SCUBA" / rel_list, root / "UCF-SCUBA" / rel_frames)
    return {"vqgan_list": rel_list, "vqgan_frames": rel_frames}


def _episodes(root: Path, scuba: dict | None = None, **settings):
    cls = PROTOCOLS.get("ucf-scuba")
    data = DataContext(root, {"ucf_scuba": scuba or {}}, progress=False)
    protocol = cls(cls.Settings(**settings))
    (episode,) = protocol.episodes(data, with_train=False)
    return protocol, episode


def _result(req, right: dict[str, bool]) -> SetResult:
    """Scores putting every video's top-1 on its label when ``right[source]``, else elsewhere."""
    recs = req.videoset.records
    k = len(req.videoset.class_names)
    labels = np.asarray([r.label for r in recs])
    hit = np.asarray([right[r.video_id.split("/")[0]] for r in recs])
    scores = np.eye(k, dtype=np.float32)[np.where(hit, labels, (labels + 1) % k)]
    return SetResult(req.key, [r.video_id for r in recs], labels, scores, req.videoset.class_names)


def _ic_result(req) -> SetResult:
    recs = req.videoset.records
    labels = np.asarray([r.label for r in recs])
    scores = np.eye(len(req.videoset.class_names), dtype=np.float32)[labels]
    return SetResult(req.key, [r.video_id for r in recs], labels, scores, req.videoset.class_names)


def test_scuba_sources_are_pooled_and_scored_alone_and_together(trees):
    protocol, episode = _episodes(trees, _with_vqgan(trees))
    evals = {r.key: r for r in episode.evals}
    assert list(evals) == ["ic", "oc", "scufo"] and evals["scufo"].repeat_one_frame
    oc = evals["oc"].videoset
    assert oc is evals["scufo"].videoset and len(oc) == 16 and oc.frame_template.startswith("frame")
    assert oc.info["sources"] == ["places365", "vqgan"] and oc.info["sources_absent"] == ["stripes"]
    assert oc.info["videos_per_source"] == {"places365": 8, "vqgan": 8}
    assert oc.info["lists"]["vqgan"].endswith("101classes/testlist01.txt")
    assert oc.info["lists_found_by"] == {
        "places365": "its name or folder names the source",
        "vqgan": "data.ucf_scuba.vqgan_list",
    }
    by_id = {r.video_id: r for r in oc.records}
    assert by_id["places365/v_Archery_g02_c01__1"].path.parent.name == PLACES
    assert by_id["vqgan/v_Archery_g02_c01__1"].path.parent.name == "generated_videos"
    assert by_id["vqgan/v_Archery_g02_c01__1"].label == 1

    results = {
        "ic": _ic_result(evals["ic"]),
        "oc": _result(evals["oc"], {"places365": True, "vqgan": False}),
        "scufo": _result(evals["scufo"], {"places365": False, "vqgan": True}),
    }
    m = {x.name: x for x in protocol.aggregate({"main": results})}
    assert m["ic_top1"].value == 100 and m["ic_top1"].n == 4
    assert (m["oc_top1"].value, m["oc_top1"].n) == (50, 16)
    assert (m["oc_places365_top1"].value, m["oc_places365_top1"].n) == (100, 8)
    assert (m["oc_vqgan_top1"].value, m["oc_vqgan_top1"].n) == (0, 8)
    assert m["hm_places365_top1"].value == 100 and m["hm_vqgan_top1"].value == 0
    assert m["hm_top1"].value == pytest.approx(2 * 100 * 50 / 150)
    assert m["scufo_places365_top1"].value == 0 and m["scufo_vqgan_top1"].value == 100
    assert not m["scufo_vqgan_top1"].higher_is_better
    assert (m["contrasted_places365"].value, m["contrasted_places365"].n) == (100, 8)
    assert m["contrasted_vqgan"].value == 0 and (m["contrasted"].value, m["contrasted"].n) == (
        50,
        16,
    )
    assert not any("stripes" in name for name in m)
    assert [x for x in PROTOCOLS.get("ucf-scuba").report.metric_order if x in m] == list(m)


def test_an_absent_source_is_skipped_and_recorded(trees):
    protocol, episode = _episodes(trees)
    oc = episode.evals[1].videoset
    assert oc.info["sources"] == ["places365"]
    assert oc.info["sources_absent"] == ["vqgan", "stripes"]
    assert all(r.video_id.startswith("places365/") for r in oc.records)
    results = {r.key: _result(r, {"places365": True}) for r in episode.evals[1:]}
    results["ic"] = _ic_result(episode.evals[0])
    names = [x.name for x in protocol.aggregate({"main": results})]
    # one source alone: its numbers are the pooled ones, so no per-source rows repeat them
    assert "oc_top1" in names and not any("places365" in n or "vqgan" in n for n in names)


def test_the_sources_setting_selects_and_a_selected_absent_source_fails(trees):
    scuba = _with_vqgan(trees)
    _, episode = _episodes(trees, scuba, sources=("VQGAN-CLIP",))
    oc = episode.evals[1].videoset
    assert oc.info["sources"] == ["vqgan"] and oc.info["sources_absent"] == []
    with pytest.raises(MissingDatasetError, match="stripes") as err:
        _episodes(trees, scuba, sources=("places365", "sinusoid"))
    assert "expected layout" in str(err.value) and "stripes_list" in str(err.value)


def test_a_single_list_naming_no_source_is_places365(trees, tmp_path):
    single = tmp_path / "single-scuba"
    _scuba_list(single / "ucf_scuba.txt", single / "frames")  # the embedded world's layout
    _, episode = _episodes(trees, {"root": str(single)})
    oc = episode.evals[1].videoset
    assert oc.info["sources"] == ["places365"] and len(oc) == 8
    assert "naming no source" in oc.info["lists_found_by"]["places365"]
    assert oc.records[0].path.parent == single / "frames"


def test_no_source_at_all_shows_the_layout(trees, tmp_path):
    empty = tmp_path / "empty-scuba"
    empty.mkdir()
    with pytest.raises(MissingDatasetError) as err:
        _episodes(trees, {"root": str(empty)})
    text = str(err.value)
    assert "expected layout" in text and "(place365 | vqgan | stripe)" in text
    assert all(s in text for s in ("places365", "vqgan", "stripes"))


def test_the_embedded_world_keeps_one_unnamed_source(small_world):
    from biasbench.protocols.ooc import split_by_source

    cls = PROTOCOLS.get("synth-scuba")
    (episode,) = cls().episodes(DataContext(world_overrides={"preset": "small"}), False)
    oc = episode.evals[1].videoset
    assert "/" not in oc.records[0].video_id and "sources" not in oc.info
    res = _ic_result(episode.evals[1])
    assert split_by_source(res) == {}


def test_a_group_with_no_scored_video_gets_no_metric():
    """Pinned by hand: 3 videos, 2 right; a group of the two right ones scores 100, a group of
    the wrong one 0, and a group naming only unscored videos is left out (not 0 or NaN)."""
    from biasbench.protocols.ooc import VideoGroup, group_metrics

    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
    res = SetResult("ic", ["a", "b", "c"], np.array([0, 1, 1]), scores, CLASSES)
    groups = {
        "home": VideoGroup(frozenset({"a", "b"}), "right ones"),
        "away": VideoGroup(frozenset({"c"}), "wrong one"),
        "none": VideoGroup(frozenset({"x"}), "never scored"),
    }
    got = {m.name: (m.value, m.n, m.note) for m in group_metrics(res, groups)}
    assert got == {
        "ic_home_top1": (100.0, 2, "right ones"),
        "ic_away_top1": (0.0, 1, "wrong one"),
    }


def test_only_the_embedded_world_knows_home_scenes():
    for name in OOC_PROTOCOLS:
        order = PROTOCOLS.get(name).report.metric_order
        world = PROTOCOLS.get(name).embedded
        assert ("ic_away_top1" in order) == world, name
