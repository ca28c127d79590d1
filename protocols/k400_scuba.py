"""Protocol ``k400-scuba``: closed-set in-context vs out-of-context on Kinetics-400.

Open-MeDe paper Table 5 (first row) / supplementary A.2: train on Kinetics-400 and evaluate
with the same 400-class vocabulary on the K400 validation list (IC) and on K400-SCUBA (10,190
validation videos whose backgrounds are replaced by Places365 test images, rawframes
``<video_id>__0/%06d.jpg``: OC; the VQGAN-CLIP and stripes sources are read too when present,
each scored alone and pooled). Reports IC and OC top-1 / top-5 and the HM of the top-1s.
SCUFO is not part of the published K400 protocol; the setting ``scufo`` adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.protocol import DatasetNeed, ReportSpec
from biasbench.protocols.ooc import SCUBA_ORDER, ScubaProtocol


class K400Scuba(ScubaProtocol):
    """K400 -> K400 val in context and K400-SCUBA out of context, one vocabulary."""

    name = "k400-scuba"
    summary = "K400-trained; closed-set K400 (IC) + K400-SCUBA (OC)"
    report = ReportSpec("closed", "K400", SCUBA_ORDER)
    scuba_need = "k400_scuba"
    needs = (
        DatasetNeed(
            "kinetics400",
            "kinetics",
            "val list (IC), train list if training, videos",
            "Kinetics-400",
        ),
        DatasetNeed(
            "k400_scuba", "scuba", "out-of-context rawframes + lists", "Kinetics-400-SCUBA"
        ),
    )

    @dataclass(frozen=True)
    class Settings(ScubaProtocol.Settings):
        """As :class:`ScubaProtocol`, but ``scufo`` is off: SCUFO is not published for K400."""

        scufo: bool = False

    def in_context_set(self, data: DataContext) -> VideoSet:
        from biasbench.data.readers.kinetics import read_kinetics

        k = self.open_dataset(data, "kinetics400")
        root = k["root"]
        return read_kinetics(
            root,
            subset="val",
            list_file=root / k["val_list"] if "val_list" in k else None,
            label_file=root / k["labels"] if "labels" in k else None,
        )
