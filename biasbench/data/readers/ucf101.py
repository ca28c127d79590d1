"""UCF101 official split lists: ``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``.

The label of a video always comes from its class folder looked up in ``classInd.txt`` — never
from the file name (folder ``HandstandPushups/`` holds ``v_HandStandPushups_*``) — and a
trainlist id that disagrees with classInd for that folder is reported. Labels are 0-based;
class names are the folder names split into lowercase words, the raw names stay in ``info``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from biasbench.data.readers.common import (
    Line,
    Problems,
    VideoLocator,
    check_path_classes,
    finish,
    first_dir,
    gather,
    locate_videos,
    parse_int,
    read_lines,
    require,
    split_camel,
)
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import AnnotationError, ConfigError

LAYOUT = """\
<root>/
  ucfTrainTestlist/             the official list files (or directly in <root>/)
    classInd.txt                "<1-based id> <ClassDir>", 101 lines
    trainlist0{1,2,3}.txt       "<ClassDir>/v_<Class>_gGG_cCC.avi <1-based id>"
    testlist0{1,2,3}.txt        "<ClassDir>/v_<Class>_gGG_cCC.avi"
  videos/<ClassDir>/<file>      the videos (or <root>/<ClassDir>/<file>); .avi or .mp4
"""

Subset = Literal["train", "test", "full"]
LIST_DIRS = ("ucfTrainTestlist", ".")
_LIST_NAME = re.compile(r"^(train|test)list0([123])\.txt$", re.IGNORECASE)
_FILE_CLASS = re.compile(r"^v_(.+)_g\d+_c\d+$")


def name_class(stem: str, classes: list[str]) -> str | None:
    """The class of ``classes`` that a ``v_<Class>_gGG_cCC`` file name carries (compared
    case-insensitively, so ``v_HandStandPushups`` is ``HandstandPushups``), if any."""
    m = _FILE_CLASS.match(stem)
    if not m:
        return None
    token = m.group(1).lower()
    return next((c for c in classes if c.replace(" ", "").lower() == token), None)


def read_class_ind(path: Path) -> list[str]:
    """Raw class folder names in id order from ``classInd.txt`` (ids 1..K, contiguous)."""
    names: list[str] = []
    for line in read_lines(path):
        parts = line.text.split()
        if len(parts) != 2:
            raise line.error("expected '<id> <ClassName>'")
        idx = parse_int(line, parts[0], "class id")
        if idx != len(names) + 1:
            raise line.error(f"class ids must run 1, 2, 3, ...; expected {len(names) + 1}")
        names.append(parts[1])
    if len(set(names)) != len(names):
        raise AnnotationError(path, None, "a class name appears twice")
    return names


def find_list_dir(root: Path) -> Path | None:
    """The folder holding ``classInd.txt``: ``<root>/ucfTrainTestlist/`` or ``<root>/``."""
    return next((root / d for d in LIST_DIRS if (root / d / "classInd.txt").is_file()), None)


def read_ucf101(
    root: Path,
    *,
    split: int = 1,
    subset: Subset = "test",
    list_dir: Path | None = None,
    check_files: bool = False,
) -> VideoSet:
    """One official split: ``subset`` train or test of ``split`` 1/2/3, or ``"full"`` (UCF*:
    train + test of split 1, all 13,320 videos)."""
    root = Path(root)
    if split not in (1, 2, 3):
        raise ConfigError(f"UCF101 split must be 1, 2 or 3, not {split}")
    lists_at = Path(list_dir) if list_dir else find_list_dir(root)
    require("ucf101", root, LAYOUT, {"classInd.txt": lists_at and lists_at / "classInd.txt"})
    assert lists_at is not None
    n = 1 if subset == "full" else split
    kinds = ["train", "test"] if subset == "full" else [subset]
    files = {f"{k}list0{n}.txt": lists_at / f"{k}list0{n}.txt" for k in kinds}
    require("ucf101", root, LAYOUT, files)
    return read_ucf101_lists(
        lists_at / "classInd.txt",
        list(files.values()),
        root=root,
        split="full" if subset == "full" else f"{subset}{split}",
        check_files=check_files,
    )


def read_ucf101_lists(
    class_ind: Path, lists: list[Path], *, root: Path, split: str, check_files: bool = False
) -> VideoSet:
    """Read list files against one ``classInd.txt``; videos are looked for under ``root``."""
    raw = read_class_ind(class_ind)
    index = {name: i for i, name in enumerate(raw)}
    problems = Problems()
    lines = [line for path in lists for line in read_lines(path)]
    locator = locate_videos(Path(root), _entry(lines[0])[0] if lines else None)
    kept = [(line, r) for line in lines if (r := _record(line, raw, index, locator, problems))]
    records = [r for _, r in kept]
    # the label comes from the class folder: the file name must name the same class
    named = ((r.path.name, r.label, line.where()) for line, r in kept)
    check = check_path_classes(named, raw, problems, (name_class,))
    vs = VideoSet(
        name="ucf101",
        split=split,
        records=records,
        class_names=[split_camel(n) for n in raw],
        root=Path(root),
        info={
            "format": "ucf101",
            "class_ind": str(class_ind),
            "list_files": [str(p) for p in lists],
            "videos_dir": locator.describe(),
            "raw_class_names": raw,
            "label_source": "class folder looked up in classInd.txt (1-based -> 0-based)",
            "path_classes": check.summary(),
        },
    )
    if split == "full":
        vs.info["alias"] = "UCF* (train + test of split 1)"
    return finish(vs, problems, check_files)


def _entry(line: Line) -> tuple[str, int | None]:
    """``<ClassDir>/<file>`` and its 1-based id if the line has one (trainlists do)."""
    parts = line.text.split()
    if len(parts) not in (1, 2):
        raise line.error("expected '<ClassDir>/<file> [<id>]'")
    rel = parts[0]
    folder, _, fname = rel.partition("/")
    if not folder or not fname or "/" in fname:
        raise line.error("expected '<ClassDir>/<file>'")
    return rel, parse_int(line, parts[1], "class id") if len(parts) == 2 else None


def _record(
    line: Line, raw: list[str], index: dict[str, int], loc: VideoLocator, problems: Problems
) -> VideoRecord | None:
    rel, given = _entry(line)
    folder, _, fname = rel.partition("/")
    stem = Path(fname).stem
    label = index.get(folder)
    if given is not None and not 1 <= given <= len(raw):
        problems.add(f"ids outside 1..{len(raw)}", line.where())
    elif given is not None and label is not None and given - 1 != label:
        problems.add(
            "ids that disagree with classInd for the class folder",
            f"{line.where()} id {given} is {raw[given - 1]} but the folder is {folder}",
        )
    if label is None:
        problems.add("entries whose class folder is not in classInd (skipped)", line.where())
        return None
    return VideoRecord(stem, loc.path(rel), label)


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Every split found among ``paths`` (a root, the list folder, or the list files)."""
    paths = [Path(p) for p in paths]
    found = gather(paths, lambda p: p.name == "classInd.txt" or bool(_LIST_NAME.match(p.name)))
    class_inds = [p for p in found if p.name == "classInd.txt"]
    if not class_inds:
        require("ucf101", first_dir(paths) or Path("."), LAYOUT, {"classInd.txt": None})
    lists: dict[tuple[str, str], Path] = {}
    for p in found:
        if m := _LIST_NAME.match(p.name):
            lists.setdefault((m.group(1).lower(), m.group(2)), p)
    class_ind = class_inds[0]
    root = first_dir(paths) or class_ind.parent
    if root.name == "ucfTrainTestlist":
        root = root.parent
    sets = [
        read_ucf101_lists(class_ind, [lists[(kind, n)]], root=root, split=f"{kind}{n}")
        for n in "123"
        for kind in ("train", "test")
        if (kind, n) in lists
    ]
    if ("train", "1") in lists and ("test", "1") in lists:
        full = [lists[("train", "1")], lists[("test", "1")]]
        sets.append(read_ucf101_lists(class_ind, full, root=root, split="full"))
    return sets
