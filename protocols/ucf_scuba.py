"""Protocol ``ucf-scuba``: K400-trained learners on UCF101 (IC) vs UCF-SCUBA (OC) + SCUFO.

Open-MeDe paper Table 3 / supplementary A.2: train on Kinetics-400; evaluate in context on the
UCF101 test list of split 1 and out of context on UCF-SCUBA (910 UCF101-24 split-1 test
videos x 5 Places365 backgrounds = 4,550 rawframe folders), both with the UCF101 vocabulary;
SCUFO is generated from the SCUBA set by repeating one seeded random frame. Reports top-1 /
top-5, the HM of IC and OC top-1, SCUFO top-1 and contrasted accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.datactx import DataContext
from biasbench.protocols.base import DatasetNeed, Episode, EvalRequest, Protocol, TrainRequest
from biasbench.protocols.ooc import IC, OC, SCUFO, ooc_metrics
from biasbench.results import Metric, SetResult


class UcfScuba(Protocol):
    """K400 -> UCF101 in context, UCF-SCUBA out of context, SCUFO."""

    name = "ucf-scuba"
    summary = "K400-trained; UCF101 (IC) + UCF-SCUBA (OC) + SCUFO, top-1/top-5, HM, contrasted acc."
    family = "xd"
    needs = (
        DatasetNeed(
            "kinetics400",
            "kinetics",
            "training set (methods that train)",
            "Kinetics-400",
            train_only=True,
        ),
        DatasetNeed("ucf101", "ucf101", "in-context test list of split 1", "UCF101"),
        DatasetNeed("ucf_scuba", "scuba", "out-of-context rawframes + list", "UCF-SCUBA"),
    )

    @dataclass(frozen=True)
    class Settings:
        """``scuba_list``: list file inside the UCF-SCUBA root (the Places365 variant by
        default); ``ic_split``: UCF101 split for the in-context set; ``scufo``: score SCUFO."""

        scuba_list: str = "ucf_scuba.txt"
        ic_split: int = 1
        scufo: bool = True

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.data.readers import scuba, ucf101

        ucf = data.dataset("ucf101", "UCF101", ucf101.LAYOUT)
        sc = data.dataset("ucf_scuba", "UCF-SCUBA", scuba.LAYOUT)
        train = self._kinetics_train(data) if with_train else None
        ic = ucf101.read_ucf101(ucf["root"], split=self.settings.ic_split, subset="test")
        oc = scuba.read_scuba(
            sc["root"] / sc.get("list", self.settings.scuba_list),
            sc["root"] / sc.get("frames", "frames"),
            class_names=ic.class_names,
        )
        evals = [EvalRequest(IC, ic, "in"), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        return [Episode("main", train, evals)]

    def _kinetics_train(self, data: DataContext) -> TrainRequest:
        from biasbench.data.readers import kinetics

        k = data.dataset("kinetics400", "Kinetics-400", kinetics.LAYOUT)
        return TrainRequest(kinetics.read_kinetics(k["root"], subset="train"), self.family)

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"])
