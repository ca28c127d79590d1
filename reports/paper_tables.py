"""Tables in the Open-MeDe paper's layouts, built from run records (and a cost benchmark).

- Table 1, base-to-novel: Base / Novel / HM per dataset (family ``b2n``).
- Table 2, cross-dataset: top-1 mean ± std per dataset (family ``xd``).
- Table 3, out-of-context: DS / DS-SCUBA / DS-HAT / HM, top-1 and top-5 (families ``ooc``
  and ``hat`` of one dataset); one table per dataset (HMDB gives supplementary Table 1's
  shape).
- Table 4, model-agnostic: each learner trained by ``plain`` and by ``openmede``, the
  protocol's headline metric for both and the gain (learners with both runs only; never a
  pair of two learners).
- Table 5, in-context vs out-of-context: IC / OC / HM per protocol (closed-set first).
- Supplementary Table 9, training cost: from the training-cost benchmark's JSON.

A protocol's family and dataset come from its records' declared ``report``
(:mod:`biasbench.reports.families`), never from its name.

Every HM is recomputed here with :func:`biasbench.metrics.harmonic_mean` from the values the
table shows (never copied from a run's own ``hm`` metric), so a table is self-consistent.
Real and embedded-world runs never share a table; embedded tables carry the label in their
title. Methods without a run for a column show an en dash.

Published rows. Given the papers' printed numbers (:mod:`biasbench.reports.published`), a
real-benchmark table also shows the rows of the paper table printed in its layout, on the
protocols the user ran: labelled ``<method> — published (<table>)``, placed after the user's
entry of the method and learner they correspond to (else at the end), never ranked or
marked, never part of a mean. Their HM is the printed one; where its printed inputs cannot
give it by rounding, the cell shows both values and a note says ``HM 20.3 printed; 41.9 from
its inputs``. Embedded-world tables never get published rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biasbench import metrics as M
from biasbench.errors import BiasbenchError
from biasbench.reports.families import B2N, CLOSED, HAT, OOC, XD, dataset_rank
from biasbench.reports.published import PublishedRow, published_label
from biasbench.reports.records import Run, RunSet, aggregate
from biasbench.reports.table import EMBEDDED_LABEL, Stat, Table

NAN = float("nan")
COST_TABLE = "table9-training-cost"
HAT_COMBINED = ("hat_top{k}", "all_top{k}")  # a HAT protocol's own pooled metric, if it has one
COST_KEYS = (
    "method",
    "learner",
    "device",
    "params_trainable",
    "params_total",
    "gflops_per_clip",
    "peak_mem_mb",
    "samples_per_s",
    "ratio_to_plain",
)


PUBLISHED_NOTE = (
    "rows marked '— published (<paper table>)': numbers printed in that paper table, shown for "
    "comparison; never part of a mean, never ranked; their HM is the printed one"
)


class FlaggedHM(str):
    """A printed HM its printed inputs cannot give, shown with both: ``20.3 (41.9 from its
    inputs)`` (text, so never ranked; the leaderboard styles it)."""


@dataclass
class PaperTable(Table):
    """A paper-layout table; ``published``: indices of rows printed in a paper, shown but
    never ranked or marked (renderers that style rows, the leaderboard, read it)."""

    published: list[int] = field(default_factory=list)

    def marks(self) -> list[list[str]]:
        """Best / second-best over the user's rows only."""
        if not self.published:
            return super().marks()
        hidden = set(self.published)
        own = [[None] * len(r) if i in hidden else r for i, r in enumerate(self.rows)]
        return Table(self.columns, own, digits=self.digits, rank=self.rank).marks()

    def flagged(self) -> list[tuple[int, int]]:
        """``(row, column)`` of every flagged printed HM."""
        return [
            (i, j)
            for i in self.published
            for j, cell in enumerate(self.rows[i])
            if isinstance(cell, FlaggedHM)
        ]


def paper_tables(
    runset: RunSet,
    costs: list[dict[str, Any]] | None = None,
    published: Sequence[PublishedRow] = (),
) -> dict[str, Table]:
    """Every paper-layout table the runs can fill, keyed by a file-friendly name.

    Embedded-world versions are keyed with an ``embedded-`` prefix. ``published``: printed
    rows to show beside the runs (real-benchmark tables only; see the module docstring).
    """
    out: dict[str, Table] = {}
    for embedded in (False, True):
        prefix = "embedded-" if embedded else ""
        groups = _protocols_by_family(runset, embedded)
        pub = () if embedded else tuple(published)
        built = {
            "table1-base-to-novel": base_to_novel_table(runset, groups[B2N], pub),
            "table2-cross-dataset": cross_dataset_table(runset, groups[XD], pub),
            "table4-model-agnostic": model_agnostic_table(
                runset, [p for f in (CLOSED, B2N, XD, OOC) for p in groups[f]], pub
            ),
            "table5-ic-oc": ic_oc_table(runset, groups[CLOSED] + groups[OOC], pub),
        }
        shown = [p for ps in groups.values() for p in ps]
        for name, table in built.items():
            if table is not None:
                out[prefix + name] = _finish(table, runset, embedded, shown)
        for ds, table in out_of_context_tables(runset, groups[OOC], groups[HAT], pub).items():
            key = f"{prefix}table3-out-of-context-{ds.lower()}"
            out[key] = _finish(table, runset, embedded, shown)
    if costs:
        out[COST_TABLE] = training_cost_table(costs)
    return out


def _protocols_by_family(runset: RunSet, embedded: bool) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {f: [] for f in (B2N, XD, OOC, CLOSED, HAT)}
    for p in runset.protocols:
        runs = runset.for_protocol(p)
        if any(r.embedded for r in runs) != embedded:
            continue
        groups.setdefault(runset.report(p).family, []).append(p)
    for fam in groups:
        groups[fam].sort(key=lambda p: dataset_rank(_dataset(runset, p)))
    return groups


def _dataset(runset: RunSet, protocol: str) -> str:
    return runset.report(protocol).dataset


def _finish(table: Table, runset: RunSet, embedded: bool, protocols: list[str]) -> Table:
    if embedded:
        table.title += f" — {EMBEDDED_LABEL}"
    table.notes += runset.copy_notes(protocols)
    if note := runset.skipped_note():
        table.notes.append(note)
    return table


def _labels(runset: RunSet, protocols: Iterable[str]) -> list[str]:
    return sorted({label for p in protocols for label in runset.entries(p)})


def _mean(runset: RunSet, protocol: str, label: str, metric: str) -> float:
    runs = runset.entries(protocol).get(label, [])
    return aggregate(runs, metric)[0] if runs else NAN


def _hm(*values: float) -> float:
    return NAN if any(math.isnan(v) for v in values) else M.harmonic_mean(*values)


# --- published rows ---------------------------------------------------------------------------


def _published_for(
    published: Sequence[PublishedRow], layout: str, protocols: Iterable[str]
) -> list[PublishedRow]:
    """Printed rows of the paper tables of ``layout`` with a value on any of ``protocols``."""
    wanted = set(protocols)
    return [r for r in published if r.source.layout == layout and r.protocols & wanted]


def _pub_value(row: PublishedRow, protocol: str, metric: str) -> Any:
    """A printed value as a cell (``Stat`` when a spread is printed; NaN when none is)."""
    v = row.value(protocol, metric)
    if v is None:
        return NAN
    return v.value if v.std is None else Stat(v.value, v.std)


def _pub_hm(row: PublishedRow, keys: Sequence[tuple[str, str]], what: str, notes: list[str]):
    """The printed HM of ``keys``; when rounding cannot explain it, both values (and a note)."""
    check = row.hm(*keys)
    if check is None:
        return NAN
    if check.ok:
        return check.printed
    notes.append(f"{row.label}, {what}: {check.describe()}")
    d = check.decimals
    return FlaggedHM(f"{check.printed:.{d}f} ({check.recomputed:.{d}f} from its inputs)")


def _owners(runset: RunSet, protocols: Iterable[str]) -> dict[str, Hashable]:
    """Entry label -> (method, learner), for placing published rows beside their entry."""
    return {
        label: (runs[0].method, runs[0].learner)
        for p in protocols
        for label, runs in runset.entries(p).items()
    }


def _entry_key(row: PublishedRow) -> Hashable:
    return (row.maps_to.method, row.maps_to.learner) if row.maps_to else None


def _place(
    t: PaperTable,
    owners: dict[str, Hashable],
    published: list[tuple[Hashable, list[Any]]],
    notes: list[str],
) -> None:
    """Insert printed rows ``(owner key, cells)`` after the last user row with that owner
    key (else at the end), record their indices and add the notes."""
    if not published:
        return
    after: dict[int, list[list[Any]]] = {}
    for key, cells in published:
        mine = [i for i, r in enumerate(t.rows) if key is not None and owners.get(r[0]) == key]
        after.setdefault(mine[-1] if mine else len(t.rows), []).append(cells)
    rows: list[list[Any]] = []
    for i in range(len(t.rows) + 1):
        rows += t.rows[i : i + 1]
        for cells in after.get(i, []):
            t.published.append(len(rows))
            rows.append(cells)
    t.rows = rows
    t.notes += [PUBLISHED_NOTE, *notes]


def base_to_novel_table(
    runset: RunSet, protocols: list[str], published: Sequence[PublishedRow] = ()
) -> Table | None:
    """Table 1: Base / Novel / HM (top-1 %) per dataset; HM of the Base and Novel shown."""
    if not protocols:
        return None
    columns, groups = ["Method"], [("", 1)]
    for p in protocols:
        columns += ["Base", "Novel", "HM"]
        groups.append((_dataset(runset, p), 3))
    t = PaperTable(columns, groups=groups, title="Base-to-novel generalization (top-1 %)")
    for label in _labels(runset, protocols):
        row: list[Any] = [label]
        for p in protocols:
            base, novel = (_mean(runset, p, label, m) for m in ("base_top1", "novel_top1"))
            row += [base, novel, _hm(base, novel)]
        t.rows.append(row)
    t.rank = {i: True for i in range(1, len(columns))}
    t.notes.append(
        "HM: harmonic mean of the Base and Novel values shown, recomputed from them; "
        "values are means over seeds"
    )
    rows, notes = [], []
    for pub in _published_for(published, "table1-base-to-novel", protocols):
        row = [pub.label]
        for p in protocols:
            keys = ((p, "base_top1"), (p, "novel_top1"))
            row += [_pub_value(pub, *k) for k in keys]
            row.append(_pub_hm(pub, keys, f"{_dataset(runset, p)} HM", notes))
        rows.append((_entry_key(pub), row))
    _place(t, _owners(runset, protocols), rows, notes)
    return t


def cross_dataset_table(
    runset: RunSet, protocols: list[str], published: Sequence[PublishedRow] = ()
) -> Table | None:
    """Table 2: top-1 mean ± std per target dataset."""
    if not protocols:
        return None
    t = PaperTable(["Method", *(_dataset(runset, p) for p in protocols)])
    t.title = "Cross-dataset generalization (top-1 %, mean ± std)"
    for label in _labels(runset, protocols):
        row: list[Any] = [label]
        for p in protocols:
            runs = runset.entries(p).get(label, [])
            mean, std, _ = aggregate(runs, "top1") if runs else (NAN, None, 0)
            row.append(Stat(mean, std))
        t.rows.append(row)
    t.rank = {i: True for i in range(1, len(t.columns))}
    t.notes.append("std over the evaluation splits of a run, or over runs (seeds) when several")
    rows = [
        (_entry_key(pub), [pub.label, *(_pub_value(pub, p, "top1") for p in protocols)])
        for pub in _published_for(published, "table2-cross-dataset", protocols)
    ]
    _place(t, _owners(runset, protocols), rows, [])
    return t


def hat_accuracy(runs: list[Run], k: int = 1) -> float:
    """UCF-HAT accuracy of an entry: the protocol's pooled metric if it reports one, else the
    video-weighted top-k over all its evaluation sets (Close and Far together) from the
    record's per-set summaries; the mean over runs."""
    values = []
    for r in runs:
        own = next((m for n in HAT_COMBINED if (m := r.metric(n.format(k=k)))), None)
        if own is not None:
            values.append(own.value)
            continue
        summaries = [r.set_summary(*key) for key in r.set_keys()]
        scored = [(s[f"top{k}"], s["videos_scored"]) for s in summaries if s.get("videos_scored")]
        total = sum(n for _, n in scored)
        if total:
            values.append(sum(v * n for v, n in scored) / total)
    return M.mean_std(values)[0] if values else NAN


def out_of_context_tables(
    runset: RunSet,
    ooc_protocols: list[str],
    hat_protocols: list[str],
    published: Sequence[PublishedRow] = (),
) -> dict[str, Table]:
    """Table 3 per dataset: DS (in context), DS-SCUBA ★, DS-HAT ★ (if run), HM; top-1/top-5."""
    hat_by_ds = {_dataset(runset, p): p for p in hat_protocols}
    out = {}
    for p in ooc_protocols:
        ds = _dataset(runset, p)
        hat = hat_by_ds.get(ds)
        parts = [ds, f"{ds}-SCUBA ★"] + ([f"{ds}-HAT ★"] if hat else [])
        columns, groups = ["Method"], [("", 1)]
        for name in [*parts, "HM"]:
            columns += ["top-1", "top-5"]
            groups.append((name, 2))
        protocols = [p, hat] if hat else [p]
        t = PaperTable(columns, groups=groups)
        t.title = f"Out-of-context generalization on {ds} (top-1 / top-5 %; ★ out of context)"
        for label in _labels(runset, protocols):
            per_k = {}
            for k in (1, 5):
                vals = [_mean(runset, p, label, f"{c}_top{k}") for c in ("ic", "oc")]
                if hat:
                    runs = runset.entries(hat).get(label, [])
                    vals.append(hat_accuracy(runs, k) if runs else NAN)
                per_k[k] = [*vals, _hm(*vals)]
            t.rows.append(
                [label, *(v for pair in zip(per_k[1], per_k[5], strict=True) for v in pair)]
            )
        t.rank = {i: True for i in range(1, len(columns))}
        hat_note = f"; {ds}-HAT: Close and Far Action-Swap videos together" if hat else ""
        t.notes.append(
            f"HM: harmonic mean of the {len(parts)} columns before it, recomputed{hat_note}"
        )
        _place_ooc(t, runset, published, p, hat)
        out[ds] = t
    return out


def _place_ooc(
    t: PaperTable, runset: RunSet, published: Sequence[PublishedRow], ooc: str, hat: str | None
) -> None:
    """Table 3's printed rows: IC, OC (and HAT when the user ran it) top-1 / top-5, HM."""
    rows, notes = [], []
    protocols = [ooc, hat] if hat else [ooc]
    for pub in _published_for(published, "table3-out-of-context", protocols):
        per_k = {}
        for k in (1, 5):
            keys = [(ooc, f"ic_top{k}"), (ooc, f"oc_top{k}")]
            keys += [(hat, f"hat_top{k}")] if hat else []
            hm = _pub_hm(pub, keys, f"HM top-{k}", notes)
            per_k[k] = [*(_pub_value(pub, *key) for key in keys), hm]
        row = [pub.label, *(v for pair in zip(per_k[1], per_k[5], strict=True) for v in pair)]
        rows.append((_entry_key(pub), row))
    _place(t, _owners(runset, protocols), rows, notes)


BASELINE_METHOD, HEADLINE_METHOD = "plain", "openmede"
# the headline metric of a family in Table 4: (column label, metric names, combine)
_HEADLINE = {
    CLOSED: ("top-1", ("ic_top1",)),
    B2N: ("HM", ("base_top1", "novel_top1")),
    XD: ("top-1", ("top1",)),
    OOC: ("OC top-1", ("oc_top1",)),
}


def headline_value(runs: list[Run], family: str) -> float:
    """The one number Table 4 shows for an entry on a protocol of ``family``: closed-set
    top-1, the base-to-novel HM (recomputed from the mean Base and Novel), cross-dataset
    top-1 or out-of-context top-1; means over the runs (seeds)."""
    names = _HEADLINE[family][1]
    values = [aggregate(runs, n)[0] if runs else NAN for n in names]
    return _hm(*values) if len(values) > 1 else values[0]


def model_agnostic_table(
    runset: RunSet, protocols: list[str], published: Sequence[PublishedRow] = ()
) -> Table | None:
    """Table 4: per learner, ``plain`` vs ``+ Open-MeDe`` on each protocol and the gain.

    Rows are learners with an entry of both methods on at least one of ``protocols``: the
    two entries always share the learner. Where a method ran with several variants of one
    learner on a protocol (different data or settings), the cell is left empty and a note
    says why: which variant to set against which is not for a table to guess.
    """
    found = _plain_and_ours(runset, protocols)
    cells = {k: v for k, v in found.items() if isinstance(v, tuple)}
    shown = [p for p in protocols if any(q == p for q, _ in cells)]
    if not shown:
        return None
    columns, groups = ["Learner"], [("", 1)]
    for p in shown:
        family = runset.report(p).family
        columns += ["Plain", "+ Open-MeDe", "Gain"]
        groups.append((f"{_dataset(runset, p)} ({_HEADLINE[family][0]})", 3))
    t = PaperTable(columns, groups=groups, title="Model-agnostic gains of Open-MeDe (%)")
    seeds: set[int] = set()
    for learner in sorted({lr for _, lr in cells}):
        row: list[Any] = [learner]
        for p in shown:
            base_runs, ours_runs = cells.get((p, learner), ([], []))
            family = runset.report(p).family
            base, ours = headline_value(base_runs, family), headline_value(ours_runs, family)
            seeds.update(len(x) for x in (base_runs, ours_runs) if x)
            gain = ours - base
            row += [base, ours, NAN if math.isnan(gain) else f"{gain:+.1f}"]  # signed
        t.rows.append(row)
    t.rank = {i: True for i in range(1, len(columns)) if columns[i] != "Gain"}
    t.notes.append(
        "Plain: standard fine-tuning of the learner; + Open-MeDe: the same learner trained by "
        "openmede; Gain = + Open-MeDe - Plain; means over "
        + ("runs (" + ", ".join(str(n) for n in sorted(seeds)) + " per entry)")
    )
    t.notes += [v for v in found.values() if isinstance(v, str)]
    _place_model_agnostic(t, runset, published, shown)
    return t


def _place_model_agnostic(
    t: PaperTable, runset: RunSet, published: Sequence[PublishedRow], shown: list[str]
) -> None:
    """Table 4's printed rows: per learner of a paper table, its ``plain`` row and its
    ``openmede`` row as Plain / + Open-MeDe, and their gain."""
    pairs: dict[tuple[str, str], dict[str, PublishedRow]] = {}
    for pub in _published_for(published, "table4-model-agnostic", shown):
        if pub.maps_to and pub.maps_to.method in (BASELINE_METHOD, HEADLINE_METHOD):
            key = (pub.source.table, pub.maps_to.learner)
            pairs.setdefault(key, {}).setdefault(pub.maps_to.method, pub)
    rows = []
    for (table, learner), both in pairs.items():
        if len(both) < 2:
            continue
        base_row, ours_row = both[BASELINE_METHOD], both[HEADLINE_METHOD]
        cells: list[Any] = [published_label(base_row.method, table)]
        for p in shown:
            family = runset.report(p).family
            base, ours = (_pub_headline(r, p, family) for r in (base_row, ours_row))
            gain = ours - base
            cells += [base, ours, NAN if math.isnan(gain) else f"{gain:+.1f}"]
        rows.append((learner, cells))
    _place(t, {str(r[0]): str(r[0]) for r in t.rows}, rows, [])


def _pub_headline(row: PublishedRow, protocol: str, family: str) -> float:
    """:func:`headline_value` of a printed row (a base-to-novel HM from its printed inputs)."""
    values = [v.value if (v := row.value(protocol, n)) else NAN for n in _HEADLINE[family][1]]
    return _hm(*values) if len(values) > 1 else values[0]


def _plain_and_ours(
    runset: RunSet, protocols: list[str]
) -> dict[tuple[str, str], tuple[list[Run], list[Run]] | str]:
    """Per (protocol, learner) with entries of both methods: their runs, or a note when a
    method has several variants there."""
    out: dict[tuple[str, str], tuple[list[Run], list[Run]] | str] = {}
    for p in protocols:
        by_learner: dict[str, dict[str, list[str]]] = {}
        entries = runset.entries(p)
        for label, runs in entries.items():
            r = runs[0]
            by_learner.setdefault(r.learner, {}).setdefault(r.method, []).append(label)
        for learner, methods in by_learner.items():
            base, ours = methods.get(BASELINE_METHOD, []), methods.get(HEADLINE_METHOD, [])
            if not base or not ours:
                continue
            if len(base) == 1 and len(ours) == 1:
                out[(p, learner)] = (entries[base[0]], entries[ours[0]])
            else:
                out[(p, learner)] = (
                    f"{p}, {learner}: not shown, several variants ({', '.join(base + ours)}); "
                    "compare them with biasbench compare"
                )
    return out


def ic_oc_table(
    runset: RunSet, protocols: list[str], published: Sequence[PublishedRow] = ()
) -> Table | None:
    """Table 5: in-context (IC), out-of-context (OC) top-1 and their HM per protocol."""
    if not protocols:
        return None

    def order(p: str) -> tuple[bool, tuple[int, str]]:
        return (runset.report(p).family != CLOSED, dataset_rank(_dataset(runset, p)))

    ordered = sorted(protocols, key=order)
    columns, groups = ["Method"], [("", 1)]
    kinds = {CLOSED: " (closed-set)", OOC: " (zero-shot)"}
    for p in ordered:
        embedded = any(r.embedded for r in runset.for_protocol(p))
        kind = "" if embedded else kinds.get(runset.report(p).family, "")
        columns += ["IC", "OC", "HM"]
        groups.append((_dataset(runset, p) + kind, 3))
    t = PaperTable(columns, groups=groups, title="In-context vs out-of-context (top-1 %)")
    for label in _labels(runset, ordered):
        row: list[Any] = [label]
        for p in ordered:
            ic, oc = (_mean(runset, p, label, m) for m in ("ic_top1", "oc_top1"))
            row += [ic, oc, _hm(ic, oc)]
        t.rows.append(row)
    t.rank = {i: True for i in range(1, len(columns))}
    t.notes.append("IC: in-context set; OC: SCUBA out-of-context set; HM recomputed from IC and OC")
    rows, notes = [], []
    for pub in _published_for(published, "table5-ic-oc", ordered):
        cells: list[Any] = [pub.label]
        for p in ordered:
            keys = ((p, "ic_top1"), (p, "oc_top1"))
            cells += [_pub_value(pub, *k) for k in keys]
            cells.append(_pub_hm(pub, keys, f"{_dataset(runset, p)} HM", notes))
        rows.append((_entry_key(pub), cells))
    _place(t, _owners(runset, ordered), rows, notes)
    return t


def load_costs(paths: Iterable[Path | str]) -> list[dict[str, Any]]:
    """Records of the training-cost benchmark JSON files (each a list of records)."""
    out = []
    for path in map(Path, paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise BiasbenchError(f"cannot read training-cost file {path}: {e}") from None
        if not is_cost_doc(doc):
            raise BiasbenchError(
                f"{path}: expected a list of records with keys {', '.join(COST_KEYS)}"
            )
        out += doc
    return out


def is_cost_doc(doc: Any) -> bool:
    """Does a parsed JSON document look like the training-cost benchmark's output?"""
    return (
        isinstance(doc, list)
        and bool(doc)
        and all(isinstance(d, dict) and set(COST_KEYS) <= set(d) for d in doc)
    )


def find_cost_files(root: Path) -> list[Path]:
    """Training-cost JSON files under ``root`` (outside run folders), recognised by content."""
    found = []
    for path in sorted(Path(root).rglob("*.json")):
        if (path.parent / "config.json").is_file() or path.stat().st_size > 1_000_000:
            continue
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if is_cost_doc(doc):
            found.append(path)
    return found


def training_cost_table(records: list[dict[str, Any]]) -> Table:
    """Supplementary Table 9: parameters, FLOPs, peak memory and throughput per method."""
    columns = [
        "Method",
        "Learner",
        "Device",
        "Trainable params (M)",
        "Params (M)",
        "GFLOPs / clip",
        "Peak mem. (GB)",
        "Samples / s",
        "Ratio to plain",
    ]
    t = Table(columns, digits=2, title="Training cost (per training sample, same batch size)")
    for r in sorted(records, key=lambda r: (str(r["method"]), str(r["learner"]))):
        t.rows.append(
            [
                str(r["method"]),
                str(r["learner"]),
                str(r["device"]),
                _num(r["params_trainable"]) / 1e6,
                _num(r["params_total"]) / 1e6,
                _num(r["gflops_per_clip"]),
                _num(r["peak_mem_mb"]) / 1024,
                _num(r["samples_per_s"]),
                _num(r["ratio_to_plain"]),
            ]
        )
    t.rank = {6: False, 7: True}
    if len({str(r["device"]) for r in records}) > 1:
        t.notes.append("measured on different devices: compare rows of the same device only")
    return t


def _num(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return NAN
