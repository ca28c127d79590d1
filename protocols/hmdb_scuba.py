"""Protocol ``hmdb-scuba``: K400-trained learners on HMDB51 (IC) vs HMDB-SCUBA (OC) + SCUFO.

Open-MeDe supplementary Table 1 / A.2: train on Kinetics-400; evaluate in context on the
HMDB51 test list of split 1 and out of context on HMDB-SCUBA (split-1 test videos pasted on
new backgrounds, StillMix rawframes), both with the HMDB51 vocabulary; SCUFO repeats one
seeded random frame of each SCUBA video. Every background source of the release present
(Places365, VQGAN-CLIP, stripes) is read and scored alone and pooled
(:class:`~biasbench.protocols.ooc.ScubaProtocol`). The SCUBA labels index the same class
order as the IC list: alphabetical by class folder unless ``data.hmdb51.label_map`` gives the
map the list was made with.
"""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.protocol import DatasetNeed, ReportSpec
from biasbench.protocols.ooc import SCUBA_ORDER, ScubaProtocol
from biasbench.protocols.sources import K400_TRAIN


class HmdbScuba(ScubaProtocol):
    """K400 -> HMDB51 in context, HMDB-SCUBA out of context, SCUFO."""

    name = "hmdb-scuba"
    summary = "K400-trained; HMDB51 (IC) + HMDB-SCUBA (OC) + SCUFO"
    report = ReportSpec("ooc", "HMDB", SCUBA_ORDER)
    scuba_need = "hmdb_scuba"
    needs = (
        K400_TRAIN,
        DatasetNeed("hmdb51", "hmdb51", "in-context test list of split 1", "HMDB51"),
        DatasetNeed("hmdb_scuba", "scuba", "out-of-context rawframes + lists", "HMDB51-SCUBA"),
    )

    @dataclass(frozen=True)
    class Settings(ScubaProtocol.Settings):
        """``ic_split``: HMDB51 split of the in-context set; ``sources``, ``scufo``: as
        :class:`ScubaProtocol`."""

        ic_split: int = 1

    def in_context_set(self, data: DataContext) -> VideoSet:
        from biasbench.data.readers.hmdb51 import read_hmdb51

        h = self.open_dataset(data, "hmdb51")
        split = self.settings.ic_split
        return read_hmdb51(h["root"], split=split, subset="test", label_map=h.get("label_map"))
