"""Shared shape of the out-of-context (SCUBA) protocols: IC set + SCUBA set + SCUFO set.

Reported (StillMix / Open-MeDe): in-context and out-of-context top-1 / top-5, their harmonic
mean, SCUFO top-1 (one frame repeated: a motion-reliant model should fail it, so lower is
better) and contrasted accuracy (SCUBA right AND SCUFO wrong, paired by video id).
"""

from __future__ import annotations

from biasbench import metrics as M
from biasbench.results import Metric, SetResult

IC, OC, SCUFO = "ic", "oc", "scufo"


def ooc_metrics(sets: dict[str, SetResult], prefix: str = "") -> list[Metric]:
    """Metrics of one episode holding sets ``ic``, ``oc`` and optionally ``scufo``."""
    ic, oc = sets[IC], sets[OC]
    out = [
        Metric(f"{prefix}ic_top1", ic.top1(), n=ic.n),
        Metric(f"{prefix}ic_top5", ic.top5(), n=ic.n),
        Metric(f"{prefix}oc_top1", oc.top1(), n=oc.n),
        Metric(f"{prefix}oc_top5", oc.top5(), n=oc.n),
        Metric(
            f"{prefix}hm_top1",
            M.harmonic_mean(ic.top1(), oc.top1()),
            n=min(ic.n, oc.n),
            note="harmonic mean of ic_top1 and oc_top1",
        ),
    ]
    if SCUFO in sets:
        fo = sets[SCUFO]
        contrasted, pairs = M.contrasted_accuracy(oc.correct_by_id(1), fo.correct_by_id(1))
        out += [
            Metric(
                f"{prefix}scufo_top1",
                fo.top1(),
                higher_is_better=False,
                n=fo.n,
                note="one frame repeated; a motion-reliant model should fail it",
            ),
            Metric(
                f"{prefix}contrasted",
                contrasted,
                n=pairs,
                note="share of videos right on SCUBA and wrong on SCUFO (paired by id)",
            ),
        ]
    return out
