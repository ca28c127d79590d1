"""Protocol ``k400-scuba``: closed-set in-context vs out-of-context on Kinetics-400.

Open-MeDe paper Table 5 (first row) / supplementary A.2: train on Kinetics-400 and evaluate
with the same 400-class vocabulary on the K400 validation list (IC) and on K400-SCUBA (10,190
validation videos whose backgrounds are replaced by Places365 test images, rawframes
``<video_id>__0/%06d.jpg``: OC). Reports IC and OC top-1 / top-5 and the HM of the top-1s.
SCUFO is not part of the published K400 protocol; the setting ``scufo`` adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.datactx import DataContext
from biasbench.protocols.base import DatasetNeed, Episode, EvalRequest, Protocol
from biasbench.protocols.hmdb_scuba import read_scuba_set
from biasbench.protocols.ooc import IC, OC, SCUFO, ooc_metrics
from biasbench.protocols.xd import kinetics_train
from biasbench.results import Metric, SetResult


class K400Scuba(Protocol):
    """K400 -> K400 val in context and K400-SCUBA out of context, one vocabulary."""

    name = "k400-scuba"
    summary = "K400-trained; closed-set K400 (IC) + K400-SCUBA (OC)"
    family = "xd"
    needs = (
        DatasetNeed(
            "kinetics400",
            "kinetics",
            "val list (IC), train list if training, videos",
            "Kinetics-400",
        ),
        DatasetNeed("k400_scuba", "scuba", "out-of-context rawframes + list", "Kinetics-400-SCUBA"),
    )

    @dataclass(frozen=True)
    class Settings:
        """``variant``: SCUBA background family (``data.k400_scuba.list`` names a list file
        instead); ``scufo``: also score SCUFO and contrasted accuracy (not published)."""

        variant: str = "places365"
        scufo: bool = False

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.data.readers import kinetics

        k = self.open_dataset(data, "kinetics400")
        sc = self.open_dataset(data, "k400_scuba")
        train = kinetics_train(self, data) if with_train else None
        root = k["root"]
        ic = kinetics.read_kinetics(
            root,
            subset="val",
            list_file=root / k["val_list"] if "val_list" in k else None,
            label_file=root / k["labels"] if "labels" in k else None,
        )
        oc = read_scuba_set(sc, self.settings.variant, ic.class_names)
        evals = [EvalRequest(IC, ic, "in"), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        return [Episode("main", train, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"])
