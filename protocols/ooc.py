"""The out-of-context base: in-context (IC), out-of-context (OC) and SCUFO sets, and their metrics.

Every out-of-context protocol (``ucf-scuba``, ``hmdb-scuba``, ``k400-scuba`` and the embedded
``synth-scuba``, ``synth-closed``) is one episode scoring the IC set, the OC set and — setting
``scufo`` — the OC set again with one seeded frame repeated (SCUFO); subclasses only say where
the IC, OC and training sets come from. Reported (StillMix / Open-MeDe): IC and OC top-1 /
top-5, their harmonic mean, SCUFO top-1 (a motion-reliant model should fail it: lower is
better) and contrasted accuracy (OC right AND SCUFO wrong, paired by video id).

Where the protocol knows which in-context videos show their action on its usual scene (the
embedded world does: every video is on its action's *home* scene or away from it), the IC set
is also scored on each such group alone (``ic_home_top1``, ``ic_away_top1``): the
bias-aligned and bias-conflicting accuracies of the debiasing literature. A model that knows
only the scene scores every home video and no away video, so ``ic_top1`` alone cannot tell
it from one that recognises the action.

A SCUBA OC set pools every background source read (ids ``<source>/<video>``): the metrics
above pool them all, and each source is also scored alone as the SCUBA paper reports it
(``oc_places365_top1``, ``scufo_vqgan_top1``, ``contrasted_stripes``, ...). Scoring the pooled
set once and splitting it by id gives the same numbers as scoring every source apart and all
together, at a third of the inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from biasbench import metrics as M
from biasbench.data.videoset import VideoSet
from biasbench.datactx import DataContext
from biasbench.protocol import Episode, EvalRequest, Protocol, TrainRequest
from biasbench.protocols.sources import (
    SCUBA_SOURCES,
    SOURCE_SEP,
    WorldProtocol,
    kinetics_train,
    read_scuba_sources,
    world_list,
    world_manifest,
    world_scuba,
)
from biasbench.results import Metric, SetResult

IC, OC, SCUFO = "ic", "oc", "scufo"
OOC_ORDER = ("ic_top1", "ic_top5", "oc_top1", "oc_top5", "hm_top1", "scufo_top1", "contrasted")
WORLD_OOC_ORDER = (*OOC_ORDER, "ic_home_top1", "ic_away_top1")  # the world knows home scenes


def source_metric_names(source: str) -> tuple[str, ...]:
    """The metrics one background source gets, in column order."""
    s = source
    return (f"oc_{s}_top1", f"oc_{s}_top5", f"hm_{s}_top1", f"scufo_{s}_top1", f"contrasted_{s}")


SCUBA_ORDER = OOC_ORDER + tuple(n for s in SCUBA_SOURCES for n in source_metric_names(s))


@dataclass(frozen=True)
class VideoGroup:
    """Named in-context videos scored alone as well (``ic_<name>_top1``); ``note`` says what
    they share."""

    ids: frozenset[str]
    note: str


def subset(
    res: SetResult, keep: np.ndarray, key: str, unreadable: list[dict[str, str]]
) -> SetResult:
    """The videos of ``res`` that ``keep`` (a boolean mask over ``res.ids``) selects."""
    return SetResult(
        key=key,
        ids=[i for i, k in zip(res.ids, keep.tolist(), strict=True) if k],
        labels=res.labels[keep],
        scores=res.scores[keep],
        class_names=res.class_names,
        unreadable=unreadable,
        embeddings=None if res.embeddings is None else res.embeddings[keep],
    )


def split_by_source(res: SetResult) -> dict[str, SetResult]:
    """A pooled result's per-source parts (ids ``<source>/<video>``, unreadable ones included,
    so a source nothing of which could be read still appears); ``{}`` if any id names none."""
    unreadable = [u["video_id"] for u in res.unreadable]
    if not all(SOURCE_SEP in i for i in [*res.ids, *unreadable]):
        return {}
    source_of = [i.partition(SOURCE_SEP)[0] for i in res.ids]
    return {
        s: subset(
            res,
            np.asarray([x == s for x in source_of], dtype=bool),
            f"{res.key}-{s}",
            [u for u in res.unreadable if u["video_id"].startswith(s + SOURCE_SEP)],
        )
        for s in dict.fromkeys([*source_of, *(u.partition(SOURCE_SEP)[0] for u in unreadable)])
    }


def group_metrics(ic: SetResult, groups: dict[str, VideoGroup], prefix: str = "") -> list[Metric]:
    """IC top-1 of each group's scored videos alone; a group none of whose videos was scored
    (every video home, say) gets no metric rather than an accuracy of nothing."""
    right, out = ic.correct(1), []
    for name, group in groups.items():
        keep = np.asarray([i in group.ids for i in ic.ids], dtype=bool)
        if keep.any():
            top1 = 100.0 * float(right[keep].mean())
            out.append(Metric(f"{prefix}ic_{name}_top1", top1, n=int(keep.sum()), note=group.note))
    return out


def ooc_metrics(
    sets: dict[str, SetResult], prefix: str = "", ic_groups: dict[str, VideoGroup] | None = None
) -> list[Metric]:
    """Metrics of one episode holding sets ``ic``, ``oc`` and optionally ``scufo``; an OC set
    pooling several named sources adds every source's own metrics after the pooled ones, and
    ``ic_groups`` add the IC top-1 of each group alone."""
    ic, oc, fo = sets[IC], sets[OC], sets.get(SCUFO)
    out = [
        Metric(f"{prefix}ic_top1", ic.top1(), n=ic.n),
        Metric(f"{prefix}ic_top5", ic.top5(), n=ic.n),
        *group_metrics(ic, ic_groups or {}, prefix),
        *_oc_metrics(ic, oc, fo, prefix, ""),
    ]
    fo_parts = split_by_source(fo) if fo is not None else {}
    oc_parts = split_by_source(oc)
    if len(oc_parts) > 1:  # one source alone would repeat the pooled numbers
        for source, oc_part in oc_parts.items():
            out += _oc_metrics(ic, oc_part, fo_parts.get(source), prefix, source)
    return out


def _oc_metrics(
    ic: SetResult, oc: SetResult, fo: SetResult | None, prefix: str, source: str
) -> list[Metric]:
    """OC top-1/5, HM with IC top-1, SCUFO top-1 and contrasted accuracy (``source``: '' for
    the pooled set, else the metric names carry it and the notes say so)."""
    tag = f"_{source}" if source else ""
    alone = f"{source} backgrounds only" if source else ""
    only = f" ({alone})" if source else ""
    out = [
        Metric(f"{prefix}oc{tag}_top1", oc.top1(), n=oc.n, note=alone),
        Metric(f"{prefix}oc{tag}_top5", oc.top5(), n=oc.n, note=alone),
        Metric(
            f"{prefix}hm{tag}_top1",
            M.harmonic_mean(ic.top1(), oc.top1()),
            n=min(ic.n, oc.n),
            note=f"harmonic mean of ic_top1 and oc{tag}_top1",
        ),
    ]
    if fo is not None:
        contrasted, pairs = M.contrasted_accuracy(oc.correct_by_id(1), fo.correct_by_id(1))
        out += [
            Metric(
                f"{prefix}scufo{tag}_top1",
                fo.top1(),
                higher_is_better=False,
                n=fo.n,
                note="one frame repeated; a motion-reliant model should fail it" + only,
            ),
            Metric(
                f"{prefix}contrasted{tag}",
                contrasted,
                n=pairs,
                note="share of videos right on SCUBA and wrong on SCUFO (paired by id)" + only,
            ),
        ]
    return out


class OutOfContextProtocol(Protocol):
    """IC + OC (+ SCUFO) in one episode; subclasses say where the three sets come from."""

    family = "xd"  # training defaults: K400-style (22 epochs)

    @dataclass(frozen=True)
    class Settings:
        """``scufo``: also score SCUFO (one seeded frame repeated) and contrasted accuracy."""

        scufo: bool = True

    def __init__(self, settings: Any = None):
        super().__init__(settings)
        self._ic_groups: dict[str, VideoGroup] = {}  # found by episodes(), scored by aggregate()

    def in_context_groups(self, data: DataContext, ic: VideoSet) -> dict[str, VideoGroup]:
        """Groups of IC videos also scored alone (``ic_<name>_top1``); none unless the
        protocol knows which videos show their action on its usual scene."""
        return {}

    def in_context_set(self, data: DataContext) -> VideoSet:
        """The in-context test set; its classes are the vocabulary of every set."""
        raise NotImplementedError

    def out_of_context_set(self, data: DataContext, class_names: list[str]) -> VideoSet:
        """The out-of-context set (labels index ``class_names``), every source pooled."""
        raise NotImplementedError

    def training_set(self, data: DataContext) -> TrainRequest:
        """What methods that train are trained on."""
        raise NotImplementedError

    def episodes(self, data: DataContext, with_train: bool = True) -> list[Episode]:
        ic = self.in_context_set(data)
        oc = self.out_of_context_set(data, ic.class_names)
        self._ic_groups = self.in_context_groups(data, ic)
        counts = {name: len(g.ids) for name, g in self._ic_groups.items()}
        info = {"groups": counts} if counts else {}
        evals = [EvalRequest(IC, ic, "in", info=info), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        train = self.training_set(data) if with_train else None
        return [Episode("main", train, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"], ic_groups=self._ic_groups)


class ScubaProtocol(OutOfContextProtocol):
    """A K400-trained protocol whose OC set is a SCUBA benchmark: every background source
    present (or those the setting ``sources`` names) pooled, each also scored alone."""

    scuba_need: ClassVar[str]  # the dataset need holding the SCUBA benchmark

    @dataclass(frozen=True)
    class Settings(OutOfContextProtocol.Settings):
        """``sources``: background sources to read (places365, vqgan, stripes; empty: every
        one present); ``scufo``: also score SCUFO and contrasted accuracy."""

        sources: tuple[str, ...] = ()

    def out_of_context_set(self, data: DataContext, class_names: list[str]) -> VideoSet:
        sc = self.open_dataset(data, self.scuba_need)
        return read_scuba_sources(sc, self.scuba_need, self.settings.sources, class_names)

    def training_set(self, data: DataContext) -> TrainRequest:
        return kinetics_train(self, data)


class WorldOutOfContextProtocol(WorldProtocol, OutOfContextProtocol):
    """The embedded world's out-of-context shape: its in-context test list (IC), its
    SCUBA-like rawframes (OC), trained on its in-context training list."""

    def in_context_set(self, data: DataContext) -> VideoSet:
        return world_list(data, "test")

    def in_context_groups(self, data: DataContext, ic: VideoSet) -> dict[str, VideoGroup]:
        """``home``: test videos on their action's home scene; ``away``: the rest, which a
        model that knows only the scene gets wrong (``world.json`` says which is which)."""
        home = {v["id"]: v["is_home"] for v in world_manifest(data)["videos"]["ic_test"]}
        ids = [r.video_id for r in ic.records]
        return {
            "home": VideoGroup(
                frozenset(i for i in ids if home.get(i) is True),
                "in-context videos on their action's home scene (the scene agrees)",
            ),
            "away": VideoGroup(
                frozenset(i for i in ids if home.get(i) is False),
                "in-context videos away from their action's home scene: a model that knows "
                "only the scene gets none right",
            ),
        }

    def out_of_context_set(self, data: DataContext, class_names: list[str]) -> VideoSet:
        return world_scuba(data, class_names)

    def training_set(self, data: DataContext) -> TrainRequest:
        return TrainRequest(world_list(data, "train"), self.family)
