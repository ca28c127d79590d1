"""Protocols ``b2n-k400``, ``b2n-hmdb``, ``b2n-ucf``, ``b2n-ssv2``: base-to-novel generalization.

Open-MeDe supplementary A.2 / FROSTER A.1: the classes are split into a base and a novel half
(the most frequent classes are base); a model is trained on 16 shots of every base class, once
for each of three shot samples (seeds), and evaluated on the base classes of the validation
split with the base vocabulary and on the novel classes with the novel vocabulary (HMDB51 and
UCF101: the first split only). Per seed: base top-1, novel top-1 and their harmonic mean;
reported: the means over seeds (with std), plus the HM of the mean accuracies.

Split source (setting ``source``): ``official`` reads the ViFi-CLIP split files
(``fs_base_s{1,2,3}_train.txt``, ``base_val.txt``, ``novel_val.txt``); ``rebuild`` applies the
most-frequent-half rule to the dataset's own training list and draws seeded 16-shot samples
(seed = shot split number); ``auto`` uses the official files when they are on disk. Which one
was used is recorded with every training and evaluation request.

Class names of the official files (setting ``label_names``): ViFi-CLIP's HMDB51 class lists
name two indices of each half the wrong way round ("sword" / "sword exercise" in the base half,
"kick" / "kick ball" in the novel half: 32 of the 416 shots per seed, 60 base and 60 novel
validation videos), as the file names of the listed videos show. ``corrected`` (default)
renames each index to the class its videos' file names carry; ``official`` keeps the lists as
shipped (the disagreement is then reported as a reader problem). The renamed indices are in
each set's ``info["renamed_labels"]`` and in every request's info.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.errors import ConfigError, MissingDatasetError
from biasbench.protocol import DatasetNeed, Episode, Protocol, ReportSpec
from biasbench.protocols.openvocab import (
    B2N_ORDER,
    BASE,
    NOVEL,
    Halves,
    b2n_metrics,
    rebuild_halves,
    seed_episode,
)
from biasbench.results import Metric, SetResult

SOURCES = ("auto", "official", "rebuild")
LABEL_NAMES = ("corrected", "official")
SPLITS_NEED = DatasetNeed(
    "b2n",
    "b2n",
    "ViFi-CLIP base-to-novel split files (optional: else most-frequent-half + seeded shots)",
    folder="base2novel",
    optional=True,
)


def official_halves(shots: VideoSet | None, base_val: VideoSet, novel_val: VideoSet) -> Halves:
    """What one seed reads from the official ViFi-CLIP split files, with the class-name
    choice and the indices it renamed per half."""
    info = {
        "split_source": "official ViFi-CLIP split files",
        "shot_file": shots.info["split_file"] if shots is not None else None,
        "base_val_file": base_val.info["split_file"],
        "novel_val_file": novel_val.info["split_file"],
        "label_names": base_val.info.get("label_names"),
        "renamed_labels": {
            BASE: base_val.info.get("renamed_labels", {}),
            NOVEL: novel_val.info.get("renamed_labels", {}),
        },
    }
    if shots is not None and shots.class_names != base_val.class_names:
        # each file is corrected from its own videos: the two base vocabularies must agree
        pairs = zip(shots.class_names, base_val.class_names, strict=False)
        differ = [f"{i}: {a!r} vs {b!r}" for i, (a, b) in enumerate(pairs) if a != b]
        shots.problems.append(
            f"base class names differ from {Path(info['base_val_file']).name}'s ({len(differ)} "
            f"labels: {'; '.join(differ[:8])})"
        )
    return Halves(shots, base_val, novel_val, info)


class BaseToNovel(Protocol):
    """Shared logic of the four base-to-novel protocols; subclasses name their dataset."""

    family = "b2n"
    dataset_key: ClassVar[str]  # key of the b2n reader's table: k400 | hmdb | ucf | ssv2
    videos_need: ClassVar[str]  # name of the dataset need that holds the videos

    @dataclass(frozen=True)
    class Settings:
        """``source``: auto | official | rebuild (see module docstring); ``seeds``: shot
        splits trained (3 in the papers); ``shots`` per base class (rebuild only: official
        files fix their own); ``label_names``: corrected | official, the class names of the
        official files (see module docstring)."""

        source: str = "auto"
        seeds: int = 3
        shots: int = 16
        label_names: str = "corrected"

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        if self.settings.source not in SOURCES:
            raise ConfigError(
                f"protocol.source must be one of {SOURCES}, not {self.settings.source!r}"
            )
        if not 1 <= self.settings.seeds <= 3:
            raise ConfigError("protocol.seeds must be 1, 2 or 3 (three shot splits exist)")
        if self.settings.label_names not in LABEL_NAMES:
            raise ConfigError(
                f"protocol.label_names must be one of {LABEL_NAMES}, "
                f"not {self.settings.label_names!r}"
            )
        videos = self.open_dataset(data, self.videos_need)
        root = self._official_root(data)
        if root is not None:
            base_val, novel_val = (
                self._read_official(root, videos, s) for s in ("base_val", "novel_val")
            )

            def halves_for(n: int) -> Halves:
                shots = self._read_official(root, videos, "fewshot", n) if with_train else None
                return official_halves(shots, base_val, novel_val)
        else:
            train_full, val_full = self.full_lists(videos)

            def halves_for(n: int) -> Halves:
                wanted = train_full if with_train else None
                return rebuild_halves(wanted, val_full, train_full, n, self.settings.shots)

        return [
            seed_episode(n, halves_for(n), self.family) for n in range(1, self.settings.seeds + 1)
        ]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return b2n_metrics(results)

    # -- split sources ------------------------------------------------------------------------

    def _official_root(self, data: DataContext) -> Path | None:
        """The ViFi-CLIP layout root holding this dataset's split files, or None (rebuild)."""
        from biasbench.data.readers.b2n import dataset_layout

        if self.settings.source == "rebuild":
            return None
        try:
            root = self.open_dataset(data, "b2n")["root"]
        except MissingDatasetError:
            if self.settings.source == "official":
                raise
            return None
        split_dir = root / "datasets_splits" / "base2novel_splits"
        if (split_dir / dataset_layout(self.dataset_key).split_dir).is_dir():
            return root
        if self.settings.source == "official":
            from biasbench.data.readers.b2n import LAYOUT

            raise MissingDatasetError(
                "b2n", root, LAYOUT, [str(split_dir / dataset_layout(self.dataset_key).split_dir)]
            )
        return None

    def _read_official(
        self, root: Path, videos: dict[str, Any], subset: str, shot_split: int = 1
    ) -> VideoSet:
        from biasbench.data.readers.b2n import read_b2n

        return read_b2n(
            root,
            dataset=self.dataset_key,
            subset=subset,  # type: ignore[arg-type]
            shot_split=shot_split,
            video_root=videos["root"],
            label_names=self.settings.label_names,  # type: ignore[arg-type]
        )

    def full_lists(self, videos: dict[str, Any]) -> tuple[VideoSet, VideoSet]:
        """The dataset's own training and validation lists (for the rebuild source)."""
        raise NotImplementedError


class B2nK400(BaseToNovel):
    """Base-to-novel on Kinetics-400 (200 / 200 classes)."""

    name = "b2n-k400"
    summary = "base-to-novel K400: 16 shots x 200 base classes, 3 seeds"
    report = ReportSpec("b2n", "K400", B2N_ORDER)
    dataset_key = "k400"
    videos_need = "kinetics400"
    needs = (
        DatasetNeed(
            "kinetics400",
            "kinetics",
            "videos; train/val lists for the rebuild rule",
            "Kinetics-400",
        ),
        SPLITS_NEED,
    )

    def full_lists(self, videos: dict[str, Any]) -> tuple[VideoSet, VideoSet]:
        from biasbench.data.readers.kinetics import read_kinetics

        return read_kinetics(videos["root"], subset="train"), read_kinetics(
            videos["root"], subset="val"
        )


class B2nHmdb(BaseToNovel):
    """Base-to-novel on HMDB51 (26 / 25 classes; the official halves are authoritative)."""

    name = "b2n-hmdb"
    summary = "base-to-novel HMDB51: 16 shots x 26 base classes, 3 seeds"
    report = ReportSpec("b2n", "HMDB", B2N_ORDER)
    dataset_key = "hmdb"
    videos_need = "hmdb51"
    needs = (
        DatasetNeed("hmdb51", "hmdb51", "videos; split-1 files for the rebuild rule", "HMDB51"),
        SPLITS_NEED,
    )

    def full_lists(self, videos: dict[str, Any]) -> tuple[VideoSet, VideoSet]:
        from biasbench.data.readers.hmdb51 import read_hmdb51

        lm = videos.get("label_map")
        train = read_hmdb51(videos["root"], split=1, subset="train", label_map=lm)
        train.problems.append(
            "HMDB51 has 70 training videos in every class: frequency cannot reproduce the "
            "shipped halves; supply the official ViFi-CLIP split files"
        )
        return train, read_hmdb51(videos["root"], split=1, subset="test", label_map=lm)


class B2nUcf(BaseToNovel):
    """Base-to-novel on UCF101 (51 / 50 classes, split 1)."""

    name = "b2n-ucf"
    summary = "base-to-novel UCF101: 16 shots x 51 base classes, 3 seeds"
    report = ReportSpec("b2n", "UCF", B2N_ORDER)
    dataset_key = "ucf"
    videos_need = "ucf101"
    needs = (
        DatasetNeed("ucf101", "ucf101", "videos; split-1 lists for the rebuild rule", "UCF101"),
        SPLITS_NEED,
    )

    def full_lists(self, videos: dict[str, Any]) -> tuple[VideoSet, VideoSet]:
        from biasbench.data.readers.ucf101 import read_ucf101

        root = videos["root"]
        return read_ucf101(root, split=1, subset="train"), read_ucf101(root, split=1, subset="test")


class B2nSsv2(BaseToNovel):
    """Base-to-novel on Something-Something v2 (87 / 87 classes)."""

    name = "b2n-ssv2"
    summary = "base-to-novel SSv2: 16 shots x 87 base classes, 3 seeds"
    report = ReportSpec("b2n", "SSv2", B2N_ORDER)
    dataset_key = "ssv2"
    videos_need = "ssv2"
    needs = (
        DatasetNeed("ssv2", "ssv2", "videos; train/validation json for the rebuild rule", "SSv2"),
        SPLITS_NEED,
    )

    def full_lists(self, videos: dict[str, Any]) -> tuple[VideoSet, VideoSet]:
        from biasbench.data.readers.ssv2 import read_ssv2

        root = videos["root"]
        return read_ssv2(root, subset="train"), read_ssv2(root, subset="validation")
