"""HAT Action-Swap sets: a foreground human pasted onto another video's inpainted background.

A HAT folder holds ``ori/`` (frames), ``seg/`` (human masks) and ``inp/`` (inpainted
backgrounds) per ``<class>/<video>``, frames ``{:06d}`` from 1. A swap-pair file maps each
foreground video to ``[background video, its frame count, its class index]``; there are four
kinds (Close, Far, Random, Same) x 3 repeats. Records are the foreground videos, labelled with
the foreground class (the score is taken against it); the background is in ``meta``.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

from biasbench.data.annotations import read_annotation
from biasbench.data.readers.common import (
    Problems,
    finish,
    first_dir,
    gather,
    norm_name,
    read_json,
    read_lines,
    require,
)
from biasbench.data.readers.scuba import parse_line
from biasbench.data.videoset import VideoRecord, VideoSet
from biasbench.errors import AnnotationError

LAYOUT = """\
<root>/                                 e.g. HAT/data/kinetics400, or a UCF101 HAT folder
  ori/<class>/<video>/000001.jpg ...    original frames, numbered from 1
  seg/<class>/<video>/000001.png ...    human masks
  inp/<class>/<video>/000001.jpg ...    inpainted backgrounds (the human removed)
  <name>_rawframes.txt                  optional: "<class>/<video> <num_frames> <label>"
  actionswap_{close,far,rand,same}_{1,2,3}.pickle (or .json)
      {"<class>/<video>": ["<bg class>/<bg video>", <bg num_frames>, <bg class index>]}
"""

SWAPS = {"close": "Close", "far": "Far", "rand": "Random", "same": "Same"}
FRAME_TEMPLATE = "{:06d}.jpg"
MASK_TEMPLATE = "{:06d}.png"
_PAIR_FILE = re.compile(r"^actionswap_(close|far|rand|same)_(\d+)\.(pickle|pkl|json)$")
Pair = tuple[str, int, int]


class _PlainUnpickler(pickle.Unpickler):
    """Loads only built-in containers and scalars: a pair file can never run code."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_pairs(path: Path) -> dict[str, Pair]:
    """``{fg "<class>/<video>": (bg "<class>/<video>", bg_num_frames, bg_label)}`` from a
    pickle (HAT's own files) or json file; any other shape is an AnnotationError."""
    path = Path(path)
    if path.suffix == ".json":
        data = read_json(path)
    else:
        try:
            data = _PlainUnpickler(io.BytesIO(read_annotation(path))).load()
        except FileNotFoundError:
            raise AnnotationError(path, None, "file not found") from None
        except Exception as e:  # a broken or hostile pickle: any failure means "not a pair file"
            raise AnnotationError(path, None, f"not a plain pickled dict: {e}") from None
    if not isinstance(data, dict):
        raise AnnotationError(path, None, "expected a dict of fg video -> [bg, frames, class]")
    pairs: dict[str, Pair] = {}
    for fg, v in data.items():
        ok = isinstance(fg, str) and isinstance(v, (list, tuple)) and len(v) == 3
        if not ok or not isinstance(v[0], str) or not all(isinstance(x, int) for x in v[1:]):
            raise AnnotationError(path, None, f"entry {fg!r}: expected [bg_video, frames, class]")
        pairs[fg] = (v[0], int(v[1]), int(v[2]))
    return pairs


def read_video_list(path: Path) -> dict[str, tuple[int, int]]:
    """``{"<class>/<video>": (num_frames, label)}`` from a rawframe list."""
    out = {}
    for line in read_lines(path):
        folder, n, label = parse_line(line)
        out[folder] = (n, label)
    return out


def class_names_from(
    pair_sets: list[dict[str, Pair]], videos: dict[str, tuple[int, int]]
) -> list[str]:
    """Class names recovered from background class indices (and list labels); indices no
    file names get ``"class <i>"``."""
    index: dict[int, str] = {}
    for pairs in pair_sets:
        for bg, _, c in pairs.values():
            index.setdefault(c, bg.split("/")[0])
    for key, (_, label) in videos.items():
        index.setdefault(label, key.split("/")[0])
    k = max(index, default=-1) + 1
    return [index.get(i, f"class {i}") for i in range(k)]


def read_hat(
    pair_file: Path,
    *,
    root: Path,
    class_names: list[str] | None = None,
    video_list: Path | None = None,
    check_files: bool = False,
) -> VideoSet:
    """One Action-Swap set. ``class_names`` is the vocabulary the class indices refer to
    (default: recovered from the pair file); ``video_list`` adds frame counts and a check of
    the foreground labels."""
    pair_file, root = Path(pair_file), Path(root)
    require("hat", root, LAYOUT, {pair_file.name: pair_file})
    pairs = load_pairs(pair_file)
    videos = read_video_list(video_list) if video_list else {}
    names = list(class_names) if class_names else class_names_from([pairs], videos)
    index = {norm_name(n): i for i, n in enumerate(names)}
    m = _PAIR_FILE.match(pair_file.name)
    swap = m.group(1) if m else None
    problems = Problems()
    records = []
    for fg, (bg, bg_frames, bg_label) in sorted(pairs.items()):
        fg_class, bg_class = fg.split("/")[0], bg.split("/")[0]
        label = index.get(norm_name(fg_class))
        _check_pair(fg, bg, bg_frames, bg_label, names, swap, problems)
        if label is None:
            problems.add("foreground classes not in the label map (skipped)", fg)
            continue
        n = None
        if videos:
            if fg not in videos:
                problems.add("foreground videos not in the video list", fg)
            else:
                n = videos[fg][0]
                if videos[fg][1] != label:
                    problems.add("video-list labels that disagree with the class name", fg)
        meta = {
            "fg_video": fg,
            "seg": root / "seg" / fg,
            "bg_video": bg,
            "bg_path": root / "inp" / bg,
            "bg_seg": root / "seg" / bg,
            "bg_num_frames": bg_frames,
            "bg_label": bg_label,
            "bg_class": bg_class,
            "swap": swap,
        }
        records.append(VideoRecord(Path(fg).name, root / "ori" / fg, label, n, meta))
    if check_files:
        for r in records:
            for key in ("seg", "bg_path", "bg_seg"):
                if not r.meta[key].exists():
                    problems.add(f"{key} folders missing", str(r.meta[key]))
    vs = VideoSet(
        name="hat",
        split=pair_file.stem.replace("actionswap_", ""),
        records=records,
        class_names=names,
        root=root,
        is_frames=True,
        frame_template=FRAME_TEMPLATE,
        info={
            "format": "hat",
            "pair_file": str(pair_file),
            "swap": SWAPS.get(swap or "", swap),
            "repeat": int(m.group(2)) if m else None,
            "video_list": str(video_list) if video_list else None,
            "mask_template": MASK_TEMPLATE,
            "label": "foreground class",
            "class_names": "given by caller" if class_names else "recovered from the pair file",
        },
    )
    return finish(vs, problems, check_files)


def _check_pair(
    fg: str, bg: str, frames: int, bg_label: int, names: list[str], swap: str | None, p: Problems
) -> None:
    fg_class, bg_class = fg.split("/")[0], bg.split("/")[0]
    if fg == bg:
        p.add("pairs that swap a video with itself", fg)
    if frames <= 0:
        p.add("backgrounds with no frames", f"{fg} -> {bg}")
    if not 0 <= bg_label < len(names) or norm_name(names[bg_label]) != norm_name(bg_class):
        p.add("background class indices that disagree with the label map", f"{bg} -> {bg_label}")
    same = norm_name(fg_class) == norm_name(bg_class)
    if swap == "same" and not same:
        p.add("Same pairs with different classes", f"{fg} -> {bg}")
    elif swap in ("close", "far", "rand") and same:
        p.add(f"{SWAPS[swap]} pairs within one class", f"{fg} -> {bg}")


def _is_rawframe_list(p: Path) -> bool:
    return p.suffix == ".txt" and "rawframes" in p.name


def inspect(paths: list[Path]) -> list[VideoSet]:
    """Every swap-pair file found among ``paths``; class names recovered from all of them
    together (Random pairs cover every class)."""
    paths = [Path(p) for p in paths]
    pair_files = gather(paths, lambda p: bool(_PAIR_FILE.match(p.name)))
    video_list = next(iter(gather(paths, _is_rawframe_list)), None)
    dirs = [p for p in paths if p.is_dir()]
    root = next((d for d in dirs if (d / "ori").is_dir()), None) or first_dir(paths)
    root = root or (pair_files[0].parent if pair_files else Path("."))
    require("hat", root, LAYOUT, {"actionswap_<kind>_<n>.pickle": next(iter(pair_files), None)})
    videos = read_video_list(video_list) if video_list else {}
    names = class_names_from([load_pairs(p) for p in pair_files], videos)
    return [read_hat(p, root=root, class_names=names, video_list=video_list) for p in pair_files]
