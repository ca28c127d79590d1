"""Protocol ``hmdb-scuba``: K400-trained learners on HMDB51 (IC) vs HMDB-SCUBA (OC) + SCUFO.

Open-MeDe supplementary Table 1 / A.2: train on Kinetics-400; evaluate in context on the
HMDB51 test list of split 1 and out of context on HMDB-SCUBA (split-1 test videos pasted on
new backgrounds, StillMix rawframes), both with the HMDB51 vocabulary; SCUFO repeats one
seeded random frame of each SCUBA video. Reports top-1 / top-5, the HM of IC and OC top-1,
SCUFO top-1 and contrasted accuracy. The SCUBA labels index the same class order as the IC
list: alphabetical by class folder unless ``data.hmdb51.label_map`` gives the map the list
was made with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.protocols.base import DatasetNeed, Episode, EvalRequest, Protocol
from biasbench.protocols.ooc import IC, OC, SCUFO, ooc_metrics
from biasbench.protocols.xd import K400_TRAIN, kinetics_train
from biasbench.results import Metric, SetResult


def read_scuba_set(dataset: dict[str, Any], variant: str, class_names: list[str]) -> VideoSet:
    """The SCUBA list of a dataset entry: its ``list`` (and ``frames``) keys when given, else
    the list under its root whose name or folder names the background ``variant``."""
    from biasbench.data.readers import scuba

    root = dataset["root"]
    if "list" in dataset:
        frames = root / dataset["frames"] if "frames" in dataset else None
        return scuba.read_scuba(root / dataset["list"], frames, class_names=class_names)
    return scuba.read_scuba_variant(root, variant=variant, class_names=class_names)


class HmdbScuba(Protocol):
    """K400 -> HMDB51 in context, HMDB-SCUBA out of context, SCUFO."""

    name = "hmdb-scuba"
    summary = "K400-trained; HMDB51 (IC) + HMDB-SCUBA (OC) + SCUFO"
    family = "xd"
    needs = (
        K400_TRAIN,
        DatasetNeed("hmdb51", "hmdb51", "in-context test list of split 1", "HMDB51"),
        DatasetNeed("hmdb_scuba", "scuba", "out-of-context rawframes + list", "HMDB51-SCUBA"),
    )

    @dataclass(frozen=True)
    class Settings:
        """``variant``: SCUBA background family whose list is read (places365 | vqgan-clip |
        stripes; ``data.hmdb_scuba.list`` names a list file instead); ``ic_split``: HMDB51
        split of the in-context set; ``scufo``: also score SCUFO and contrasted accuracy."""

        variant: str = "places365"
        ic_split: int = 1
        scufo: bool = True

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.data.readers import hmdb51

        h = self.open_dataset(data, "hmdb51")
        sc = self.open_dataset(data, "hmdb_scuba")
        train = kinetics_train(self, data) if with_train else None
        ic = hmdb51.read_hmdb51(
            h["root"], split=self.settings.ic_split, subset="test", label_map=h.get("label_map")
        )
        oc = read_scuba_set(sc, self.settings.variant, ic.class_names)
        evals = [EvalRequest(IC, ic, "in"), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        return [Episode("main", train, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"])
