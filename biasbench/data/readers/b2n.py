"""Base-to-novel splits in the ViFi-CLIP layout, and how to make them when none are given.

Split files list ``<video> <label>`` with labels local to their half (base 0..B-1, novel
0..N-1), each read against that half's class list (``labels/<prefix>_{base,novel}_labels.csv``).
When the full label map is present too, the halves are checked to be disjoint and to cover it.
:func:`most_frequent_half` and :func:`sample_shots` rebuild such splits deterministically.

Where paths carry the class (UCF101 and HMDB51 file names, class folders) it is checked against
the class list. ViFi-CLIP's HMDB51 lists disagree with their own class lists ("sword" /
"sword exercise" swap in the base half, "kick" / "kick ball" in the novel half), so a reader
can keep the names as shipped (``label_names="official"``, the disagreement reported) or
rename each index to the class its videos are (``"corrected"``, the renames in ``info``).
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from biasbench.data.readers import hmdb51, ucf101
from biasbench.data.readers.common import (
    Carried,
    PathClassCheck,
    PathClassReader,
    Problems,
    VideoLocator,
    class_key,
    finish,
    first_dir,
    gather,
    load_label_map,
    locate_videos,
    norm_name,
    relabel,
    require,
    seeded_rng,
    split_camel,
)
from biasbench.data.readers.kinetics import Entry, parse_list
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import AnnotationError, ConfigError

LAYOUT = """\
<root>/                                           the ViFi-CLIP repository layout
  datasets_splits/base2novel_splits/<ds>_splits/  <ds> = k400 | hmdb | ucf | ssv2
    fs_base_s{1,2,3}_train.txt    "<video> <label>": 16 shots x base classes
    base_train.txt, base_val.txt  labels local to the base half (0..B-1)
    novel_val.txt                 labels local to the novel half (0..N-1)
  labels/<prefix>_base_labels.csv, <prefix>_novel_labels.csv   "id,name" per half
  labels/<full labels>.csv        optional: the whole vocabulary, to check the halves
    <prefix>: kinetics_400 | hmdb_51 | ucf_101 | ssv2_174
"""

Subset = Literal["fewshot", "base_train", "base_val", "novel_val"]
LabelNames = Literal["corrected", "official"]
LABEL_NAMES: tuple[str, ...] = ("corrected", "official")
_SPLIT_FILE = re.compile(r"^(fs_base_s([123])_train|base_train|base_val|novel_val)\.txt$")


@dataclass(frozen=True)
class B2NDataset:
    """Where one dataset's base-to-novel files live in the ViFi-CLIP layout."""

    split_dir: str
    prefix: str
    full_labels: str
    halves: tuple[int, int]  # (base, novel) class counts
    display: Callable[[str], str] = str  # class name as a text prompt
    name_class: Callable[[str, list[str]], str | None] | None = None  # class a file name carries

    def class_file(self, labels_dir: Path, half: str) -> Path:
        return labels_dir / f"{self.prefix}_{half}_labels.csv"


DATASETS: dict[str, B2NDataset] = {
    "k400": B2NDataset("k400_splits", "kinetics_400", "kinetics_400_labels.csv", (200, 200)),
    "hmdb": B2NDataset(
        "hmdb_splits", "hmdb_51", "hmdb_51_labels.csv", (26, 25), name_class=hmdb51.name_class
    ),
    "ucf": B2NDataset(
        "ucf_splits", "ucf_101", "ucf_101_labels.csv", (51, 50), split_camel, ucf101.name_class
    ),
    "ssv2": B2NDataset("ssv2_splits", "ssv2_174", "ssv2_labels.csv", (87, 87)),
}


def dataset_layout(dataset: str) -> B2NDataset:
    """The table entry of ``dataset``; an unknown name is a configuration error."""
    if dataset not in DATASETS:
        raise ConfigError(
            f"unknown base-to-novel dataset {dataset!r}; known: {', '.join(DATASETS)}"
        )
    return DATASETS[dataset]


def read_b2n(
    root: Path,
    *,
    dataset: str,
    subset: Subset = "fewshot",
    shot_split: int = 1,
    video_root: Path | None = None,
    label_names: LabelNames = "official",
    check_files: bool = False,
) -> VideoSet:
    """One split file of ``dataset`` (k400/hmdb/ucf/ssv2) from a ViFi-CLIP-layout ``root``;
    ``shot_split`` picks ``fs_base_s{1,2,3}_train.txt`` for ``subset="fewshot"``;
    ``label_names`` as in :func:`read_b2n_file`."""
    root, ds = Path(root), dataset_layout(dataset)
    fname = f"fs_base_s{shot_split}_train" if subset == "fewshot" else subset
    split_file = root / "datasets_splits" / "base2novel_splits" / ds.split_dir / f"{fname}.txt"
    half = "novel" if subset == "novel_val" else "base"
    class_file = ds.class_file(root / "labels", half)
    require(
        f"b2n-{dataset}", root, LAYOUT, {split_file.name: split_file, class_file.name: class_file}
    )
    other = ds.class_file(root / "labels", "base" if half == "novel" else "novel")
    return read_b2n_file(
        split_file,
        class_file,
        dataset=dataset,
        video_root=video_root or root,
        other_half=other if other.exists() else None,
        full_labels=root / "labels" / ds.full_labels,
        label_names=label_names,
        check_files=check_files,
    )


def read_b2n_file(
    split_file: Path,
    class_file: Path,
    *,
    dataset: str,
    video_root: Path,
    shots: int = 16,
    other_half: Path | None = None,
    full_labels: Path | None = None,
    label_names: LabelNames = "official",
    check_files: bool = False,
) -> VideoSet:
    """Read one split file against its half's class list; few-shot files must hold ``shots``
    videos of every class. Where file names carry the class (UCF101, HMDB51) they are checked
    against the class list; ``label_names="corrected"`` renames each index whose videos all
    name another class of the list to that class (recorded in ``info["renamed_labels"]``)."""
    split_file, ds = Path(split_file), dataset_layout(dataset)
    if label_names not in LABEL_NAMES:
        raise ConfigError(f"label_names must be one of {LABEL_NAMES}, not {label_names!r}")
    half = "novel" if "novel" in split_file.name else "base"
    official = load_label_map(class_file)
    entries, _ = parse_list(split_file)
    problems = Problems()
    carried = _carried_classes(entries, official, ds, full_labels)
    raw, renames, check = _class_names(entries, carried, official, label_names)
    check.report(problems)
    records, loc = _records(entries, carried, raw, Path(video_root))
    few_shot = split_file.name.startswith("fs_")
    if few_shot:
        _check_shots(records, raw, shots, problems)
    published = ds.halves[half == "novel"]
    if len(raw) != published:
        problems.add(
            f"{half} class lists of another size than published", f"{len(raw)} vs {published}"
        )
    _check_halves(raw, class_file, other_half, full_labels, problems)
    vs = VideoSet(
        name=f"b2n-{dataset}",
        split=split_file.stem,
        records=records,
        class_names=[ds.display(n) for n in raw],
        root=Path(video_root),
        info={
            "format": "b2n",
            "split_file": str(split_file),
            "class_file": str(class_file),
            "half": half,
            "labels": "local to the half",
            "raw_class_names": raw,
            "videos_dir": loc.describe(),
            "path_classes": check.summary(),
            "label_names": label_names,
        },
    )
    if label_names == "corrected":
        vs.info["renamed_labels"] = renamed_labels(renames, official, check)
    if few_shot:
        vs.info["shots"] = shots
    return finish(vs, problems, check_files)


def _carried_classes(
    entries: list[Entry], names: list[str], ds: B2NDataset, full_labels: Path | None
) -> list[Carried | None]:
    """The class each entry's path carries (class folder or file name), read against the
    half's names plus the full label map's, so a class of the other half is recognised too."""
    vocabulary = list(names)
    if full_labels is not None and Path(full_labels).exists():
        mine = {class_key(n) for n in names}
        vocabulary += [n for n in load_label_map(full_labels) if class_key(n) not in mine]
    read = PathClassReader(vocabulary, (ds.name_class,) if ds.name_class else ())
    return [read(e.rel) for e in entries]


def _class_names(
    entries: list[Entry],
    carried: list[Carried | None],
    official: list[str],
    label_names: LabelNames,
) -> tuple[list[str], dict[int, str], PathClassCheck]:
    """The half's class names — as shipped, or each index renamed to the class its videos'
    paths all carry — with the renames and the evidence, checked against the names used."""
    check = PathClassCheck(official)
    for e, c in zip(entries, carried, strict=True):
        check.add(e.label, c, e.line.where())
    renames = check.repair() if label_names == "corrected" else {}
    return [renames.get(i, n) for i, n in enumerate(official)], renames, check.renamed(renames)


def _check_shots(
    records: list[VideoRecord], names: list[str], shots: int, problems: Problems
) -> None:
    """A few-shot file must hold exactly ``shots`` videos of every class."""
    counts = collections.Counter(r.label for r in records)
    for c in range(len(names)):
        if counts[c] != shots:
            problems.add(f"classes without exactly {shots} shots", f"{names[c]}: {counts[c]}")


def _records(
    entries: list[Entry], carried: list[Carried | None], raw: list[str], video_root: Path
) -> tuple[list[VideoRecord], VideoLocator]:
    """Records at ``<video_root>/[<class folder>/]<entry>``; the class folder is the class the
    path carries, else the label's name (probed on the first entry, as the layout decides)."""

    def folder(i: int) -> str | None:
        e, c = entries[i], carried[i]
        name = c.name if c else raw[e.label] if 0 <= e.label < len(raw) else None
        return name.replace(" ", "_") if name else None

    loc = locate_videos(
        video_root, entries[0].rel if entries else None, folder(0) if entries else None
    )
    records = [
        VideoRecord(Path(e.rel).stem, loc.path(e.rel, folder(i)), e.label)
        for i, e in enumerate(entries)
    ]
    return records, loc


def renamed_labels(
    renames: dict[int, str], official: list[str], check: PathClassCheck
) -> dict[str, dict[str, Any]]:
    """``{index: {official, corrected, videos}}`` for the info record of a corrected list."""
    return {
        str(i): {
            "official": official[i],
            "corrected": name,
            "videos": sum(check.carried.get(i, {}).values()),
        }
        for i, name in sorted(renames.items())
    }


def _check_halves(
    names: list[str], this: Path, other: Path | None, full: Path | None, problems: Problems
) -> None:
    """Base and novel must not share a class and, with the full map, must cover it exactly."""
    if other is None or not Path(other).exists():
        return
    mine, theirs = {norm_name(n) for n in names}, {norm_name(n) for n in load_label_map(other)}
    for n in sorted(mine & theirs):
        problems.add("classes in both halves", f"{n} ({this.name} and {Path(other).name})")
    if full is not None and Path(full).exists():
        everything = {norm_name(n) for n in load_label_map(full)}
        for n in sorted(everything - mine - theirs):
            problems.add("classes of the full label map in neither half", n)
        for n in sorted((mine | theirs) - everything):
            problems.add("half classes not in the full label map", n)


def most_frequent_half(videoset: VideoSet, seed: int | None = None) -> tuple[list[int], list[int]]:
    """Split the classes into base (the ceil(K/2) most frequent) and novel (the rest).

    Classes are ranked by video count, highest first. Among equal counts the higher class
    index ranks first when ``seed`` is None — the rule that reproduces ViFi-CLIP's UCF101 base
    half from ``trainlist01`` exactly — or a permutation drawn from ``seed`` decides. Either
    way the result depends only on the inputs. Both halves come back sorted by class index.
    (HMDB51 has 70 training videos in every class, so frequency cannot explain its shipped
    halves: use the official files there.)
    """
    k = videoset.num_classes
    counts = collections.Counter(r.label for r in videoset.records)
    tie = list(range(k))
    if seed is not None:
        seeded_rng(seed).shuffle(tie)
    order = sorted(range(k), key=lambda c: (counts[c], tie[c]), reverse=True)
    n_base = math.ceil(k / 2)
    return sorted(order[:n_base]), sorted(order[n_base:])


def sample_shots(
    videoset: VideoSet, classes: list[int], shots: int = 16, seed: int = 0
) -> VideoSet:
    """A few-shot training set: ``shots`` videos of each of ``classes``, relabelled 0..len-1
    in the order given. Per class the candidates are sorted by video id and drawn with one RNG
    seeded by ``seed`` (classes in the order given), so the draw is reproducible. A class with
    fewer videos keeps all of them and is reported."""
    rng = seeded_rng(seed)
    by_class: dict[int, list[VideoRecord]] = collections.defaultdict(list)
    for r in videoset.records:
        by_class[r.label].append(r)
    problems = Problems()
    picked: list[VideoRecord] = []
    for c in classes:
        pool = sorted(by_class[c], key=lambda r: r.video_id)
        if len(pool) < shots:
            problems.add(f"classes with fewer than {shots} videos", f"{c}: {len(pool)}")
            picked += pool
        else:
            picked += sorted(rng.sample(pool, shots), key=lambda r: r.video_id)
    vs = VideoSet(
        name=videoset.name,
        split=f"{videoset.split}-{shots}shot-seed{seed}",
        records=relabel(picked, {c: i for i, c in enumerate(classes)}),
        class_names=[videoset.class_names[c] for c in classes],
        root=videoset.root,
        is_frames=videoset.is_frames,
        frame_template=videoset.frame_template,
        info={**videoset.info, "shots": shots, "seed": seed, "source_classes": list(classes)},
    )
    return finish(vs, problems, check_files=False)


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Every ViFi-CLIP base-to-novel split file found among ``paths``, with its class lists:
    those among ``paths``, else those in a ``labels/`` folder above the split file (ViFi-CLIP
    keeps ``<root>/labels`` beside ``<root>/datasets_splits``)."""
    paths = [Path(p) for p in paths]
    splits = gather(paths, lambda p: bool(_SPLIT_FILE.match(p.name)))
    given = {p.name: p for p in gather(paths, lambda p: p.suffix == ".csv")}
    root = first_dir(paths) or Path(".")
    sets = []
    for f in splits:
        key = next((k for k, d in DATASETS.items() if f.parent.name == d.split_dir), None)
        if key is None:
            continue
        ds = DATASETS[key]
        half = "novel" if f.name.startswith("novel") else "base"
        other = "base" if half == "novel" else "novel"
        csvs = class_lists(f, ds, given)
        mine = ds.class_file(Path(), half).name
        if mine not in csvs:
            raise missing_class_list(f, mine)
        sets.append(
            read_b2n_file(
                f,
                csvs[mine],
                dataset=key,
                video_root=root,
                other_half=csvs.get(ds.class_file(Path(), other).name),
                full_labels=csvs.get(ds.full_labels),
            )
        )
    if not sets:
        no_split_files(paths, root)
    return sets


def labels_folders(split_file: Path, levels: int = 4) -> list[Path]:
    """``labels/`` folders beside the split file's folder and its parents, nearest first."""
    return [d / "labels" for d in Path(split_file).parents[:levels] if (d / "labels").is_dir()]


def class_lists(split_file: Path, ds: B2NDataset, given: dict[str, Path]) -> dict[str, Path]:
    """``{file name: path}`` of the half class lists and full map that ``split_file`` needs:
    the ones given, completed from the nearest ``labels/`` folder that has them."""
    wanted = [ds.class_file(Path(), h).name for h in ("base", "novel")] + [ds.full_labels]
    found = {n: given[n] for n in wanted if n in given}
    for folder in labels_folders(split_file):
        for n in wanted:
            if n not in found and (folder / n).is_file():
                found[n] = folder / n
    return found


def expected_labels_folder(split_file: Path) -> Path:
    """Where ViFi-CLIP keeps ``labels/`` for this split file: ``<root>/labels`` beside
    ``<root>/datasets_splits``; without that layout, beside the split file's folder."""
    split_file = Path(split_file).absolute()
    for d in split_file.parents:
        if d.name == "datasets_splits":
            return d.parent / "labels"
    return split_file.parent.parent / "labels"


def missing_class_list(split_file: Path, name: str) -> AnnotationError:
    """The one-line error for a split file whose half class list was neither given nor found:
    it names the folder to add (or, when that folder lacks the file, says so)."""
    expected = expected_labels_folder(split_file)
    if expected.is_dir():
        fix = f"{expected} lacks it: add the folder that holds {name} to the paths"
    else:
        fix = f"add {expected} (ViFi-CLIP's labels folder) to the paths"
    return AnnotationError(split_file, None, f"needs the class list {name}: {fix}")


def no_split_files(paths: list[Path], root: Path) -> None:
    """Raise for paths holding no base-to-novel split file; point a ViFi-CLIP few-shot /
    zero-shot folder (``datasets_splits/<ds>_splits``) to its base-to-novel sibling."""
    for p in paths:
        sibling = p.parent / "base2novel_splits" / p.name
        if p.is_dir() and p.parent.name == "datasets_splits" and sibling.is_dir():
            raise AnnotationError(
                p,
                None,
                "holds no base-to-novel split files (fs_base_s{1,2,3}_train.txt, base_val.txt, "
                f"novel_val.txt); ViFi-CLIP keeps them in {sibling}: pass that folder instead",
            )
    require("b2n", root, LAYOUT, {"<ds>_splits/<split>.txt": None})
