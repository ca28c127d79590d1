"""Report families: which table layout, dataset column and metric order a protocol's runs get.

A run record says it: schema-2 records carry the protocol's declared ``report`` dict
(``family``, ``dataset``, ``metric_order``; :class:`biasbench.protocol.ReportSpec`). Reports
never derive any of it from a protocol's name. Schema-1 records have no ``report``: their
family is the one their metric names imply (``base_top1`` + ``novel_top1`` -> base-to-novel,
...), their dataset is the protocol name as is, and their metric order the family's default.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

B2N, XD, OOC, CLOSED, HAT, OTHER = "b2n", "xd", "ooc", "closed", "hat", "other"
FAMILIES = (B2N, XD, OOC, CLOSED, HAT, OTHER)

# column order of records that declare none (schema 1); metrics not listed follow, sorted
METRIC_ORDER = {
    B2N: ["base_top1", "novel_top1", "hm", "hm_of_means"],
    XD: ["top1", "top5"],
    OOC: [
        "ic_top1",
        "ic_top5",
        "oc_top1",
        "oc_top5",
        "hm_top1",
        "scufo_top1",
        "contrasted",
    ],
    HAT: [
        "close_top1",
        "close_top5",
        "close_bg_pred",
        "far_top1",
        "far_top5",
        "far_bg_pred",
    ],
}
METRIC_ORDER[CLOSED] = METRIC_ORDER[OOC]

# metric names that imply a family, for records that declare none (first match wins)
_BY_METRICS = [
    (B2N, {"base_top1", "novel_top1"}),
    (OOC, {"ic_top1", "oc_top1"}),
    (HAT, {"close_top1", "far_top1"}),
    (XD, {"top1"}),
]

DATASET_ORDER = ["K400", "HMDB", "UCF", "SSv2", "K600"]


@dataclass(frozen=True)
class ReportInfo:
    """How one protocol is reported. ``declared``: read from the records (not inferred)."""

    family: str
    dataset: str
    metric_order: tuple[str, ...] = ()
    declared: bool = False

    def ordered(self, names: Iterable[str]) -> list[str]:
        """Metric names in the declared (else the family's) order, the rest sorted after."""
        names = set(names)
        order = self.metric_order or tuple(METRIC_ORDER.get(self.family, ()))
        first = [m for m in order if m in names]
        return first + sorted(names - set(first))


def family_by_metrics(metric_names: Iterable[str]) -> str:
    """The family a set of metric names implies (``other`` when none fits)."""
    names = set(metric_names)
    return next((fam for fam, needed in _BY_METRICS if needed <= names), OTHER)


def declared_report(report: Mapping[str, Any] | None) -> ReportInfo | None:
    """The ``report`` dict of a record as a :class:`ReportInfo`; None when it declares no
    family (schema 1). An empty ``dataset`` is filled in later by :func:`report_info`."""
    if not isinstance(report, Mapping) or not report.get("family"):
        return None
    order = report.get("metric_order") or ()
    return ReportInfo(
        family=str(report["family"]),
        dataset=str(report.get("dataset") or ""),
        metric_order=tuple(str(m) for m in order),
        declared=True,
    )


def report_info(
    declared: Iterable[ReportInfo | None], protocol: str, metric_names: Iterable[str]
) -> ReportInfo:
    """One protocol's report: the first declared one among its runs, else the fallback
    (family from ``metric_names``, dataset = the protocol name as is)."""
    found = next((d for d in declared if d is not None), None)
    if found is None:
        return ReportInfo(family_by_metrics(metric_names), protocol)
    if not found.dataset:
        return ReportInfo(found.family, protocol, found.metric_order, True)
    return found


def dataset_rank(name: str) -> tuple[int, str]:
    """Sort key: the paper's dataset order first, then by name."""
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)
