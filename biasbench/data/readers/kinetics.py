"""Kinetics-400/600 video lists with their label map.

Two list styles exist and are detected per file: csv ``val/<class_dir>/<ytid>.mp4,<id>``
(Open-VCLIP) and txt ``val/<ytid>_<start6>_<end6>.mp4 <id>`` (ViFi-CLIP, X-CLIP). The label
map is csv ``id,name`` with a header (or any map :func:`load_label_map` reads). Where an entry's
path carries its class (a csv list's class folder, or an HMDB51 / UCF101 file name in the
ViFi-CLIP lists that reuse this format) it is checked against the label map's name for its id.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

from biasbench.data.readers import hmdb51, ucf101
from biasbench.data.readers.common import (
    VIDEO_EXTENSIONS,
    Line,
    NameRule,
    PathClassCheck,
    Problems,
    check_path_classes,
    finish,
    first_dir,
    gather,
    load_label_map,
    locate_videos,
    read_lines,
    require,
    split_path_label,
)
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import ConfigError

LAYOUT = """\
<root>/
  [lists/]{train,val}.csv   "val/<class_dir>/<ytid>.mp4,<id>"        (Open-VCLIP style)
  or {train,val}.txt        "val/<ytid>_<start6>_<end6>.mp4 <id>"    (ViFi-CLIP / X-CLIP style)
  [lists/]labels.csv        "id,name" with a header: 400 rows (K400) or 600 rows (K600)
                            (also found as kinetics_400_labels.csv / kinetics_600_labels.csv)
  val/..., train/...        the videos, at the paths the list names (or under <root>/videos/)
"""

STYLES = {
    ",": "csv '<split>/<class_dir>/<file>,<id>' (Open-VCLIP)",
    " ": "txt '<split>/<file> <id>' (ViFi-CLIP / X-CLIP)",
}
NAMES = {400: "k400", 600: "k600"}
LIST_DIRS = (".", "lists", "annotations")
LABEL_FILES = ("labels.csv", "kinetics_400_labels.csv", "kinetics_600_labels.csv")
# file names that carry their class (ViFi-CLIP ships HMDB51 and UCF101 lists in this format)
NAME_RULES: tuple[NameRule, ...] = (hmdb51.name_class, ucf101.name_class)


@dataclass(frozen=True)
class Entry:
    line: Line
    rel: str
    label: int


def detect_sep(line: Line) -> str:
    """``","`` for csv lists, ``" "`` for whitespace lists, judged on one line."""
    head, _, tail = line.text.rpartition(",")
    return "," if head and tail.strip().lstrip("-").isdigit() else " "


def parse_list(path: Path) -> tuple[list[Entry], str]:
    """All ``(path, label)`` entries of a list file and its separator (``","`` or ``" "``)."""
    lines = read_lines(path)
    sep = detect_sep(lines[0]) if lines else " "
    entries = []
    for line in lines:
        rel, label = split_path_label(line, "," if sep == "," else None)
        entries.append(Entry(line, rel, label))
    return entries, sep


def check_entry_classes(
    entries: list[Entry], class_names: list[str], problems: Problems
) -> PathClassCheck:
    """Where an entry's path carries its class (class folder ``<split>/<class_dir>/<file>``, or
    an HMDB51 / UCF101 file name in lists that reuse this format), it must be the label's
    class in the label map; disagreements name the labels and count the videos."""
    rows = ((e.rel, e.label, e.line.where()) for e in entries)
    return check_path_classes(rows, class_names, problems, NAME_RULES)


def entries_to_records(entries: list[Entry], root: Path) -> tuple[list[VideoRecord], str]:
    """Records with paths under ``<root>`` or ``<root>/videos`` (probed on the first entry)."""
    locator = locate_videos(root, entries[0].rel if entries else None)
    recs = [VideoRecord(Path(e.rel).stem, locator.path(e.rel), e.label) for e in entries]
    return recs, locator.describe()


def video_sources(entries: list[Entry]) -> dict[str, int]:
    """How many entries come from each top folder (``train``/``val``/``test``)."""
    tops = collections.Counter(e.rel.split("/")[0] if "/" in e.rel else "." for e in entries)
    return dict(sorted(tops.items()))


def _find(root: Path, names: tuple[str, ...]) -> Path | None:
    return next((root / d / n for d in LIST_DIRS for n in names if (root / d / n).is_file()), None)


def read_kinetics(
    root: Path,
    *,
    subset: str = "val",
    list_file: Path | None = None,
    label_file: Path | None = None,
    check_files: bool = False,
) -> VideoSet:
    """The ``subset`` list (``<subset>.csv`` or ``.txt``) of a dataset root with its label
    map; ``list_file`` / ``label_file`` override where they are looked for."""
    root = Path(root)
    lst = Path(list_file) if list_file else _find(root, (f"{subset}.csv", f"{subset}.txt"))
    labels = Path(label_file) if label_file else _find(root, LABEL_FILES)
    require("kinetics", root, LAYOUT, {f"{subset}.csv|txt": lst, "labels.csv": labels})
    assert lst is not None and labels is not None
    return read_kinetics_list(lst, labels, root=root, split=subset, check_files=check_files)


def read_kinetics_list(
    list_file: Path,
    label_file: Path,
    *,
    root: Path | None = None,
    name: str | None = None,
    split: str | None = None,
    check_files: bool = False,
) -> VideoSet:
    """One Kinetics list read against its own label map; videos under ``root`` (default: the
    list's folder). ``name`` defaults to k400/k600 by the label map's size."""
    list_file, label_file = Path(list_file), Path(label_file)
    root = Path(root) if root else list_file.parent
    require("kinetics", root, LAYOUT, {list_file.name: list_file, label_file.name: label_file})
    class_names = load_label_map(label_file)
    entries, sep = parse_list(list_file)
    problems = Problems()
    check = check_entry_classes(entries, class_names, problems)
    records, videos_dir = entries_to_records(entries, root)
    sources = video_sources(entries)
    vs = VideoSet(
        name=name or NAMES.get(len(class_names), "kinetics"),
        split=split or (next(iter(sources)) if len(sources) == 1 else list_file.stem),
        records=records,
        class_names=class_names,
        root=root,
        info={
            "format": "kinetics",
            "list_file": str(list_file),
            "label_file": str(label_file),
            "style": STYLES[sep],
            "video_sources": sources,
            "videos_dir": videos_dir,
            "path_classes": check.summary(),
        },
    )
    return finish(vs, problems, check_files)


def is_video_list(path: Path) -> bool:
    """True for a csv/txt whose first line is ``<video path>[ ,]<int>``."""
    if path.suffix.lower() not in (".csv", ".txt"):
        return False
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            first = f.readline().strip()
    except OSError:
        return False
    head = first.rsplit(",", 1)[0] if "," in first else first.rsplit(None, 1)[0] if first else ""
    return head.lower().endswith(VIDEO_EXTENSIONS) and first[len(head) + 1 :].strip().isdigit()


def is_label_map(path: Path) -> bool:
    """A csv/json whose name says it maps classes (``*labels*``, ``*index2cls*``, ...)."""
    n = path.name.lower()
    return path.suffix.lower() in (".csv", ".json") and any(
        k in n for k in ("label", "index2cls", "classes")
    )


def pair_label_maps(lists: list[Path], maps: list[Path]) -> dict[Path, Path]:
    """Each list with its own label map: the one in its folder, else the only one given."""
    out = {}
    for lst in lists:
        same = [m for m in maps if m.parent == lst.parent]
        if len(same) == 1 or len(maps) == 1:
            out[lst] = (same or maps)[0]
        else:
            raise ConfigError(
                f"cannot tell which label map belongs to {lst}: pass the list with its own "
                f"label map (found {len(maps)}: {', '.join(m.name for m in maps)})"
            )
    return out


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Every list found among ``paths``, each read against its own label map."""
    paths = [Path(p) for p in paths]
    lists = gather(paths, is_video_list)
    maps = gather(paths, is_label_map)
    root = first_dir(paths)
    require(
        "kinetics",
        root or Path("."),
        LAYOUT,
        {
            "<list>.csv|txt": lists[0] if lists else None,
            "<labels>.csv": maps[0] if maps else None,
        },
    )
    pairs = pair_label_maps(lists, maps)
    return [read_kinetics_list(lst, m, root=root) for lst, m in pairs.items()]
