"""Kinetics-600 cross-dataset splits: 3 splits of 160 of the 220 classes new w.r.t. K400.

The class list of a split is supplied by the user and is authoritative (a naive K600 - K400
name difference gives 232 classes because of renamed classes). Supported shapes: json
``{"0": name}`` or ``{name: 0}`` (FROSTER ``k600_split{n}_classes.json``, Open-VCLIP
``k600_split{n}/k600-openset-index2cls.json``), csv ``id,name`` (ViFi-CLIP
``ZS_split{n}_K600.csv``), and Open-VCLIP's ``tst_class_idxs.json`` (three index lists into
the 620-word ``classes620_label_defn.json``). The public repos evaluate different videos —
K600 val only (~7.3k per split, Open-VCLIP csv) or a mixed train/val/test list (~14k,
ViFi-CLIP txt) — so ``info`` records which list was used and where its videos come from.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from biasbench.data.readers.common import (
    Problems,
    finish,
    first_dir,
    gather,
    load_label_map,
    norm_name,
    read_json,
    require,
)
from biasbench.data.readers.kinetics import (
    STYLES,
    check_entry_classes,
    entries_to_records,
    is_video_list,
    parse_list,
    video_sources,
)
from biasbench.data.videoset import VideoSet
from biasbench.errors import AnnotationError

LAYOUT = """\
<root>/
  <split classes>       per split n = 1, 2, 3: the 160 class names, one of
                        k600_split{n}_classes.json {"0": name}, ZS_split{n}_K600.csv "id,name",
                        or tst_class_idxs.json + classes620_label_defn.json
  <split video list>    per split: "val/<class_dir>/<ytid>.mp4,<id>" (K600 val only) or
                        "{train,val,test}/<ytid>_<s6>_<e6>.mp4 <id>" (mixed list); ids local 0..159
  val/..., train/...    the K600 videos, at the paths the list names (or under <root>/videos/)
"""

CLASSES_PER_SPLIT = 160
_SPLIT_NO = re.compile(r"split[_-]?([123])", re.IGNORECASE)


def split_number(path: Path) -> int | None:
    """The split 1/2/3 named by a file or its folder (``..._split2_...``, ``k600_split2/``)."""
    for part in (path.name, path.parent.name):
        if m := _SPLIT_NO.search(part):
            return int(m.group(1))
    return None


def read_split_classes(
    path: Path, *, split: int | None = None, vocabulary: Path | None = None
) -> list[str]:
    """The class names of one split from any supported class-list shape."""
    path = Path(path)
    data = read_json(path) if path.suffix == ".json" else None
    if isinstance(data, list) and data and all(isinstance(x, list) for x in data):
        if split is None or vocabulary is None:
            raise AnnotationError(path, None, "index lists need split= and vocabulary=")
        words = [
            e.get("word", "") if isinstance(e, dict) else str(e) for e in read_json(vocabulary)
        ]
        if not 1 <= split <= len(data):
            raise AnnotationError(path, None, f"has {len(data)} index lists, no split {split}")
        idx = data[split - 1]
        bad = [i for i in idx if not isinstance(i, int) or not 0 <= i < len(words)]
        if bad:
            raise AnnotationError(path, None, f"indices outside the vocabulary: {bad[:5]}")
        return [words[i] for i in idx]
    return load_label_map(path)


def read_k600(
    list_file: Path,
    class_file: Path,
    *,
    split: int,
    root: Path | None = None,
    vocabulary: Path | None = None,
    k400_labels: Path | None = None,
    num_classes: int | None = CLASSES_PER_SPLIT,
    check_files: bool = False,
) -> VideoSet:
    """One K600 novel-class split: its video list read against its own class list. With
    ``k400_labels`` the split's classes are checked to be new w.r.t. K400; a class list whose
    size is not ``num_classes`` (None: any) is reported."""
    list_file, class_file = Path(list_file), Path(class_file)
    root = Path(root) if root else list_file.parent
    require("k600", root, LAYOUT, {list_file.name: list_file, class_file.name: class_file})
    class_names = read_split_classes(class_file, split=split, vocabulary=vocabulary)
    problems = Problems()
    if num_classes is not None and len(class_names) != num_classes:
        problems.add(f"class lists without {num_classes} classes", f"{len(class_names)}")
    if k400_labels is not None:
        k400 = {norm_name(n) for n in load_label_map(k400_labels)}
        for n in class_names:
            if norm_name(n) in k400:
                problems.add("split classes that are K400 classes", n)
    entries, sep = parse_list(list_file)
    check = check_entry_classes(entries, class_names, problems)
    records, videos_dir = entries_to_records(entries, root)
    sources = video_sources(entries)
    kind = "K600 val only" if set(sources) == {"val"} else "mixed list (" + "/".join(sources) + ")"
    vs = VideoSet(
        name="k600",
        split=f"split{split}",
        records=records,
        class_names=class_names,
        root=root,
        info={
            "format": "k600",
            "video_list": str(list_file),
            "video_list_kind": kind,
            "video_sources": sources,
            "style": STYLES[sep],
            "class_file": str(class_file),
            "videos_dir": videos_dir,
            "path_classes": check.summary(),
        },
    )
    return finish(vs, problems, check_files)


def _is_class_list(p: Path) -> bool:
    n = p.name.lower()
    if "rephrase" in n or p.suffix not in (".json", ".csv") or is_video_list(p):
        return False
    return n == "tst_class_idxs.json" or (
        split_number(p) is not None and ("class" in n or "k600" in n or "index2cls" in n)
    )


def _digest(p: Path) -> str:
    return hashlib.sha1(p.read_bytes()).hexdigest()


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Each split's video lists (byte-identical copies read once), against the split's class
    list; class lists of one split that disagree are reported."""
    paths = [Path(p) for p in paths]
    lists = [p for p in gather(paths, is_video_list) if split_number(p)]
    class_files = gather(paths, _is_class_list)
    vocab = next(iter(gather(paths, lambda p: p.name == "classes620_label_defn.json")), None)
    k400 = next((p for p in paths if p.is_file() and len(_names(p)) == 400), None)
    root = first_dir(paths)
    require(
        "k600",
        root or Path("."),
        LAYOUT,
        {
            "<split video list>": lists[0] if lists else None,
            "<split classes>": class_files[0] if class_files else None,
        },
    )
    sets, seen = [], set()
    for lst in lists:
        n = split_number(lst)
        assert n is not None
        if (key := (n, _digest(lst))) in seen:
            continue
        seen.add(key)
        candidates = _split_class_files(class_files, n, vocab)
        if not candidates:
            require("k600", root or lst.parent, LAYOUT, {f"classes of split {n}": None})
        own = next((c for c in candidates if c.parent == lst.parent), candidates[0])
        vs = read_k600(lst, own, split=n, root=root, vocabulary=vocab, k400_labels=k400)
        variants = {tuple(read_split_classes(c, split=n, vocabulary=vocab)) for c in candidates}
        if len(variants) > 1:
            vs.problems.append(f"{len(variants)} different class lists for split {n}")
        vs.info["class_files_compared"] = [str(c) for c in candidates]
        sets.append(vs)
    return sets


def _split_class_files(files: list[Path], n: int, vocab: Path | None) -> list[Path]:
    by_name = [f for f in files if split_number(f) == n]
    shared = [f for f in files if f.name == "tst_class_idxs.json" and vocab is not None]
    return by_name + shared


def _names(p: Path) -> list[str]:
    try:
        return load_label_map(p) if p.suffix in (".csv", ".json") else []
    except AnnotationError:
        return []
