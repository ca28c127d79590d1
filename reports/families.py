"""Protocol families: which table layout and metric order a protocol's runs get.

The family comes from the protocol name (``b2n-*``, ``xd-*``, ``*-scuba``, ``*-hat``; an
embedded ``synth-`` prefix is looked through) and, for names that say nothing, from the
metric names the runs report. Unknown protocols fall back to ``other``: every metric, sorted.
"""

from __future__ import annotations

from collections.abc import Iterable

B2N, XD, OOC, CLOSED, HAT, OTHER = "b2n", "xd", "ooc", "closed", "hat", "other"

# preferred column order per family; metrics not listed follow, sorted by name
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

# metric names that identify a family when the protocol name does not
_BY_METRICS = [
    (B2N, {"base_top1", "novel_top1"}),
    (OOC, {"ic_top1", "oc_top1"}),
    (HAT, {"close_top1", "far_top1"}),
    (XD, {"top1"}),
]

DATASET_NAMES = {
    "k400": "K400",
    "k600": "K600",
    "ucf": "UCF",
    "hmdb": "HMDB",
    "ssv2": "SSv2",
}
DATASET_ORDER = ["K400", "HMDB", "UCF", "SSv2", "K600"]


def family_of(protocol: str, metric_names: Iterable[str] = ()) -> str:
    """The table family of a protocol (see module docstring)."""
    base = protocol.removeprefix("synth-")
    if base == "b2n" or base.startswith("b2n-"):
        return B2N
    if base == "xd" or base.startswith("xd-"):
        return XD
    if base in ("k400-scuba", "closed"):  # synth-closed is k400-scuba's embedded shape
        return CLOSED
    if base == "scuba" or base.endswith("-scuba"):
        return OOC
    if base == "hat" or base.endswith("-hat"):
        return HAT
    names = set(metric_names)
    return next((fam for fam, needed in _BY_METRICS if needed <= names), OTHER)


def dataset_of(protocol: str) -> str:
    """Display name of the dataset a protocol evaluates (``World`` for the embedded one)."""
    if protocol.startswith("synth"):
        return "World"
    base = protocol.removeprefix("b2n-").removeprefix("xd-")
    base = base.removesuffix("-scuba").removesuffix("-hat")
    if base.endswith("-full"):  # UCF* / HMDB*: every video of the dataset (paper Table 2)
        name = base.removesuffix("-full")
        return DATASET_NAMES.get(name, name) + "*"
    return DATASET_NAMES.get(base, base)


def dataset_rank(name: str) -> tuple[int, str]:
    """Sort key: the paper's dataset order first, then by name."""
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def ordered_metrics(family: str, names: Iterable[str]) -> list[str]:
    """Metric names in the family's preferred order, the rest sorted after them."""
    names = set(names)
    first = [m for m in METRIC_ORDER.get(family, []) if m in names]
    return first + sorted(names - set(first))
