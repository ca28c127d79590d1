"""The Action-Swap base shared by ``ucf-hat`` and ``synth-hat`` (no protocol lives here).

A swap is a video's foreground actor composed onto another video's background (HAT) and scored
against the foreground label. Close and Far sets (one per pair-file repeat) are filtered by
how much of every frame the actor mask covers; reported per kind: top-1 / top-5 and how often
the top-1 prediction is the *background* video's class (``*_bg_pred``, lower is better), then
Close and Far pooled (``hat_top1`` / ``hat_top5``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from biasbench import metrics as M
from biasbench.data.videoset import VideoSet
from biasbench.errors import UnreadableInputError
from biasbench.protocol import EvalRequest, Protocol
from biasbench.results import Metric, SetResult

KINDS = ("close", "far")
HAT_ORDER = ("close_top1", "close_top5", "close_bg_pred", "far_top1", "far_top5", "far_bg_pred")


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
