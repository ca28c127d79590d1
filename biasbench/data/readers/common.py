"""Parsing helpers shared by the annotation readers.

Every reader reads numbered lines (tolerant of CRLF, BOMs and trailing spaces), raises
:class:`AnnotationError` with ``file:line`` for lines that break the format, and collects the
non-fatal problems of a split (unknown class, list vs label map disagreement, ...) in a
:class:`Problems` log that folds thousands of bad lines into one summary line per kind.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from biasbench.data.annotations import read_annotation
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import AnnotationError, MissingDatasetError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".webm", ".mkv", ".mov")


@dataclass(frozen=True)
class Line:
    """One non-blank line of an annotation file, without its line end or trailing spaces."""

    path: Path
    number: int  # 1-based, counting blank lines too, so it matches an editor
    text: str

    def error(self, reason: str) -> AnnotationError:
        return AnnotationError(self.path, self.number, f"{reason}: {self.text!r}")

    def where(self) -> str:
        return f"{self.path.name}:{self.number}"


def read_lines(path: Path) -> list[Line]:
    """Read a text annotation file as numbered lines; CRLF, CR, BOM and trailing spaces go."""
    try:
        text = read_annotation(path).decode("utf-8-sig")
    except FileNotFoundError:
        raise AnnotationError(path, None, "file not found") from None
    except UnicodeDecodeError as e:
        line = Path(path).read_bytes()[: e.start].count(b"\n") + 1
        raise AnnotationError(path, line, "not UTF-8 text") from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [Line(Path(path), i, t.rstrip()) for i, t in enumerate(lines, 1) if t.strip()]


def parse_int(line: Line, token: str, what: str) -> int:
    """``int(token)`` or an :class:`AnnotationError` naming the line and what was expected."""
    try:
        return int(token)
    except ValueError:
        raise line.error(f"{what} is not an integer ({token!r})") from None


def split_path_label(line: Line, sep: str | None = None) -> tuple[str, int]:
    """Split ``<path> <label>`` (or ``<path>,<label>``) at the last separator.

    Splitting from the right keeps paths with spaces (Kinetics class folders) intact.
    """
    parts = line.text.rsplit(sep, 1) if sep else line.text.rsplit(None, 1)
    if len(parts) != 2 or not parts[0].strip():
        raise line.error("expected '<path> <label>'")
    return parts[0].strip(), parse_int(line, parts[1].strip(), "label")


def read_json(path: Path) -> Any:
    """Load a JSON file; a syntax error becomes an :class:`AnnotationError` at its line."""
    try:
        return json.loads(read_annotation(path).decode("utf-8-sig"))
    except FileNotFoundError:
        raise AnnotationError(path, None, "file not found") from None
    except json.JSONDecodeError as e:
        raise AnnotationError(path, e.lineno, f"invalid JSON: {e.msg}") from None


_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def split_camel(name: str) -> str:
    """``"ApplyEyeMakeup"`` -> ``"apply eye makeup"``: UCF101 folder names as text prompts."""
    return " ".join(w.lower() for w in _CAMEL.findall(name)) or name


def norm_name(name: str) -> str:
    """Compare-friendly class name: lower case, underscores as spaces, single spaces."""
    return " ".join(name.replace("_", " ").lower().split())


# -- label maps ------------------------------------------------------------------------------


def load_label_map(path: Path) -> list[str]:
    """Class names in index order from any label-map file the public repos ship.

    csv ``id,name`` (header optional, quoted names, unquoted commas inside names), json
    ``{"0": name}`` / ``{name: "0"}`` / ``[names]``, txt ``<id> <name>`` (0- or 1-based, as in
    UCF101's classInd.txt) or one name per line. Indices must be contiguous.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _label_map_from_json(path, read_json(path))
    pairs: list[tuple[int, str]] = []
    names: list[str] = []
    for line in read_lines(path):
        if suffix == ".csv":
            row = next(csv.reader([line.text]))
            if len(row) < 2:
                names.append(row[0].strip())
                continue
            head, name = row[0].strip(), ",".join(row[1:]).strip()
        else:
            head, _, name = line.text.strip().partition(" ")
            if not name or not head.lstrip("-").isdigit():
                names.append(line.text.strip())
                continue
        if not head.lstrip("-").isdigit():
            if not pairs and not names and suffix == ".csv":
                continue  # header row such as "id,name"
            raise line.error("expected '<id>,<name>'")
        pairs.append((int(head), name.strip()))
    if pairs and names:
        raise AnnotationError(path, None, "mixes '<id> <name>' lines with bare names")
    if not pairs:
        return names
    return _ordered(path, pairs, one_based_ok=suffix != ".csv")


def _label_map_from_json(path: Path, data: Any) -> list[str]:
    if isinstance(data, list) and all(isinstance(n, str) for n in data):
        return list(data)
    if not isinstance(data, dict) or not data:
        raise AnnotationError(path, None, "expected a non-empty {index: name} or {name: index}")
    if all(str(k).lstrip("-").isdigit() for k in data) and all(
        isinstance(v, str) for v in data.values()
    ):
        return _ordered(path, [(int(k), v) for k, v in data.items()])
    if all(str(v).lstrip("-").isdigit() for v in data.values()):
        return _ordered(path, [(int(v), k) for k, v in data.items()])
    raise AnnotationError(path, None, "expected {index: name} or {name: index}")


def _ordered(path: Path, pairs: list[tuple[int, str]], one_based_ok: bool = False) -> list[str]:
    """Names by id; ids must run 0..K-1 (or 1..K in classInd-style txt maps)."""
    ids = sorted(i for i, _ in pairs)
    start = 1 if one_based_ok and ids and ids[0] == 1 else 0
    if ids != list(range(start, start + len(ids))):
        seen = duplicates(ids)
        detail = f"duplicate ids {seen[:5]}" if seen else "ids are not contiguous"
        raise AnnotationError(path, None, f"label map {detail} (from {ids[0]} to {ids[-1]})")
    names = [""] * len(pairs)
    for i, n in pairs:
        names[i - start] = n
    return names


def duplicates(items: Iterable[Any]) -> list[Any]:
    """Items that occur more than once, in first-seen order."""
    seen: set[Any] = set()
    dup: dict[Any, None] = {}
    for x in items:
        if x in seen:
            dup[x] = None
        seen.add(x)
    return list(dup)


# -- problems and result sets ----------------------------------------------------------------


class Problems:
    """Non-fatal problems of one split, folded by kind: ``"<n> <kind> (first: <example>)"``."""

    def __init__(self) -> None:
        self._kinds: dict[str, tuple[int, str]] = {}

    def add(self, kind: str, example: str) -> None:
        n, detail = self._kinds.get(kind, (0, f"first: {example}"))
        self._kinds[kind] = (n + 1, detail)

    def add_total(self, kind: str, n: int, detail: str) -> None:
        """A kind counted by the caller: ``"<n> <kind> (<detail>)"``."""
        self._kinds[kind] = (n, detail)

    def __len__(self) -> int:
        return sum(n for n, _ in self._kinds.values())

    def lines(self) -> list[str]:
        return [f"{n} {kind} ({detail})" for kind, (n, detail) in self._kinds.items()]


def finish(vs: VideoSet, problems: Problems, check_files: bool) -> VideoSet:
    """Attach the parse problems, then run the generic checks (range, duplicates, files)."""
    vs.problems.extend(p for p in problems.lines() if p not in vs.problems)
    vs.validate(check_files=check_files)
    return vs


def require(dataset: str, root: Path, layout: str, files: dict[str, Path | None]) -> None:
    """Raise :class:`MissingDatasetError` (with the layout) if a needed file is absent."""
    missing = [name for name, p in files.items() if p is None or not Path(p).exists()]
    if missing:
        raise MissingDatasetError(dataset, root, layout, missing)


# -- the class a video's path carries --------------------------------------------------------

NameRule = Callable[[str, list[str]], "str | None"]
"""A dataset's file-naming convention: ``(file stem, class names) -> the class it names``."""

MAX_LISTED = 8  # disagreeing labels spelled out in one problem line


def class_key(name: str) -> str:
    """Spelling-free class key, so ``kick_ball`` = ``kick ball`` and ``HandstandPushups`` =
    ``Handstand Pushups``: lower case, spaces and underscores dropped."""
    return re.sub(r"[\s_]+", "", name.lower())


@dataclass(frozen=True)
class Carried:
    """The class one list entry's path names, and whether a folder or the file name did."""

    name: str  # in the vocabulary's spelling when the vocabulary has it
    source: str  # "class folder" | "file name"


class PathClassReader:
    """Reads the class a list path carries: its class folder (``<split>/<class>/<file>``, or
    ``<class>/<file>`` when the folder is a class of ``vocabulary``), else the first naming
    ``rules`` that recognises the file name. Build once per list: it indexes the vocabulary."""

    def __init__(self, vocabulary: Sequence[str], rules: Sequence[NameRule] = ()) -> None:
        self.vocabulary = list(vocabulary)
        self.rules = tuple(rules)
        self._spelled = {class_key(n): n for n in self.vocabulary}

    def __call__(self, rel: str) -> Carried | None:
        parts = rel.replace("\\", "/").split("/")
        if len(parts) >= 3 or (len(parts) == 2 and class_key(parts[0]) in self._spelled):
            return Carried(self._spelled.get(class_key(parts[-2]), parts[-2]), "class folder")
        stem = Path(parts[-1]).stem
        for rule in self.rules:
            if (named := rule(stem, self.vocabulary)) is not None:
                return Carried(self._spelled.get(class_key(named), named), "file name")
        return None


@dataclass
class PathClassCheck:
    """Per label of a label map, how many videos' paths name which class: the evidence for
    reporting a label map whose names disagree with its own lists, and for repairing it."""

    class_names: list[str]
    carried: dict[int, collections.Counter[str]] = field(default_factory=dict)
    sources: set[str] = field(default_factory=set)
    first: dict[tuple[int, str], tuple[int, str]] = field(default_factory=dict)

    def add(self, label: int, found: Carried | None, where: str) -> None:
        """Count one entry; labels outside the map are left to the range check."""
        if found is None or not 0 <= label < len(self.class_names):
            return
        self.carried.setdefault(label, collections.Counter())[found.name] += 1
        self.sources.add(found.source)
        self.first.setdefault((label, found.name), (len(self.first), where))

    def renamed(self, renames: dict[int, str]) -> PathClassCheck:
        """The same evidence against the label map with ``renames`` applied."""
        names = [renames.get(i, n) for i, n in enumerate(self.class_names)]
        return replace(self, class_names=names)

    def agrees(self, label: int, name: str) -> bool:
        return class_key(name) == class_key(self.class_names[label])

    def disagreements(self) -> dict[tuple[int, str], int]:
        """``{(label, class its paths name): videos}`` for every name that is not the label's."""
        return {
            (label, name): n
            for label, counts in sorted(self.carried.items())
            for name, n in sorted(counts.items())
            if not self.agrees(label, name)
        }

    def checked(self) -> int:
        return sum(sum(c.values()) for c in self.carried.values())

    def report(self, problems: Problems) -> None:
        """One problem line: how many videos, and which labels with which names and counts."""
        wrong = self.disagreements()
        if not wrong:
            return
        pairs = [f"{i} {self.class_names[i]!r}: {n} name {c!r}" for (i, c), n in wrong.items()]
        shown = "; ".join(pairs[:MAX_LISTED])
        if len(pairs) > MAX_LISTED:
            shown += f"; and {len(pairs) - MAX_LISTED} more"
        labels = len({i for i, _ in wrong})
        first = min(self.first[pair] for pair in wrong)[1]
        problems.add_total(
            f"videos whose {self.source()} names another class than the label map gives "
            f"their label",
            sum(wrong.values()),
            f"{labels} labels: {shown}; first: {first}",
        )

    def source(self) -> str:
        return next(iter(self.sources)) if len(self.sources) == 1 else "path"

    def repair(self) -> dict[int, str]:
        """``{label: corrected name}``: each label whose videos' paths all name one other class
        of the map is renamed to it, unless that would give two labels one name."""
        renames = {
            label: next(iter(c))
            for label, c in self.carried.items()
            if len(c) == 1 and not self.agrees(label, next(iter(c)))
        }
        known = {class_key(n) for n in self.class_names}
        renames = {i: n for i, n in renames.items() if class_key(n) in known}
        while clash := self._clashes(renames):
            renames = {i: n for i, n in renames.items() if i not in clash}
        return renames

    def _clashes(self, renames: dict[int, str]) -> set[int]:
        """Renamed labels whose new name another label also has after the renames."""
        names = [class_key(renames.get(i, n)) for i, n in enumerate(self.class_names)]
        count = collections.Counter(names)
        return {i for i in renames if count[names[i]] > 1}

    def summary(self) -> dict[str, Any]:
        """For ``info``: how many videos carried a class and how many disagree."""
        return {
            "source": self.source() if self.sources else None,
            "videos_checked": self.checked(),
            "videos_disagreeing": sum(self.disagreements().values()),
        }


def check_path_classes(
    entries: Iterable[tuple[str, int, str]],
    class_names: list[str],
    problems: Problems,
    rules: Sequence[NameRule] = (),
    vocabulary: Sequence[str] | None = None,
) -> PathClassCheck:
    """Cross-check ``(path, label, where)`` entries whose path carries a class (folder or
    file name, see :class:`PathClassReader`) against the label map's name for their label,
    and report the disagreements in ``problems``. Paths are read against ``vocabulary``
    (default: the label map), so a class outside the map can be recognised too."""
    read = PathClassReader(vocabulary if vocabulary is not None else class_names, rules)
    check = PathClassCheck(list(class_names))
    for rel, label, where in entries:
        check.add(label, read(rel), where)
    check.report(problems)
    return check


# -- where the videos are --------------------------------------------------------------------


@dataclass(frozen=True)
class VideoLocator:
    """Maps a list entry to a file: ``<base>/[<class folder>/]<entry>``.

    Official layouts keep videos in ``<root>/videos/`` or directly in ``<root>/``, and some
    lists name only the file while the files sit in per-class folders; :func:`locate_videos`
    probes the first entry to decide once for the whole list.
    """

    base: Path
    class_folders: bool = False

    def path(self, rel: str, class_dir: str | None = None) -> Path:
        if self.class_folders and class_dir:
            return self.base / class_dir / rel
        return self.base / rel

    def describe(self) -> str:
        return str(self.base / "<class>") if self.class_folders else str(self.base)


def locate_videos(
    root: Path, rel: str | None = None, class_dir: str | None = None, sub: str = "videos"
) -> VideoLocator:
    """Find where the first entry ``rel`` exists: ``<root>/<sub>/`` or ``<root>/``, with or
    without a class folder; when nothing exists yet prefer ``<root>/<sub>/`` if it is a folder."""
    root = Path(root)
    bases = [root / sub, root] if sub else [root]
    if rel is not None:
        for base in bases:
            if (base / rel).exists():
                return VideoLocator(base)
            if class_dir and (base / class_dir / rel).exists():
                return VideoLocator(base, class_folders=True)
    return VideoLocator(bases[0] if bases[0].is_dir() else root)


# -- finding annotation files for `inspect` --------------------------------------------------


def gather(paths: Iterable[Path], match: Callable[[Path], bool], max_depth: int = 4) -> list[Path]:
    """Files among ``paths`` (files, or folders searched ``max_depth`` levels down) that match.

    Folders of videos or frames are listed but not opened, so a dataset root is fine.
    """
    found: dict[Path, None] = {}
    for p in paths:
        p = Path(p)
        if p.is_file():
            if match(p):
                found[p] = None
            continue
        stack = [(p, 0)] if p.is_dir() else []
        while stack:
            folder, depth = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=True):
                    if depth < max_depth:
                        stack.append((Path(e.path), depth + 1))
                elif not e.name.lower().endswith(VIDEO_EXTENSIONS + (".jpg", ".png")):
                    f = Path(e.path)
                    if match(f):
                        found[f] = None
    return sorted(found)


def first_dir(paths: Iterable[Path]) -> Path | None:
    """The first folder the user passed (taken as the dataset root), if any."""
    return next((Path(p) for p in paths if Path(p).is_dir()), None)


def seeded_rng(seed: int) -> random.Random:
    """A private RNG: results depend only on the seed, never on global random state."""
    return random.Random(seed)


def relabel(records: Iterable[VideoRecord], remap: dict[int, int]) -> list[VideoRecord]:
    """Records whose label is in ``remap``, with the new label."""
    return [
        VideoRecord(r.video_id, r.path, remap[r.label], r.num_frames, r.meta)
        for r in records
        if r.label in remap
    ]
