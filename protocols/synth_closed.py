"""Protocol ``synth-closed``: the closed-set shape of ``k400-scuba`` on the embedded world.

Train on the world's in-context training list and evaluate with the same vocabulary on its
in-context test list (IC) and on its SCUBA-like set (the same motions on held-out
backgrounds: OC); report IC and OC top-1 / top-5 and their HM (Open-MeDe Table 5's closed-set
row). It reads the same world sets as ``synth-scuba`` but reports the closed-set layout
(no SCUFO unless the setting ``scufo`` asks for it).

Also home of :class:`WorldProtocol`, what every embedded protocol shares: the world's tiny
CLIP as backbone and its prompt templates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from biasbench.datactx import DataContext
from biasbench.models.backbone import BackboneSpec
from biasbench.protocols.base import DatasetNeed, Episode, EvalRequest, Protocol, TrainRequest
from biasbench.protocols.ooc import IC, OC, SCUFO, ooc_metrics
from biasbench.results import Metric, SetResult
from biasbench.world.writer import SCUBA_LIST

WORLD_NEED = DatasetNeed("world", "ucf101+scuba", "the embedded world (built on demand)")


class WorldProtocol(Protocol):
    """Base of the embedded-world protocols: tiny-CLIP backbone, world prompt templates."""

    embedded = True
    needs = (WORLD_NEED,)

    def backbone(self, data: DataContext) -> BackboneSpec:
        w = data.world()
        return BackboneSpec(w.arch, str(w.clip_weights))

    def templates_for(self, data: DataContext) -> str | list[str]:
        return world_manifest(data).get("prompt_templates") or "video"


def world_manifest(data: DataContext) -> dict[str, Any]:
    """The built world's ``world.json`` (vocabulary, config, per-video metadata)."""
    return json.loads(data.world().world_json.read_text())


class SynthClosed(WorldProtocol):
    """Closed-set in-context vs out-of-context (IC / OC / HM) on the embedded world."""

    name = "synth-closed"
    summary = "embedded world: closed-set IC + OC, HM"
    family = "xd"

    @dataclass(frozen=True)
    class Settings:
        """``scufo``: also score SCUFO and contrasted accuracy (off, as in k400-scuba)."""

        scufo: bool = False

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        from biasbench.data.readers.scuba import read_scuba
        from biasbench.data.readers.ucf101 import read_ucf101

        w = data.world()
        ic = read_ucf101(w.ucf_root, split=1, subset="test")
        oc = read_scuba(
            w.scuba_root / SCUBA_LIST, w.scuba_root / "frames", class_names=ic.class_names
        )
        evals = [EvalRequest(IC, ic, "in"), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        train = None
        if with_train:
            train = TrainRequest(read_ucf101(w.ucf_root, split=1, subset="train"), self.family)
        return [Episode("main", train, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"])
