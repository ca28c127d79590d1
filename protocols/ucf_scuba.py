"""Protocol ``ucf-scuba``: K400-trained learners on UCF101 (IC) vs UCF-SCUBA (OC) + SCUFO.

Open-MeDe paper Table 3 / supplementary A.2: train on Kinetics-400; evaluate in context on the
UCF101 test list of split 1 and out of context on UCF-SCUBA (910 UCF101-24 split-1 test
videos x 5 Places365 backgrounds = 4,550 rawframe folders), both with the UCF101 vocabulary;
SCUFO is generated from the SCUBA set by repeating one seeded random frame. Every background
source of the release present (Places365, VQGAN-CLIP, stripes) is read and scored alone and
pooled (:class:`~biasbench.protocols.ooc.ScubaProtocol`): top-1 / top-5, the HM of IC and OC
top-1, SCUFO top-1 and contrasted accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.protocol import DatasetNeed, ReportSpec
from biasbench.protocols.ooc import SCUBA_ORDER, ScubaProtocol
from biasbench.protocols.sources import K400_TRAIN


class UcfScuba(ScubaProtocol):
    """K400 -> UCF101 in context, UCF-SCUBA out of context, SCUFO."""

    name = "ucf-scuba"
    summary = "K400-trained; UCF101 (IC) + UCF-SCUBA (OC) + SCUFO, top-1/top-5, HM, contrasted acc."
    report = ReportSpec("ooc", "UCF", SCUBA_ORDER)
    scuba_need = "ucf_scuba"
    needs = (
        K400_TRAIN,
        DatasetNeed("ucf101", "ucf101", "in-context test list of split 1", "UCF101"),
        DatasetNeed("ucf_scuba", "scuba", "out-of-context rawframes + lists", "UCF-SCUBA"),
    )

    @dataclass(frozen=True)
    class Settings(ScubaProtocol.Settings):
        """``ic_split``: UCF101 split of the in-context set; ``sources``, ``scufo``: as
        :class:`ScubaProtocol`."""

        ic_split: int = 1

    def in_context_set(self, data: DataContext) -> VideoSet:
        from biasbench.data.readers.ucf101 import read_ucf101

        ucf = self.open_dataset(data, "ucf101")
        return read_ucf101(ucf["root"], split=self.settings.ic_split, subset="test")
