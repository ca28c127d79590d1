"""HMDB51 official split files: one ``<class>_test_split{1,2,3}.txt`` per class and split.

Each line is ``<video>.avi <tag>`` (1 = train, 2 = test, 0 = unused). The class index order
differs between public repos ("kick"/"kick ball", "sword"/"sword exercise" swap places), so
the order is explicit: alphabetical by class folder name unless the caller gives the label
map that belongs to the list being evaluated. The order used is recorded in ``info``.
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from biasbench.data.readers.common import (
    Problems,
    check_path_classes,
    finish,
    first_dir,
    gather,
    load_label_map,
    locate_videos,
    norm_name,
    parse_int,
    read_lines,
    require,
)
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import ConfigError

LAYOUT = """\
<root>/
  testTrainMulti_7030_splits/       the official split files (or directly in <root>/)
    <class>_test_split{1,2,3}.txt   "<video>.avi <tag>": 1 = train, 2 = test, 0 = unused
  videos/<class>/<video>.avi        the videos (or <root>/<class>/<video>.avi)
"""

Subset = Literal["train", "test", "unused", "full"]
TAGS: dict[str, tuple[int, ...]] = {"train": (1,), "test": (2,), "unused": (0,), "full": (1, 2)}
SPLIT_DIRS = ("testTrainMulti_7030_splits", ".")
_SPLIT_NAME = re.compile(r"^(.+)_test_split([123])\.txt$")
LabelMap = Path | Sequence[str] | None


# HMDB51 file names end in "_<class>_<body part>_<camera motion>_np<n>_<view>_<quality>_<k>"
_NAME_TAIL = r"_[fhlu]_(?:cm|nm)_np\d+_(?:fr|ba|le|ri)_(?:goo|med|bad)_\d+$"


def name_class(stem: str, classes: list[str]) -> str | None:
    """The class of ``classes`` (folder names or names with spaces) that an HMDB51 file name
    carries, from the dataset's naming convention; None if the name does not follow it."""
    m = _name_pattern(tuple(classes)).search(stem)
    return None if m is None else next(c for c in classes if c.replace(" ", "_") == m.group(1))


@functools.lru_cache(maxsize=16)
def _name_pattern(classes: tuple[str, ...]) -> re.Pattern[str]:
    alts = sorted((re.escape(c.replace(" ", "_")) for c in classes), key=len, reverse=True)
    return re.compile("_(" + "|".join(alts) + ")" + _NAME_TAIL)


def split_files(folder: Path, split: int) -> dict[str, Path]:
    """``{class folder: split file}`` for one split in ``folder``."""
    out = {}
    for p in sorted(Path(folder).glob(f"*_test_split{split}.txt")):
        if m := _SPLIT_NAME.match(p.name):
            out[m.group(1)] = p
    return out


def read_hmdb51(
    root: Path,
    *,
    split: int = 1,
    subset: Subset = "test",
    split_dir: Path | None = None,
    label_map: LabelMap = None,
    check_files: bool = False,
) -> VideoSet:
    """One split: tag 1 (train), 2 (test), 0 (unused) of ``split``, or ``"full"`` (HMDB*:
    tags 1 + 2 of split 1, 5,100 videos). ``label_map`` fixes the class order."""
    root = Path(root)
    if split not in (1, 2, 3):
        raise ConfigError(f"HMDB51 split must be 1, 2 or 3, not {split}")
    n = 1 if subset == "full" else split
    folder = (
        Path(split_dir)
        if split_dir
        else next((root / d for d in SPLIT_DIRS if split_files(root / d, n)), None)
    )
    files = split_files(folder, n) if folder else {}
    require(
        "hmdb51", root, LAYOUT, {f"<class>_test_split{n}.txt": next(iter(files.values()), None)}
    )
    name = "full" if subset == "full" else f"{subset}{split}"
    return read_hmdb51_files(
        files, root=root, subset=subset, split=name, label_map=label_map, check_files=check_files
    )


def _class_order(
    classes: list[str], label_map: LabelMap, problems: Problems
) -> tuple[list[str], str]:
    if label_map is None:
        return [c.replace("_", " ") for c in sorted(classes)], "alphabetical by class folder"
    names = load_label_map(label_map) if isinstance(label_map, (str, Path)) else list(label_map)
    known = {norm_name(n) for n in names}
    for c in classes:
        if norm_name(c) not in known:
            problems.add("split files of classes not in the label map (skipped)", c)
    present = {norm_name(c) for c in classes}
    for n in names:
        if norm_name(n) not in present:
            problems.add("label-map classes without a split file", n)
    source = str(label_map) if isinstance(label_map, (str, Path)) else "label map given by caller"
    return names, source


def read_hmdb51_files(
    files: dict[str, Path],
    *,
    root: Path,
    subset: Subset,
    split: str,
    label_map: LabelMap = None,
    check_files: bool = False,
) -> VideoSet:
    """Read ``{class folder: split file}``, keeping the videos whose tag belongs to ``subset``."""
    problems = Problems()
    class_names, order = _class_order(list(files), label_map, problems)
    index = {norm_name(n): i for i, n in enumerate(class_names)}
    keep = TAGS[subset]
    tags: collections.Counter[int] = collections.Counter()
    locator = None
    records = []
    named: list[tuple[str, int, str]] = []  # (file name, label, where) for the name check
    for folder, path in sorted(files.items()):
        label = index.get(norm_name(folder))
        for line in read_lines(path):
            parts = line.text.split()
            if len(parts) != 2:
                raise line.error("expected '<video>.avi <tag>'")
            tag = parse_int(line, parts[1], "tag")
            if tag not in (0, 1, 2):
                raise line.error("tag must be 0 (unused), 1 (train) or 2 (test)")
            tags[tag] += 1
            if tag not in keep or label is None:
                continue
            named.append((parts[0], label, line.where()))
            rel = f"{folder}/{parts[0]}"
            locator = locator or locate_videos(Path(root), rel)
            records.append(VideoRecord(Path(parts[0]).stem, locator.path(rel), label))
    # the label comes from the split file's class: the file name must name the same class
    vocabulary = class_names + [f.replace("_", " ") for f in files if norm_name(f) not in index]
    check = check_path_classes(named, class_names, problems, (name_class,), vocabulary)
    vs = VideoSet(
        name="hmdb51",
        split=split,
        records=records,
        class_names=class_names,
        root=Path(root),
        info={
            "format": "hmdb51",
            "list_files": [str(p) for _, p in sorted(files.items())],
            "tags_kept": list(keep),
            "tag_counts": {str(t): tags[t] for t in (0, 1, 2)},
            "class_order": order,
            "videos_dir": (locator or locate_videos(Path(root))).describe(),
            "path_classes": check.summary(),
        },
    )
    if split == "full":
        vs.info["alias"] = "HMDB* (tags 1 + 2 of split 1)"
    return finish(vs, problems, check_files)


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Train, test (and full for split 1) of every split found among ``paths``.

    A ``.csv``/``.json``/``.txt`` label map passed explicitly as a file sets the class order.
    """
    paths = [Path(p) for p in paths]
    found = gather(paths, lambda p: bool(_SPLIT_NAME.match(p.name)))
    label_map = next((p for p in paths if p.is_file() and not _SPLIT_NAME.match(p.name)), None)
    by_split: dict[int, dict[str, Path]] = collections.defaultdict(dict)
    for p in found:
        if m := _SPLIT_NAME.match(p.name):
            by_split[int(m.group(2))].setdefault(m.group(1), p)
    root = first_dir(paths) or (found[0].parent if found else Path("."))
    if not by_split:
        require("hmdb51", root, LAYOUT, {"<class>_test_split1.txt": None})
    if root.name == "testTrainMulti_7030_splits":
        root = root.parent
    sets = []
    for n, files in sorted(by_split.items()):
        subsets: list[Subset] = ["train", "test"] + (["full"] if n == 1 else [])
        for sub in subsets:
            name = "full" if sub == "full" else f"{sub}{n}"
            sets.append(
                read_hmdb51_files(files, root=root, subset=sub, split=name, label_map=label_map)
            )
    return sets
