"""Cross-dataset protocols: train on Kinetics-400, evaluate on another dataset's vocabulary.

- ``xd-ucf`` / ``xd-hmdb``: the three official test splits of UCF101 / HMDB51, each with the
  full vocabulary; top-1 (and top-5) mean ± std over the splits (FROSTER A.1, Open-MeDe A.2).
- ``xd-ucf-full`` / ``xd-hmdb-full``: the full-set variants UCF* (13,320 videos: train + test
  of split 1) and HMDB* (5,100: tags 1 + 2 of split 1) that FROSTER's ablations report.
- ``xd-k600``: the three splits of 160 of the 220 K600 classes new w.r.t. K400, each with its
  own class list; the public repos evaluate different videos (K600 val only, about 7.3k per
  split, or a mixed train/val/test list of about 14k), so the setting ``video_list`` picks one
  and every split records which list was read.

One episode: one K400 training (methods that train) and one evaluation set per split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import ConfigError, MissingDatasetError
from biasbench.protocol import DatasetNeed, Episode, EvalRequest, Protocol, ReportSpec
from biasbench.protocols.openvocab import XD_ORDER, xd_metrics
from biasbench.protocols.sources import K400_TRAIN, kinetics_train
from biasbench.results import Metric, SetResult

VIDEO_LISTS = ("val", "mixed", "any")


class CrossDataset(Protocol):
    """K400 -> the official test splits (or the full set) of UCF101 / HMDB51."""

    family = "xd"
    target: ClassVar[str]  # dataset need holding the target dataset
    full: ClassVar[bool] = False  # True: evaluate the full set (UCF* / HMDB*) once

    @dataclass(frozen=True)
    class Settings:
        """``splits``: which official test splits to evaluate (ignored by the full variant)."""

        splits: tuple[int, ...] = (1, 2, 3)

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        target = self.open_dataset(data, self.target)
        train = kinetics_train(self, data) if with_train else None
        if self.full:
            evals = [EvalRequest("full", self.read_target(target, 1, "full"), "in")]
        else:
            splits = [int(n) for n in self.settings.splits]
            if not splits or any(n not in (1, 2, 3) for n in splits):
                raise ConfigError(f"protocol.splits must be a subset of 1, 2, 3, not {splits}")
            evals = [
                EvalRequest(f"split{n}", self.read_target(target, n, "test"), "in") for n in splits
            ]
        return [Episode("main", train, evals)]

    def read_target(self, target: dict[str, Any], split: int, subset: str) -> VideoSet:
        """One test split (or the full set) of the target dataset."""
        raise NotImplementedError

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return xd_metrics(results["main"])


class XdUcf(CrossDataset):
    """K400 -> UCF101, three official test splits."""

    name = "xd-ucf"
    summary = "K400-trained; UCF101 3 test splits, top-1 mean ± std"
    report = ReportSpec("xd", "UCF", XD_ORDER)
    target = "ucf101"
    needs = (K400_TRAIN, DatasetNeed("ucf101", "ucf101", "test lists 1-3 + videos", "UCF101"))

    def read_target(self, target: dict[str, Any], split: int, subset: str) -> VideoSet:
        from biasbench.data.readers.ucf101 import read_ucf101

        return read_ucf101(target["root"], split=split, subset=subset)  # type: ignore[arg-type]


class XdUcfFull(XdUcf):
    """K400 -> UCF* (all 13,320 UCF101 videos)."""

    name = "xd-ucf-full"
    summary = "K400-trained; UCF* (all 13,320 UCF101 videos), top-1"
    report = ReportSpec("xd", "UCF*", XD_ORDER)
    full = True


class XdHmdb(CrossDataset):
    """K400 -> HMDB51, three official test splits (label order: alphabetical or ``label_map``)."""

    name = "xd-hmdb"
    summary = "K400-trained; HMDB51 3 test splits, top-1 mean ± std"
    report = ReportSpec("xd", "HMDB", XD_ORDER)
    target = "hmdb51"
    needs = (K400_TRAIN, DatasetNeed("hmdb51", "hmdb51", "split files 1-3 + videos", "HMDB51"))

    def read_target(self, target: dict[str, Any], split: int, subset: str) -> VideoSet:
        from biasbench.data.readers.hmdb51 import read_hmdb51

        lm = target.get("label_map")
        return read_hmdb51(target["root"], split=split, subset=subset, label_map=lm)  # type: ignore[arg-type]


class XdHmdbFull(XdHmdb):
    """K400 -> HMDB* (tags 1 + 2 of split 1, 5,100 videos)."""

    name = "xd-hmdb-full"
    summary = "K400-trained; HMDB* (5,100 HMDB51 videos), top-1"
    report = ReportSpec("xd", "HMDB*", XD_ORDER)
    full = True


class XdK600(Protocol):
    """K400 -> K600's 220 new classes, three splits of 160 classes."""

    name = "xd-k600"
    summary = "K400-trained; K600 new classes, 3 splits of 160, top-1"
    report = ReportSpec("xd", "K600", XD_ORDER)
    family = "xd"
    needs = (
        K400_TRAIN,
        DatasetNeed(
            "kinetics600", "k600", "split class lists + video lists + videos", "Kinetics-600"
        ),
    )

    @dataclass(frozen=True)
    class Settings:
        """``video_list``: ``val`` (K600 val only, Open-VCLIP), ``mixed`` (ViFi-CLIP's mixed
        list) or ``any`` (the one list found); explicit ``data.kinetics600.split{n}_list`` /
        ``split{n}_classes`` files win. ``splits``: which of the three splits to evaluate."""

        video_list: str = "val"
        splits: tuple[int, ...] = (1, 2, 3)

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        if self.settings.video_list not in VIDEO_LISTS:
            raise ConfigError(f"protocol.video_list must be one of {VIDEO_LISTS}")
        k = self.open_dataset(data, "kinetics600")
        train = kinetics_train(self, data) if with_train else None
        found: list[VideoSet] | None = None
        evals = []
        for n in (int(s) for s in self.settings.splits):
            if f"split{n}_list" in k:
                vs = self._explicit(k, n)
            else:
                found = found if found is not None else self._discover(k["root"])
                vs = self._pick(found, n, k["root"])
            info = {
                "video_list": vs.info["video_list"],
                "video_list_kind": vs.info["video_list_kind"],
                "class_file": vs.info["class_file"],
            }
            evals.append(EvalRequest(f"split{n}", vs, "in", info=info))
        return [Episode("main", train, evals)]

    def _explicit(self, k: dict[str, Any], n: int) -> VideoSet:
        from biasbench.data.readers.k600 import read_k600

        root: Path = k["root"]
        if f"split{n}_classes" not in k:
            raise ConfigError(f"data.kinetics600.split{n}_list is set: set split{n}_classes too")
        return read_k600(
            root / k[f"split{n}_list"],
            root / k[f"split{n}_classes"],
            split=n,
            root=root,
            vocabulary=root / k["vocabulary"] if "vocabulary" in k else None,
            k400_labels=root / k["k400_labels"] if "k400_labels" in k else None,
        )

    @staticmethod
    def _discover(root: Path) -> list[VideoSet]:
        from biasbench.data.readers.k600 import inspect

        return inspect([root])

    def _pick(self, found: list[VideoSet], n: int, root: Path) -> VideoSet:
        """The split-``n`` list of the wanted kind among the discovered ones."""
        from biasbench.data.readers.k600 import LAYOUT

        mine = [vs for vs in found if vs.split == f"split{n}"]
        want = self.settings.video_list
        if want != "any":
            mine = [
                vs
                for vs in mine
                if (vs.info["video_list_kind"] == "K600 val only") == (want == "val")
            ]
        if not mine:
            raise MissingDatasetError(
                "kinetics600", root, LAYOUT, [f"a {want!r} video list of split {n}"]
            )
        if len(mine) > 1:
            lists = ", ".join(vs.info["video_list"] for vs in mine)
            raise ConfigError(
                f"several split-{n} video lists under {root} ({lists}): choose one with "
                f"--set data.kinetics600.split{n}_list=... and split{n}_classes=..."
            )
        return mine[0]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return xd_metrics(results["main"])
