"""Protocol ``synth-scuba``: the out-of-context shape of ``ucf-scuba`` on the embedded world.

Train: the world's in-context training list (UCF101 format). Evaluate: the in-context test
list (IC), the SCUBA-like set (the same motions pasted on held-out backgrounds, SCUBA
rawframe format: OC) and SCUFO (the SCUBA set with one seeded frame repeated). The world is
built on demand and read back by the *real* UCF101 and SCUBA readers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from biasbench.datactx import DataContext
from biasbench.models.backbone import BackboneSpec
from biasbench.protocols.base import DatasetNeed, Episode, EvalRequest, Protocol, TrainRequest
from biasbench.protocols.ooc import IC, OC, SCUFO, ooc_metrics
from biasbench.results import Metric, SetResult
from biasbench.world.writer import SCUBA_LIST


class SynthScuba(Protocol):
    """In-context vs SCUBA-like out-of-context vs SCUFO on the embedded world."""

    name = "synth-scuba"
    summary = "embedded world: in-context + SCUBA-like out-of-context + SCUFO"
    embedded = True
    family = "xd"
    needs = (DatasetNeed("world", "ucf101+scuba", "the embedded world (built on demand)"),)

    @dataclass(frozen=True)
    class Settings:
        """``scufo``: also score the SCUFO set and contrasted accuracy."""

        scufo: bool = True

    def backbone(self, data: DataContext) -> BackboneSpec:
        w = data.world()
        return BackboneSpec(w.arch, str(w.clip_weights))

    def templates_for(self, data: DataContext) -> str | list[str]:
        meta = json.loads(data.world().world_json.read_text())
        return meta.get("prompt_templates") or "video"

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.data.readers.scuba import read_scuba
        from biasbench.data.readers.ucf101 import read_ucf101

        w = data.world()
        train = read_ucf101(w.ucf_root, split=1, subset="train") if with_train else None
        ic = read_ucf101(w.ucf_root, split=1, subset="test")
        oc = read_scuba(
            w.scuba_root / SCUBA_LIST, w.scuba_root / "frames", class_names=ic.class_names
        )
        evals = [EvalRequest(IC, ic, "in"), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        request = TrainRequest(train, self.family) if train is not None else None
        return [Episode("main", request, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"])
