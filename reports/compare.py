"""``biasbench compare``: methods x metrics (mean ± std over seeds) and paired tests per set.

Pairing. Two entries of the same learner are compared (entries of different learners only
with ``across_learners``) on every evaluation set both stored predictions for (same
protocol, episode and set key), video by video, matched by video id; ids present in only
one run are dropped and counted. Runs are paired by seed: seed s of A with seed s of B. An
entry with a single run (a method that does not train, or one seed only) is paired with
every run of the other entry. Each matched pair of runs gives one row — McNemar's test and
a paired bootstrap interval of the top-k accuracy difference B - A — so no test mixes seeds.
Copies of one run were merged when the runs were loaded, so a run is never paired with
itself and never counted twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from biasbench.errors import BiasbenchError
from biasbench.reports.records import Run, RunSet, aggregate
from biasbench.reports.stats import (
    BootstrapResult,
    McNemarResult,
    format_p,
    mcnemar,
    paired_bootstrap,
)
from biasbench.reports.table import EMBEDDED_LABEL, Stat, Table
from biasbench.results import SetResult


@dataclass(frozen=True)
class PairedComparison:
    """Entry A vs entry B on one evaluation set, for one matched pair of runs."""

    protocol: str
    episode: str
    set: str
    a: str
    b: str
    seed_a: int
    seed_b: int
    k: int
    n: int
    dropped: int  # videos present in only one of the two runs
    acc_a: float
    acc_b: float
    mcnemar: McNemarResult
    bootstrap: BootstrapResult

    def to_dict(self) -> dict[str, Any]:
        return _clean(asdict(self))


def is_embedded(runs: list[Run]) -> bool:
    return any(r.embedded for r in runs)


def summary_table(runset: RunSet, protocol: str) -> Table:
    """Entries x metrics of one protocol: mean ± std over runs, best and second marked."""
    entries = runset.entries(protocol)
    runs = runset.for_protocol(protocol)
    names = {m.name: m.higher_is_better for r in runs for m in r.metrics}
    metrics = runset.report(protocol).ordered(names)
    columns = ["method", *(m if names[m] else f"{m} ↓" for m in metrics), "runs"]
    title = f"{protocol}: mean ± std over runs"
    if is_embedded(runs):
        title += f" ({EMBEDDED_LABEL})"
    table = Table(columns, title=title)
    for label, eruns in entries.items():
        cells: list[Any] = [label]
        for m in metrics:
            mean, std, _ = aggregate(eruns, m)
            cells.append(Stat(mean, std))
        cells.append(len(eruns))
        table.rows.append(cells)
    table.rank = {i + 1: names[m] for i, m in enumerate(metrics)}
    table.notes.append(
        "std over runs (seeds); a single run shows its own spread over splits/seeds if any"
    )
    table.notes += runset.variant_notes(protocol) + runset.copy_notes([protocol])
    if note := runset.skipped_note():
        table.notes.append(note)
    return table


def paired_correctness(
    set_a: SetResult, set_b: SetResult, k: int = 1
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-video top-k correctness of A and B on their common video ids (sorted by id).

    Returns (correct_a, correct_b, dropped), ``dropped`` counting ids in only one run.
    Raises BiasbenchError if a shared id has different labels or the vocabularies differ.
    """
    if list(set_a.class_names) != list(set_b.class_names):
        raise BiasbenchError(f"set {set_a.key!r}: the two runs scored different vocabularies")
    ca, cb = set_a.correct_by_id(k), set_b.correct_by_id(k)
    la = dict(zip(set_a.ids, set_a.labels.tolist(), strict=True))
    lb = dict(zip(set_b.ids, set_b.labels.tolist(), strict=True))
    common = sorted(set(ca) & set(cb))
    bad = [i for i in common if la[i] != lb[i]]
    if bad:
        raise BiasbenchError(
            f"set {set_a.key!r}: {len(bad)} video(s) labelled differently in the two runs, "
            f"e.g. {bad[0]!r}"
        )
    dropped = len(set(ca) ^ set(cb))
    a = np.fromiter((ca[i] for i in common), dtype=bool, count=len(common))
    b = np.fromiter((cb[i] for i in common), dtype=bool, count=len(common))
    return a, b, dropped


def match_runs(runs_a: list[Run], runs_b: list[Run]) -> list[tuple[Run, Run]]:
    """Seed-matched pairs; a single run pairs with every run of the other side."""
    if len(runs_a) == 1 or len(runs_b) == 1:
        return [(a, b) for a in runs_a for b in runs_b]
    by_seed = {r.seed: r for r in runs_b}
    return [(a, by_seed[a.seed]) for a in runs_a if a.seed in by_seed]


def entry_pairs(
    entries: dict[str, list[Run]], across_learners: bool = False
) -> list[tuple[str, str]]:
    """Pairs of entry labels to compare: those of one learner, or every pair if asked."""
    return [
        (a, b)
        for a, b in combinations(entries, 2)
        if across_learners or entries[a][0].learner == entries[b][0].learner
    ]


def learner_note(entries: dict[str, list[Run]], across_learners: bool) -> str:
    """Says which entries were not paired because their learners differ (empty if none)."""
    learners: dict[str, list[str]] = {}
    for label, runs in entries.items():
        learners.setdefault(runs[0].learner, []).append(label)
    if across_learners or len(learners) < 2:
        return ""
    groups = "; ".join(f"{lr or '-'}: {', '.join(ls)}" for lr, ls in sorted(learners.items()))
    return (
        f"entries are paired within one learner only ({groups}); "
        "--across-learners pairs entries of different learners"
    )


def compare_pairs(
    runset: RunSet,
    protocol: str,
    k: int = 1,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    notes: list[str] | None = None,
    across_learners: bool = False,
) -> list[PairedComparison]:
    """Every pair of entries of ``protocol`` (of one learner unless ``across_learners``) on
    every evaluation set they share.

    Pairs that cannot be paired (different vocabularies or labels) are left out and said
    in ``notes`` when given.
    """
    entries = runset.entries(protocol)
    cache: dict[tuple[str, str, str], SetResult] = {}

    def load(run: Run, episode: str, key: str) -> SetResult:
        ck = (str(run.path), episode, key)
        if ck not in cache:
            cache[ck] = run.load_set(episode, key)
        return cache[ck]

    out = []
    for la, lb in entry_pairs(entries, across_learners):
        for run_a, run_b in match_runs(entries[la], entries[lb]):
            for episode, key in sorted(set(run_a.set_keys()) & set(run_b.set_keys())):
                sa, sb = load(run_a, episode, key), load(run_b, episode, key)
                try:
                    ca, cb, dropped = paired_correctness(sa, sb, k)
                except BiasbenchError as e:
                    if notes is not None:
                        notes.append(
                            f"{la} vs {lb} (seeds {run_a.seed}/{run_b.seed}) not paired: {e}"
                        )
                    continue
                out.append(
                    PairedComparison(
                        protocol=protocol,
                        episode=episode,
                        set=key,
                        a=la,
                        b=lb,
                        seed_a=run_a.seed,
                        seed_b=run_b.seed,
                        k=k,
                        n=int(ca.size),
                        dropped=dropped,
                        acc_a=_accuracy(ca),
                        acc_b=_accuracy(cb),
                        mcnemar=mcnemar(ca, cb),
                        bootstrap=paired_bootstrap(ca, cb, n_boot, level, seed),
                    )
                )
    return out


def pairs_table(
    pairs: list[PairedComparison],
    protocol: str,
    embedded: bool = False,
    notes: Sequence[str] = (),
) -> Table:
    """One row per (set, A, B, seed pair): accuracies, difference with CI, McNemar."""
    k = pairs[0].k if pairs else 1
    level = pairs[0].bootstrap.level if pairs else 0.95
    episodes = {p.episode for p in pairs}
    columns = [
        "set",
        "A",
        "B",
        "seeds",
        "n",
        f"A top-{k}",
        f"B top-{k}",
        "Δ (B−A)",
        f"{100 * level:g}% CI",
        "A only",
        "B only",
        "p",
        "test",
    ]
    title = f"{protocol}: paired comparisons per video (McNemar, bootstrap CI)"
    if embedded:
        title += f" ({EMBEDDED_LABEL})"
    t = Table(columns, title=title)
    for p in pairs:
        name = p.set if len(episodes) == 1 else f"{p.episode}/{p.set}"
        seeds = str(p.seed_a) if p.seed_a == p.seed_b else f"{p.seed_a}/{p.seed_b}"
        ci = f"[{p.bootstrap.low:+.1f}, {p.bootstrap.high:+.1f}]"
        t.rows.append(
            [
                name,
                p.a,
                p.b,
                seeds,
                p.n,
                p.acc_a,
                p.acc_b,
                f"{p.bootstrap.diff:+.1f}",
                ci,
                p.mcnemar.only_a,
                p.mcnemar.only_b,
                format_p(p.mcnemar.p_value),
                p.mcnemar.method,
            ]
        )
    if pairs:
        b = pairs[0].bootstrap
        t.notes.append(
            f"paired by video id, runs matched by seed; bootstrap: {b.n_boot} resamples of "
            f"videos, seed {b.seed}, percentile interval; McNemar exact (binomial) below 25 "
            "discordant videos, else chi-square with continuity correction"
        )
    dropped = sum(p.dropped for p in pairs)
    if dropped:
        t.notes.append(f"{dropped} video(s) present in only one run of a pair were left out")
    t.notes += notes
    return t


def compare_report(
    runset: RunSet,
    k: int = 1,
    n_boot: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    across_learners: bool = False,
) -> dict[str, Any]:
    """Everything ``compare`` shows, per protocol: the summary table, pairs and their table."""
    out: dict[str, Any] = {}
    for protocol in runset.protocols:
        runs = runset.for_protocol(protocol)
        notes: list[str] = []
        pairs = compare_pairs(runset, protocol, k, n_boot, level, seed, notes, across_learners)
        if note := learner_note(runset.entries(protocol), across_learners):
            notes.append(note)
        summary = summary_table(runset, protocol)
        table = pairs_table(pairs, protocol, is_embedded(runs), notes) if pairs else None
        if not pairs:  # no pair to show: say why under the summary
            summary.notes += notes
        out[protocol] = {
            "summary": summary,
            "pairs": pairs,
            "notes": notes,
            "pairs_table": table,
        }
    return out


def to_json(runset: RunSet, report: dict[str, Any]) -> dict[str, Any]:
    """A JSON-ready document: per protocol its entries (with runs and metrics) and pairs."""
    doc: dict[str, Any] = {"protocols": {}, "skipped": [], "copies": []}
    for protocol, part in report.items():
        entries = []
        for label, runs in runset.entries(protocol).items():
            names = sorted({m.name for r in runs for m in r.metrics})
            metrics = {}
            for name in names:
                mean, std, n = aggregate(runs, name)
                hib = next(m.higher_is_better for r in runs if (m := r.metric(name)))
                metrics[name] = {"mean": mean, "std": std, "runs": n, "higher_is_better": hib}
            entries.append(
                {
                    "entry": label,
                    "method": runs[0].method,
                    "learner": runs[0].learner,
                    "embedded_world": is_embedded(runs),
                    "variant": runs[0].variant,
                    "seeds": [r.seed for r in runs],
                    "runs": [r.run_id for r in runs],
                    "records": [r.where for r in runs],
                    "metrics": metrics,
                }
            )
        doc["protocols"][protocol] = {
            "entries": entries,
            "pairs": [p.to_dict() for p in part["pairs"]],
            "notes": part["notes"],
        }
    doc["skipped"] = [{"path": str(p), "reason": why} for p, why in runset.skipped]
    doc["copies"] = [
        {"run_id": r.run_id, "paths": [str(p) for p in r.copies], "metrics_differ": r.copies_differ}
        for r in runset.runs
        if r.copies
    ]
    return _clean(doc)


def _accuracy(correct: np.ndarray) -> float:
    return 100.0 * float(correct.mean()) if correct.size else float("nan")


def _clean(obj: Any) -> Any:
    """NaN -> None so the document is strict JSON."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj
