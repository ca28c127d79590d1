"""Base-to-novel splits in the ViFi-CLIP layout, and how to make them when none are given.

Split files list ``<video> <label>`` with labels local to their half (base 0..B-1, novel
0..N-1), each read against that half's class list (``labels/<prefix>_{base,novel}_labels.csv``).
When the full label map is present too, the halves are checked to be disjoint and to cover it.
:func:`most_frequent_half` and :func:`sample_shots` rebuild such splits deterministically.
"""

from __future__ import annotations

import collections
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from biasbench.data.readers import hmdb51, ucf101
from biasbench.data.readers.common import (
    Problems,
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
from biasbench.data.readers.kinetics import parse_list
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import ConfigError

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
    check_files: bool = False,
) -> VideoSet:
    """One split file of ``dataset`` (k400/hmdb/ucf/ssv2) from a ViFi-CLIP-layout ``root``;
    ``shot_split`` picks ``fs_base_s{1,2,3}_train.txt`` for ``subset="fewshot"``."""
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
    check_files: bool = False,
) -> VideoSet:
    """Read one split file against its half's class list; few-shot files must hold ``shots``
    videos of every class."""
    split_file, ds = Path(split_file), dataset_layout(dataset)
    half = "novel" if "novel" in split_file.name else "base"
    raw = load_label_map(class_file)
    entries, _ = parse_list(split_file)
    problems = Problems()
    first = entries[0] if entries else None
    cls0 = raw[first.label].replace(" ", "_") if first and 0 <= first.label < len(raw) else None
    loc = locate_videos(Path(video_root), first.rel if first else None, cls0)
    records = [
        VideoRecord(
            Path(e.rel).stem,
            loc.path(e.rel, raw[e.label].replace(" ", "_") if 0 <= e.label < len(raw) else None),
            e.label,
        )
        for e in entries
    ]
    few_shot = split_file.name.startswith("fs_")
    if few_shot:
        counts = collections.Counter(r.label for r in records)
        for c in range(len(raw)):
            if counts[c] != shots:
                problems.add(f"classes without exactly {shots} shots", f"{raw[c]}: {counts[c]}")
    published = ds.halves[half == "novel"]
    if len(raw) != published:
        problems.add(
            f"{half} class lists of another size than published", f"{len(raw)} vs {published}"
        )
    if ds.name_class is not None:
        _check_names(records, raw, ds.name_class, problems)
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
        },
    )
    if few_shot:
        vs.info["shots"] = shots
    return finish(vs, problems, check_files)


def _check_names(
    records: list[VideoRecord],
    raw: list[str],
    name_class: Callable[[str, list[str]], str | None],
    problems: Problems,
) -> None:
    """UCF101 and HMDB51 file names carry their class: it must be the label's class name."""
    for r in records:
        named = name_class(r.video_id, raw)
        if named is not None and 0 <= r.label < len(raw) and named != raw[r.label]:
            problems.add(
                "videos whose file name names another class than their label",
                f"{r.video_id} is labelled {raw[r.label]!r}",
            )


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
    """Every ViFi-CLIP base-to-novel split file found among ``paths``, with its class list."""
    paths = [Path(p) for p in paths]
    splits = gather(paths, lambda p: bool(_SPLIT_FILE.match(p.name)))
    csvs = {p.name: p for p in gather(paths, lambda p: p.suffix == ".csv")}
    root = first_dir(paths) or Path(".")
    sets = []
    for f in splits:
        key = next((k for k, d in DATASETS.items() if f.parent.name == d.split_dir), None)
        if key is None:
            continue
        ds = DATASETS[key]
        half = "novel" if f.name.startswith("novel") else "base"
        other = "base" if half == "novel" else "novel"
        class_file = csvs.get(f"{ds.prefix}_{half}_labels.csv")
        require(f"b2n-{key}", root, LAYOUT, {f"{ds.prefix}_{half}_labels.csv": class_file})
        assert class_file is not None
        sets.append(
            read_b2n_file(
                f,
                class_file,
                dataset=key,
                video_root=root,
                other_half=csvs.get(f"{ds.prefix}_{other}_labels.csv"),
                full_labels=csvs.get(ds.full_labels),
            )
        )
    if not sets:
        require("b2n", root, LAYOUT, {"<ds>_splits/<split>.txt": None})
    return sets
