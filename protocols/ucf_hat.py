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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biasbench.datactx import DataContext
from biasbench.errors import ConfigError
from biasbench.protocol import DatasetNeed, Episode, ReportSpec
from biasbench.protocols.sources import K400_TRAIN, kinetics_train
from biasbench.protocols.swap import HAT_ORDER, KINDS, ActionSwapProtocol

PAIR_SUFFIXES = (".pickle", ".pkl", ".json")


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
    report = ReportSpec("hat", "UCF", HAT_ORDER)
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
