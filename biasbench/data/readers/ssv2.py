"""Something-Something v2 official json annotations.

``labels.json`` maps each template to its index (``{"<template>": "<index>"}``, 174 classes);
``train.json`` / ``validation.json`` are lists of ``{"id", "label", "template",
"placeholders"}``. An entry's class is its template with the brackets removed ("Pushing
[something] from left to right" -> "Pushing something from left to right"), looked up in the
labels file; entries whose template has no label are reported and skipped. Videos are
``<id>.webm``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from biasbench.data.readers.common import (
    Problems,
    finish,
    first_dir,
    gather,
    load_label_map,
    locate_videos,
    read_json,
    require,
)
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import AnnotationError

LAYOUT = """\
<root>/
  labels/                 the official json files (or directly in <root>/)
    labels.json           {"<template>": "<index>"}, 174 (something-something-v2-labels.json)
    train.json            [{"id", "label", "template", "placeholders"}, ...]
    validation.json       same shape (something-something-v2-validation.json)
  videos/<id>.webm        the videos (or <root>/<id>.webm)
"""

Subset = Literal["train", "validation"]
LABEL_DIRS = ("labels", "annotations", ".")
_KIND = re.compile(r"(?:^|[-_])(labels|train|validation)\.json$", re.IGNORECASE)


def strip_brackets(template: str) -> str:
    """``"Pushing [something] left"`` -> ``"Pushing something left"``."""
    return " ".join(template.replace("[", "").replace("]", "").split())


def read_labels(path: Path) -> list[str]:
    """The 174 class names in index order, brackets removed."""
    return [strip_brackets(n) for n in load_label_map(path)]


def find_file(root: Path, kind: str) -> Path | None:
    """``<root>/[labels/]{kind}.json`` or ``something-something-v2-{kind}.json``."""
    for d in LABEL_DIRS:
        for name in (f"{kind}.json", f"something-something-v2-{kind}.json"):
            if (root / d / name).is_file():
                return root / d / name
    return None


def read_ssv2(root: Path, *, subset: Subset = "validation", check_files: bool = False) -> VideoSet:
    """The official train or validation list of a dataset root."""
    root = Path(root)
    labels, lst = find_file(root, "labels"), find_file(root, subset)
    require("ssv2", root, LAYOUT, {"labels.json": labels, f"{subset}.json": lst})
    assert labels is not None and lst is not None
    return read_ssv2_files(labels, lst, root=root, split=subset, check_files=check_files)


def read_ssv2_files(
    labels_file: Path,
    list_file: Path | None,
    *,
    root: Path,
    split: str,
    check_files: bool = False,
) -> VideoSet:
    """Read one json list against the labels file (``list_file=None``: the vocabulary only)."""
    class_names = read_labels(labels_file)
    index = {n: i for i, n in enumerate(class_names)}
    problems = Problems()
    entries = _entries(list_file) if list_file else []
    locator = locate_videos(Path(root), f"{entries[0][1]}.webm" if entries else None)
    records = []
    for i, vid, template in entries:
        label = index.get(strip_brackets(template))
        if label is None:
            problems.add("entries whose template has no label (skipped)", f"entry {i} {template!r}")
            continue
        records.append(VideoRecord(vid, locator.path(f"{vid}.webm"), label))
    vs = VideoSet(
        name="ssv2",
        split=split,
        records=records,
        class_names=class_names,
        root=Path(root),
        info={
            "format": "ssv2",
            "labels_file": str(labels_file),
            "list_file": str(list_file) if list_file else None,
            "videos_dir": locator.describe(),
            "label_source": "template with brackets removed, looked up in the labels file",
        },
    )
    return finish(vs, problems, check_files)


def _entries(path: Path) -> list[tuple[int, str, str]]:
    """``(index, id, template)`` of every entry; a wrong shape raises AnnotationError."""
    data = read_json(path)
    if not isinstance(data, list):
        raise AnnotationError(path, None, "expected a json list of entries")
    out = []
    for i, e in enumerate(data):
        if not isinstance(e, dict) or "id" not in e or "template" not in e:
            raise AnnotationError(path, None, f"entry {i} lacks 'id' or 'template': {e!r:.80}")
        out.append((i, str(e["id"]), str(e["template"])))
    return out


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Train and validation sets found among ``paths``; just the vocabulary if no list is."""
    paths = [Path(p) for p in paths]
    found = gather(paths, lambda p: bool(_KIND.search(p.name)))
    kinds: dict[str, Path] = {}
    for p in found:
        if m := _KIND.search(p.name):
            kinds.setdefault(m.group(1).lower(), p)
    root = first_dir(paths) or (found[0].parent if found else Path("."))
    require("ssv2", root, LAYOUT, {"labels.json": kinds.get("labels")})
    if root.name in LABEL_DIRS[:2]:
        root = root.parent
    subsets = [k for k in ("train", "validation") if k in kinds]
    if not subsets:
        vs = read_ssv2_files(kinds["labels"], None, root=root, split="labels")
        vs.info["note"] = "no train/validation json given: vocabulary only"
        return [vs]
    return [read_ssv2_files(kinds["labels"], kinds[k], root=root, split=k) for k in subsets]
