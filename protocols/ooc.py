"""The out-of-context base: in-context (IC), out-of-context (OC) and SCUFO sets, and their metrics.

Every out-of-context protocol (``ucf-scuba``, ``hmdb-scuba``, ``k400-scuba`` and the embedded
``synth-scuba``, ``synth-closed``) is one episode scoring the IC set, the OC set and — setting
``scufo`` — the OC set again with one seeded frame repeated (SCUFO); subclasses only say where
the IC, OC and training sets come from. Reported (StillMix / Open-MeDe): IC and OC top-1 /
top-5, their harmonic mean, SCUFO top-1 (a motion-reliant model should fail it: lower is
better) and contrasted accuracy (OC right AND SCUFO wrong, paired by video id).

A SCUBA OC set pools every background source read (ids ``<source>/<video>``): the metrics
above pool them all, and each source is also scored alone as the SCUBA paper reports it
(``oc_places365_top1``, ``scufo_vqgan_top1``, ``contrasted_stripes``, ...). Scoring the pooled
set once and splitting it by id gives the same numbers as scoring every source apart and all
together, at a third of the inference.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
    world_scuba,
)
from biasbench.results import Metric, SetResult

IC, OC, SCUFO = "ic", "oc", "scufo"
OOC_ORDER = ("ic_top1", "ic_top5", "oc_top1", "oc_top5", "hm_top1", "scufo_top1", "contrasted")


def source_metric_names(source: str) -> tuple[str, ...]:
    """The metrics one background source gets, in column order."""
    s = source
    return (f"oc_{s}_top1", f"oc_{s}_top5", f"hm_{s}_top1", f"scufo_{s}_top1", f"contrasted_{s}")


SCUBA_ORDER = OOC_ORDER + tuple(n for s in SCUBA_SOURCES for n in source_metric_names(s))


def split_by_source(res: SetResult) -> dict[str, SetResult]:
    """A pooled result's per-source parts (ids ``<source>/<video>``, unreadable ones included,
    so a source nothing of which could be read still appears); ``{}`` if any id names none."""
    unreadable = [u["video_id"] for u in res.unreadable]
    if not all(SOURCE_SEP in i for i in [*res.ids, *unreadable]):
        return {}
    source_of = [i.partition(SOURCE_SEP)[0] for i in res.ids]
    parts = {}
    for s in dict.fromkeys([*source_of, *(u.partition(SOURCE_SEP)[0] for u in unreadable)]):
        keep = np.asarray([x == s for x in source_of], dtype=bool)
        parts[s] = SetResult(
            key=f"{res.key}-{s}",
            ids=[i for i, x in zip(res.ids, source_of, strict=True) if x == s],
            labels=res.labels[keep],
            scores=res.scores[keep],
            class_names=res.class_names,
            unreadable=[u for u in res.unreadable if u["video_id"].startswith(s + SOURCE_SEP)],
            embeddings=None if res.embeddings is None else res.embeddings[keep],
        )
    return parts


def ooc_metrics(sets: dict[str, SetResult], prefix: str = "") -> list[Metric]:
    """Metrics of one episode holding sets ``ic``, ``oc`` and optionally ``scufo``; an OC set
    pooling several named sources adds every source's own metrics after the pooled ones."""
    ic, oc, fo = sets[IC], sets[OC], sets.get(SCUFO)
    out = [
        Metric(f"{prefix}ic_top1", ic.top1(), n=ic.n),
        Metric(f"{prefix}ic_top5", ic.top5(), n=ic.n),
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
        evals = [EvalRequest(IC, ic, "in"), EvalRequest(OC, oc, "out")]
        if self.settings.scufo:
            evals.append(EvalRequest(SCUFO, oc, "out", repeat_one_frame=True))
        train = self.training_set(data) if with_train else None
        return [Episode("main", train, evals)]

    def aggregate(self, results: dict[str, dict[str, SetResult]]) -> list[Metric]:
        return ooc_metrics(results["main"])


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

    def out_of_context_set(self, data: DataContext, class_names: list[str]) -> VideoSet:
        return world_scuba(data, class_names)

    def training_set(self, data: DataContext) -> TrainRequest:
        return TrainRequest(world_list(data, "train"), self.family)
