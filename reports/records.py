"""Load complete run records into typed objects and a pandas frame (reports read nothing else).

Records are read with :func:`biasbench.runrecord.read_record`, which knows both schema
versions; nothing here parses a record's JSON files. A folder counts only if it is complete
(its ``COMPLETE`` marker); incomplete folders and folders that cannot be read are listed in
:attr:`RunSet.skipped` with the reason, never tabled.

Entries. Runs are grouped into *entries*: one protocol x method x learner x variant, where
the variant is the record's ``variant_id`` (the hash of everything that affects a result,
data roots and annotation hashes included, seed left out; for schema-1 records the reader
hashes their run settings). An entry's label names its method and learner,
``openmede (vclip)``. When one method x learner ran with several variants on one protocol,
each label adds the settings where that variant departs from the others' most common value
(``openmede (vclip) [delta=0.0]``), or a short variant hash where that cannot name it briefly
(data roots, annotation files, long lists: ``openmede (vclip) [3f2a1c]``).

Copies. Folders holding the same run (equal ``run_id``: the same identity, seed included)
count once, in every mean, spread, run count and paired test; the first folder (by path)
is kept and the others are listed in :meth:`RunSet.copy_notes`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench import metrics as M
from biasbench.errors import BiasbenchError
from biasbench.reports.families import ReportInfo, declared_report, report_info
from biasbench.results import Metric, SetResult
from biasbench.runrecord import MARKER, RunRecordData, find_runs, read_record

INCOMPLETE = f"incomplete: no {MARKER} marker"


@dataclass
class Run:
    """One complete run record, as reports see it."""

    record: RunRecordData
    label: str = ""  # the entry label, set by load_runs
    copies: tuple[Path, ...] = ()  # every folder holding this run when several do (this first)
    copies_differ: bool = False  # the copies report different metrics

    @property
    def path(self) -> Path:
        return Path(self.record.path)

    @property
    def config(self) -> dict[str, Any]:
        return self.record.config

    @property
    def provenance(self) -> dict[str, Any]:
        return self.record.provenance

    @property
    def metrics(self) -> list[Metric]:
        return self.record.metrics

    @property
    def sets(self) -> dict[str, Any]:
        return self.record.sets

    @property
    def embedded(self) -> bool:
        return bool(self.record.embedded)

    @property
    def run_cfg(self) -> dict[str, Any]:
        return self.config.get("run", {})

    @property
    def protocol(self) -> str:
        return str(self.run_cfg.get("protocol", self.path.parent.parent.name))

    @property
    def method(self) -> str:
        return str(self.run_cfg.get("method", self.path.parent.name.split("__")[0]))

    @property
    def learner(self) -> str:
        return str(self.run_cfg.get("learner") or self.path.parent.name.partition("__")[2])

    @property
    def seed(self) -> int:
        return int(self.run_cfg.get("seed", self.provenance.get("seed", 0)))

    @property
    def where(self) -> str:
        """``<protocol>/<method>__<learner>/<folder>``: the record's path under its root."""
        return "/".join(self.path.parts[-3:])

    @property
    def variant(self) -> str:
        """The entry this run is a seed of: the record's ``variant_id`` (schema 1: hashed by
        the reader from the run settings that change results)."""
        return str(self.record.variant_id)

    @property
    def run_id(self) -> str:
        """The run's identity, seed included (schema 1: the hash in its folder name)."""
        return str(self.record.run_id)

    @cached_property
    def identity(self) -> dict[str, Any]:
        """What the variant hashes, seed left out (the reader gives schema-1 records their
        result-affecting run settings); used to say how two variants differ."""
        return {k: v for k, v in self.record.identity.items() if k != "seed"}

    @cached_property
    def report(self) -> ReportInfo | None:
        """The protocol's declared report (family, dataset, metric order), None if none."""
        return declared_report(self.record.report)

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def set_keys(self) -> list[tuple[str, str]]:
        """``(episode, set)`` of every stored prediction set."""
        return sorted(self.record.set_keys())

    def load_set(self, episode: str, key: str) -> SetResult:
        return self.record.load_set(episode, key)

    def set_summary(self, episode: str, key: str) -> dict[str, Any]:
        """The record's per-set summary (top1, top5, videos_scored, ...); empty if none."""
        found = self.sets.get(f"{episode}/{key}")
        if found is None:
            found = (self.sets.get(episode) or {}).get(key)
        return found if isinstance(found, dict) else {}

    def set_info(self, episode: str, key: str) -> dict[str, Any]:
        """What the config says about an evaluation set (context, videos, ...)."""
        ep = self.config.get("episodes", {}).get(episode) or {}
        return (ep.get("evals") or {}).get(key) or {}

    def epoch_evals(self) -> pd.DataFrame:
        """``train/<episode>/epoch_eval.csv`` of every episode: epoch, set, top1, top5, n."""
        frames = []
        for p in sorted(self.path.glob("train/*/epoch_eval.csv")):
            df = pd.read_csv(p)
            frames.append(df.assign(episode=p.parent.name))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def metric_values(self) -> dict[str, float]:
        return {m.name: m.value for m in self.metrics}


@dataclass
class RunSet:
    """Complete runs (copies merged), plus the folders left out and why."""

    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def protocols(self) -> list[str]:
        return sorted({r.protocol for r in self.runs})

    def for_protocol(self, protocol: str) -> list[Run]:
        return [r for r in self.runs if r.protocol == protocol]

    def entries(self, protocol: str) -> dict[str, list[Run]]:
        """Entry label -> its runs (sorted by seed), for one protocol."""
        out: dict[str, list[Run]] = {}
        for r in sorted(self.for_protocol(protocol), key=lambda r: (r.label, r.seed, r.where)):
            out.setdefault(r.label, []).append(r)
        return out

    def report(self, protocol: str) -> ReportInfo:
        """How a protocol is reported: declared by its records, else inferred from metrics."""
        runs = self.for_protocol(protocol)
        names = {m.name for r in runs for m in r.metrics}
        return report_info((r.report for r in runs), protocol, names)

    def copy_notes(self, protocols: Iterable[str] | None = None) -> list[str]:
        """One line per run found in several folders (of ``protocols``, default all)."""
        wanted = set(self.protocols if protocols is None else protocols)
        return [copy_note(r) for r in self.runs if r.copies and r.protocol in wanted]

    def variant_notes(self, protocol: str) -> list[str]:
        """One line per method x learner that ran with several variants on ``protocol``,
        naming the settings that differ (data roots, annotation hashes, hyper-parameters)."""
        by_pair: dict[tuple[str, str], dict[str, Run]] = {}
        for r in self.for_protocol(protocol):
            by_pair.setdefault((r.method, r.learner), {}).setdefault(r.variant, r)
        notes = []
        for (method, learner), variants in sorted(by_pair.items()):
            if len(variants) > 1:
                keys = differing_keys([r.identity for r in variants.values()])
                hashes = ", ".join(f"[{v[:6]}]" for v in sorted(variants))
                notes.append(
                    f"{entry_name(method, learner)}: {len(variants)} variants {hashes} "
                    f"are separate entries; they differ in {', '.join(keys) or 'settings'}"
                )
        return notes

    def skipped_note(self) -> str:
        """One line saying how many folders were left out (empty when none)."""
        if not self.skipped:
            return ""
        incomplete = sum(1 for _, why in self.skipped if why == INCOMPLETE)
        other = len(self.skipped) - incomplete
        parts = (
            [f"{incomplete} incomplete run(s) skipped (no {MARKER} marker)"] if incomplete else []
        )
        parts += [f"{other} unreadable run record(s) skipped"] if other else []
        return "; ".join(parts)

    def frame(self) -> pd.DataFrame:
        """One row per (run, metric), with the run's identity and provenance."""
        rows = []
        for r in self.runs:
            base = {
                "protocol": r.protocol,
                "entry": r.label,
                "method": r.method,
                "learner": r.learner,
                "seed": r.seed,
                "variant": r.variant,
                "run_id": r.run_id,
                "record": r.where,
                "copies": max(1, len(r.copies)),
                "embedded": r.embedded,
                "commit": r.provenance.get("git_commit"),
                "device": r.provenance.get("device"),
                "started": r.provenance.get("started"),
                "version": r.provenance.get("biasbench_version"),
            }
            for m in r.metrics:
                rows.append(
                    {
                        **base,
                        "metric": m.name,
                        "value": m.value,
                        "std": m.std,
                        "n": m.n,
                        "higher_is_better": m.higher_is_better,
                    }
                )
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)


FRAME_COLUMNS = [
    "protocol",
    "entry",
    "method",
    "learner",
    "seed",
    "variant",
    "run_id",
    "record",
    "copies",
    "embedded",
    "commit",
    "device",
    "started",
    "version",
    "metric",
    "value",
    "std",
    "n",
    "higher_is_better",
]


def entry_name(method: str, learner: str) -> str:
    """``method (learner)``: every entry label names its learner."""
    return f"{method} ({learner})" if learner else method


def copy_note(run: Run) -> str:
    """``3 copies of run <id> counted once: <paths>`` (+ whether their metrics differ)."""
    paths = ", ".join(str(p) for p in run.copies)
    note = f"{len(run.copies)} copies of run {run.run_id[:12]} counted once: {paths}"
    if run.copies_differ:
        note += f" (their metrics differ; {run.copies[0]} is used)"
    return note


def differing_keys(dicts: list[Mapping[str, Any]], limit: int | None = 4) -> list[str]:
    """Dotted keys whose values differ between the flattened ``dicts`` (first ``limit``, and
    how many more; all with ``limit=None``)."""
    flat = [_flatten(d) for d in dicts]
    keys = sorted({k for f in flat for k in f})
    differ = [k for k in keys if len({json.dumps(f.get(k), default=str) for f in flat}) > 1]
    if limit is None or len(differ) <= limit:
        return differ
    return differ[:limit] + [f"{len(differ) - limit} more"]


def _flatten(obj: Mapping[str, Any], prefix: str = "", depth: int = 2) -> dict[str, Any]:
    """Nested dicts as ``a.b`` keys, ``depth`` levels deep (deeper keys are file paths and
    the like, too long to name a difference by)."""
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v and depth > 1:
            out.update(_flatten(v, key + ".", depth - 1))
        else:
            out[key] = v
    return out


def load_run(path: Path) -> Run:
    """One run folder; raises ValueError naming the folder when it cannot be read."""
    try:
        return Run(read_record(Path(path)))
    except (OSError, ValueError, KeyError, TypeError, BiasbenchError) as e:
        raise ValueError(f"{path}: {e}") from None


def load_runs(paths: Iterable[Path | str], protocol: str | None = None) -> RunSet:
    """Complete runs found in ``paths`` (run folders or roots searched recursively).

    ``protocol`` keeps only runs of that protocol. Incomplete and unreadable folders land in
    ``skipped``; copies of one run are merged; entry labels are assigned over the whole set
    (see module docstring).
    """
    out, runs = RunSet(), []
    for folder in _run_folders(paths):
        try:
            run = load_run(folder)
        except ValueError as e:
            if protocol is None or protocol in folder.parts:
                out.skipped.append((folder, f"unreadable: {e}"))
            continue
        if protocol and run.protocol != protocol:
            continue
        if not run.record.complete:
            out.skipped.append((folder, INCOMPLETE))
            continue
        runs.append(run)
    out.runs = merge_copies(runs)
    _assign_labels(out.runs)
    return out


def _run_folders(paths: Iterable[Path | str]) -> list[Path]:
    folders: list[Path] = []
    for p in map(Path, paths):
        found = [p] if (p / "config.json").is_file() else find_runs(p, complete_only=False)
        folders += [f for f in found if f not in folders]
    return folders


def merge_copies(runs: list[Run]) -> list[Run]:
    """One run per ``run_id``: the first folder by path, with every folder in ``copies``."""
    groups: dict[str, list[Run]] = {}
    for r in sorted(runs, key=lambda r: str(r.path)):
        groups.setdefault(r.run_id, []).append(r)
    kept = []
    for group in groups.values():
        first = group[0]
        if len(group) > 1:
            first.copies = tuple(r.path for r in group)
            first.copies_differ = any(_differ(first, r) for r in group[1:])
        kept.append(first)
    return kept


def _differ(a: Run, b: Run) -> bool:
    va, vb = a.metric_values(), b.metric_values()
    return va.keys() != vb.keys() or any(
        not (va[k] == vb[k] or (math.isnan(va[k]) and math.isnan(vb[k]))) for k in va
    )


def _assign_labels(runs: list[Run]) -> None:
    variants: dict[tuple[str, str, str], dict[str, Run]] = {}
    for r in runs:
        variants.setdefault((r.protocol, r.method, r.learner), {}).setdefault(r.variant, r)
    names = {v: name for group in variants.values() for v, name in variant_names(group).items()}
    for r in runs:
        label = entry_name(r.method, r.learner)
        if len(variants[(r.protocol, r.method, r.learner)]) > 1:
            label += f" [{names[r.variant]}]"
        r.label = label


#: the longest settings text a label carries; longer ones fall back to the variant hash
LABEL_WIDTH = 40
#: identity keys that follow from the embedded world's settings (its folder, its CLIP file)
WORLD_DERIVED = ("data.", "backbone.")


def variant_names(variants: Mapping[str, Run]) -> dict[str, str]:
    """A short name per variant of one method x learner: the settings where it departs from
    the most common value among the variants (``delta=0.0``), or ``default`` where it
    departs nowhere; the variant hash where that is not short, not plain data, or not
    unique."""
    flat = {v: _flatten(r.identity) for v, r in variants.items()}
    keys = differing_keys([r.identity for r in variants.values()], limit=None)
    if any(k.startswith("world.") for k in keys):  # each world has its own root and weights
        keys = [k for k in keys if not k.startswith(WORLD_DERIVED)]
    common: dict[str, str | None] = {}
    for k in keys:
        counts: dict[str, int] = {}
        for f in flat.values():
            counts[_text(f.get(k))] = counts.get(_text(f.get(k)), 0) + 1
        ranked = sorted(counts.values(), reverse=True)
        top = max(counts, key=counts.get)
        common[k] = top if len(ranked) == 1 or ranked[0] > ranked[1] else None  # a strict mode
    names = {}
    for v, f in flat.items():
        parts = [f"{k.rsplit('.', 1)[-1]}={_text(f.get(k))}" for k in keys
                 if _text(f.get(k)) != common[k]]  # fmt: skip
        text = ", ".join(parts) or "default"
        plain = all(not k.startswith("data") for k in keys)
        names[v] = text if plain and len(text) <= LABEL_WIDTH else v[:6]
    counted: dict[str, int] = {}
    for name in names.values():
        counted[name] = counted.get(name, 0) + 1
    return {v: (n if counted[n] == 1 else f"{n}; {v[:6]}") for v, n in names.items()}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def aggregate(runs: list[Run], metric: str) -> tuple[float, float | None, int]:
    """Mean, spread and run count of one metric over an entry's runs (copies merged).

    The spread is the standard deviation over runs (ddof=1) when there are several; for a
    single run it is the metric's own ``std`` (over splits or seeds inside the run), if any.
    """
    found = [m for r in runs if (m := r.metric(metric)) is not None and not math.isnan(m.value)]
    if not found:
        return float("nan"), None, 0
    if len(found) == 1:
        return found[0].value, found[0].std, 1
    mean, std = M.mean_std([m.value for m in found])
    return mean, std, len(found)
