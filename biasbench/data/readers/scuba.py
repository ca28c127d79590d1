"""SCUBA (StillMix) rawframe lists: foreground actions pasted onto new backgrounds.

List lines are ``<frame_dir> <num_frames> <label>``; a frame folder is ``<video>__<k>`` with
``k`` the background variant index, holding ``frame%06d.jpg`` (UCF101, HMDB51) or ``%06d.jpg``
(K400), numbered from 1. Each record keeps the source video id and ``k`` in ``meta`` so SCUBA
and SCUFO predictions can be paired by video. One list file per background family
(Places365, VQGAN-CLIP, sinusoidal stripes). SCUBA ships no class names: the caller gives the
label map of the dataset the list was made from, and where the source video names carry their
class (UCF101, HMDB51) they are checked against it.
"""

from __future__ import annotations

import re
from pathlib import Path

from biasbench.data.readers.common import (
    Line,
    Problems,
    check_path_classes,
    finish,
    first_dir,
    gather,
    locate_videos,
    parse_int,
    read_lines,
    require,
)
from biasbench.data.readers.kinetics import NAME_RULES
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import ConfigError

LAYOUT = """\
<root>/                               one benchmark, e.g. UCF101-SCUBA/
  <list>.txt                          "<frame_dir> <num_frames> <label>", one list per
                                      background family; its name or folder names the family
                                      (place365 | vqgan | stripe)
  <frame_dir>/frame000001.jpg ...     UCF101 / HMDB51: <frame_dir> = [...]/<video>__<k>
  <frame_dir>/000001.jpg ...          K400: <frame_dir> = [...]/<video_id>__0
"""

# canonical variant -> words that name it in file or folder names
VARIANTS: dict[str, tuple[str, ...]] = {
    "places365": ("places365", "place365", "places"),
    "vqgan-clip": ("vqgan",),
    "stripes": ("stripe", "sinusoid"),
}
TEMPLATES = ("frame{:06d}.jpg", "{:06d}.jpg")
_K400_ID = re.compile(r"_\d{6}_\d{6}$")


def variant_of(path: Path) -> str | None:
    """The background family a list's name or its two parent folders name, if any."""
    text = "/".join(Path(path).parts[-3:]).lower()
    return next((v for v, words in VARIANTS.items() if any(w in text for w in words)), None)


def parse_line(line: Line) -> tuple[str, int, int]:
    """``(frame_dir, num_frames, label)``; the folder may contain spaces (split from the right)."""
    parts = line.text.rsplit(None, 2)
    if len(parts) != 3:
        raise line.error("expected '<frame_dir> <num_frames> <label>'")
    return parts[0], parse_int(line, parts[1], "num_frames"), parse_int(line, parts[2], "label")


def split_folder(line: Line, frame_dir: str) -> tuple[str, int]:
    """``".../<video>__<k>"`` -> ``(video, k)``."""
    video, sep, k = Path(frame_dir).name.rpartition("__")
    if not sep or not video or not k.isdigit():
        raise line.error("frame folder must end in '<video>__<k>'")
    return video, int(k)


def detect_template(folder: Path, video: str) -> tuple[str, str]:
    """The frame file template and how it was decided: from disk if the folder exists,
    else from the name (K400 ids end in ``_<start6>_<end6>``), else the UCF/HMDB default."""
    for t in TEMPLATES:
        if (folder / t.format(1)).exists():
            return t, "frame 1 found on disk"
    if _K400_ID.search(video):
        return "{:06d}.jpg", "K400-style video id"
    return "frame{:06d}.jpg", "default for UCF101/HMDB51"


def read_scuba(
    list_file: Path,
    root: Path | None = None,
    *,
    class_names: list[str] | None = None,
    variant: str | None = None,
    name: str = "scuba",
    frame_template: str | None = None,
    check_files: bool = False,
) -> VideoSet:
    """One SCUBA list; frame folders under ``root`` (default: the list's folder or its
    ``frames/`` subfolder, whichever holds the first one). Without
    ``class_names`` the classes are numbered placeholders (said so in ``info``)."""
    list_file = Path(list_file)
    require(name, Path(root or list_file.parent), LAYOUT, {list_file.name: list_file})
    lines = read_lines(list_file)
    if root is None:  # frame folders next to the list, or in its frames/ subfolder
        first = parse_line(lines[0])[0] if lines else None
        root = locate_videos(list_file.parent, first, sub="frames").base
    root = Path(root)
    variant = variant or variant_of(list_file)
    problems = Problems()
    records = []
    named: list[tuple[str, int, str]] = []  # (source video, label, where) for the name check
    for line in lines:
        frame_dir, n, label = parse_line(line)
        video, k = split_folder(line, frame_dir)
        if n <= 0:
            problems.add("folders with no frames", line.where())
        meta = {"source_video": video, "background": k, "variant": variant}
        records.append(VideoRecord(Path(frame_dir).name, root / frame_dir, label, n, meta))
        named.append((video, label, line.where()))
    if frame_template:
        how = "given"
    elif records:
        frame_template, how = detect_template(records[0].path, records[0].meta["source_video"])
    else:
        frame_template, how = TEMPLATES[0], "default for UCF101/HMDB51"
    names_from = "given by caller"
    if class_names is None:
        k = max((r.label for r in records), default=-1) + 1
        class_names = [f"class {i}" for i in range(k)]
        names_from = "numbered placeholders: no label map given"
    else:  # UCF101 / HMDB51 source video names carry their class: check the caller's map
        check_path_classes(named, list(class_names), problems, NAME_RULES)
    vs = VideoSet(
        name=name,
        split=variant or list_file.stem,
        records=records,
        class_names=list(class_names),
        root=root,
        is_frames=True,
        frame_template=frame_template,
        info={
            "format": "scuba",
            "list_file": str(list_file),
            "variant": variant,
            "frame_template_source": how,
            "class_names": names_from,
            "backgrounds": sorted({r.meta["background"] for r in records}),
            "source_videos": len({r.meta["source_video"] for r in records}),
        },
    )
    return finish(vs, problems, check_files)


def canonical_variant(variant: str) -> str:
    """``"place365"``, ``"Places365"``, ``"vqgan"``, ``"stripe"``... -> the canonical key."""
    v = variant.lower()
    for key, words in VARIANTS.items():
        if v == key or any(w in v for w in words):
            return key
    raise ConfigError(f"unknown SCUBA variant {variant!r}; known: {', '.join(VARIANTS)}")


def read_scuba_variant(
    root: Path,
    *,
    variant: str = "places365",
    class_names: list[str] | None = None,
    name: str = "scuba",
    check_files: bool = False,
) -> VideoSet:
    """The list of one background family found under ``root`` (its name or folder names it)."""
    root, key = Path(root), canonical_variant(variant)
    found = find_variant_lists(root).get(key, [])
    require(name, root, LAYOUT, {f"<list>.txt naming {key}": found[0] if found else None})
    if len(found) > 1:
        raise ConfigError(f"several {key} lists under {root}: {', '.join(map(str, found))}")
    return read_scuba(
        found[0],
        class_names=class_names,
        root=None,
        variant=key,
        name=name,
        check_files=check_files,
    )


def find_variant_lists(root: Path, max_depth: int = 3) -> dict[str | None, list[Path]]:
    """Every SCUBA list under ``root`` by the background family its name or folders name
    (canonical key; ``None``: lists that name none)."""
    found: dict[str | None, list[Path]] = {}
    for p in sorted(gather([Path(root)], _is_scuba_list, max_depth=max_depth)):
        found.setdefault(variant_of(p), []).append(p)
    return found


def _is_scuba_list(p: Path) -> bool:
    if p.suffix != ".txt":
        return False
    try:
        with open(p, encoding="utf-8-sig", errors="replace") as f:
            first = f.readline().strip()
    except OSError:
        return False
    parts = first.rsplit(None, 2)
    return len(parts) == 3 and "__" in parts[0] and parts[1].isdigit() and parts[2].isdigit()


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Every SCUBA list found among ``paths``, classes as numbered placeholders."""
    paths = [Path(p) for p in paths]
    lists = gather(paths, _is_scuba_list)
    require("scuba", first_dir(paths) or Path("."), LAYOUT, {"<list>.txt": next(iter(lists), None)})
    return [read_scuba(p) for p in lists]
