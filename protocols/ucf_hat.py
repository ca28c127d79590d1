"""Protocol ``ucf-hat``: K400-trained learners on UCF-HAT Action-Swap Close and Far.

Open-MeDe paper Table 3 / supplementary A.1-A.2, after HAT (Chung et al. 2022): each video of
UCF101's first test split is composed online from its foreground human (``ori/`` masked by
``seg/``) pasted onto another video's inpainted background (``inp/``) at the same relative
times, mask centres aligned (:mod:`biasbench.data.hat_compose`). *Close* backgrounds come from
the 5 classes closest to the foreground's, *Far* from the 30 farthest. A swap is scored
against the foreground label with the UCF101 vocabulary. Only videos whose human masks cover
5-50 % of every frame count (setting ``mask_coverage``; the share kept is recorded).

Reported per set: top-1 / top-5, and ``*_bg_pred``: how often the top-1 prediction is the
background video's class (lower is better: the model followed the scene, not the actor);
``hat_top1`` / ``hat_top5`` pool Close and Far videos. Several pair-file repeats (setting
``repeats``) are averaged, with their std.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from biasbench import metrics as M
from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import ConfigError, UnreadableInputError
from biasbench.protocols.base import DatasetNeed, Episode, EvalRequest, Protocol
from biasbench.protocols.xd import K400_TRAIN, kinetics_train
from biasbench.results import Metric, SetResult

KINDS = ("close", "far")
PAIR_SUFFIXES = (".pickle", ".pkl", ".json")


def keep_by_mask_coverage(
    sets: list[VideoSet], bounds: tuple[float, float] | None
) -> dict[str, Any]:
    """Drop (in place) swap records whose foreground masks leave ``bounds`` on some frame.

    A foreground whose masks cannot be read is kept: composing it fails later, and it is then
    counted and listed as unreadable instead of silently vanishing. Returns what was done.
    """
    if bounds is None:
        return {"mask_coverage_rule": "none"}
    from biasbench.data.hat_compose import mask_coverage

    lo, hi = (float(b) for b in bounds)
    folders = sorted({(str(r.meta["seg"]), r.num_frames) for vs in sets for r in vs.records})

    def cover(item: tuple[str, int | None]) -> tuple[float, float] | None:
        try:
            return mask_coverage(Path(item[0]), item[1])
        except UnreadableInputError:
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        shares = dict(zip((f for f, _ in folders), pool.map(cover, folders), strict=True))
    before = sum(len(vs) for vs in sets)
    for vs in sets:
        vs.records = [
            r
            for r in vs.records
            if (c := shares[str(r.meta["seg"])]) is None or (lo <= c[0] and c[1] <= hi)
        ]
    return {
        "mask_coverage_rule": f"foreground masks cover {lo:.0%}-{hi:.0%} of every frame",
        "swaps_before_filter": before,
        "swaps_kept": sum(len(vs) for vs in sets),
        "foregrounds_without_readable_masks": sum(c is None for c in shares.values()),
    }


def background_predicted(res: SetResult, bg_labels: dict[str, int]) -> float:
    """% of scored videos whose top-1 prediction is their background video's class."""
    if not res.n:
        return float("nan")
    top = res.scores.argmax(axis=1)
    hits = [int(t) == bg_labels[i] for t, i in zip(top, res.ids, strict=True)]
    return 100.0 * float(np.mean(hits))


class ActionSwapProtocol(Protocol):
    """Shared shape of the HAT protocols: Close and Far sets per repeat, and their metrics."""

    family = "xd"

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        self._backgrounds: dict[str, dict[str, int]] = {}  # eval key -> video id -> bg class

    def swap_requests(
        self,
        pair_files: dict[tuple[str, int], Path],
        root: Path,
        raw_names: list[str],
        display_names: list[str],
        video_list: Path | None,
    ) -> list[EvalRequest]:
        """One evaluation request per (kind, repeat), filtered by the mask-coverage rule."""
        from biasbench.data.readers.hat import read_hat

        sets = {}
        for (kind, r), f in sorted(pair_files.items()):
            vs = read_hat(f, root=root, class_names=raw_names, video_list=video_list)
            vs.class_names = list(display_names)  # same order; prompts use readable names
            sets[f"{kind}{r}"] = vs
        info = keep_by_mask_coverage(list(sets.values()), self.settings.mask_coverage)
        self._backgrounds = {
            k: {r.video_id: int(r.meta["bg_label"]) for r in vs.records} for k, vs in sets.items()
        }
        return [
            EvalRequest(k, vs, "out", info={**info, "label": "foreground class"})
            for k, vs in sets.items()
        ]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        """Per kind: top-1/5 and background-class predictions (means over repeats, with std
        when there are several); then Close and Far videos pooled."""
        if not self._backgrounds:
            raise RuntimeError("aggregate() needs the background classes that episodes() reads")
        sets = results["main"]
        out: list[Metric] = []
        for kind in KINDS:
            mine = [sets[k] for k in sorted(sets) if k.rstrip("0123456789") == kind]
            n = sum(s.n for s in mine)
            per_set = {
                f"{kind}_top1": ([s.top1() for s in mine], True, ""),
                f"{kind}_top5": ([s.top5() for s in mine], True, ""),
                f"{kind}_bg_pred": (
                    [background_predicted(s, self._backgrounds[s.key]) for s in mine],
                    False,
                    "% of videos predicted as the background video's class",
                ),
            }
            for name, (values, higher, note) in per_set.items():
                mean, std = M.mean_std(values)
                spread = std if len(mine) > 1 else None
                out.append(Metric(name, mean, higher, n=n, std=spread, note=note))
        scored = [s for s in sets.values() if s.n]
        total = sum(s.n for s in scored)
        for k in (1, 5):
            hits = sum(float(s.correct(k).sum()) for s in scored)
            value = 100.0 * hits / total if total else float("nan")
            out.append(Metric(f"hat_top{k}", value, n=total, note="Close and Far videos pooled"))
        return out


def find_pair_files(root: Path, repeats: tuple[int, ...]) -> dict[tuple[str, int], Path]:
    """``actionswap_{close,far}_{r}`` (.pickle / .pkl / .json) of each wanted repeat."""
    from biasbench.data.readers.common import require
    from biasbench.data.readers.hat import LAYOUT

    found, missing = {}, {}
    for kind in KINDS:
        for r in repeats:
            name = f"actionswap_{kind}_{r}"
            path = next(
                (root / (name + s) for s in PAIR_SUFFIXES if (root / (name + s)).is_file()), None
            )
            found[(kind, int(r))] = path
            missing[f"{name}.pickle"] = path
    require("ucf_hat", root, LAYOUT, missing)
    return found  # type: ignore[return-value]


class UcfHat(ActionSwapProtocol):
    """K400 -> UCF-HAT Action-Swap Close and Far."""

    name = "ucf-hat"
    summary = "K400-trained; UCF-HAT Action-Swap Close / Far"
    needs = (
        K400_TRAIN,
        DatasetNeed("ucf101", "ucf101", "classInd.txt: the class order of the pairs", "UCF101"),
        DatasetNeed("ucf_hat", "hat", "ori/ seg/ inp/ frames + Close/Far pair files", "UCF101-HAT"),
    )

    @dataclass(frozen=True)
    class Settings:
        """``repeats``: pair-file repeats evaluated (1..3); ``mask_coverage``: keep swaps whose
        foreground masks cover [lo, hi] of every frame (null: keep all)."""

        repeats: tuple[int, ...] = (1,)
        mask_coverage: tuple[float, float] | None = (0.05, 0.5)

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.data.readers.common import split_camel

        if not self.settings.repeats:
            raise ConfigError("protocol.repeats must name at least one repeat (1, 2 or 3)")
        raw = _ucf_classes(self.open_dataset(data, "ucf101"))
        hat = self.open_dataset(data, "ucf_hat")
        root = hat["root"]
        video_list = root / hat["video_list"] if "video_list" in hat else _rawframe_list(root)
        pairs = find_pair_files(root / hat.get("pairs_dir", "."), tuple(self.settings.repeats))
        evals = self.swap_requests(pairs, root, raw, [split_camel(n) for n in raw], video_list)
        train = kinetics_train(self, data) if with_train else None
        return [Episode("main", train, evals)]


def _ucf_classes(ucf: dict[str, Any]) -> list[str]:
    """UCF101 class folder names in classInd.txt order (the indices the pair files use)."""
    from biasbench.data.readers.common import require
    from biasbench.data.readers.ucf101 import LAYOUT, find_list_dir, read_class_ind

    lists = Path(ucf["list_dir"]) if "list_dir" in ucf else find_list_dir(ucf["root"])
    class_ind = lists / "classInd.txt" if lists else None
    require("ucf101", ucf["root"], LAYOUT, {"classInd.txt": class_ind})
    return read_class_ind(class_ind)  # type: ignore[arg-type]


def _rawframe_list(root: Path) -> Path | None:
    """HAT's optional ``<name>_rawframes.txt`` (frame counts and labels) in its root."""
    return next(iter(sorted(root.glob("*rawframes*.txt"))), None)
