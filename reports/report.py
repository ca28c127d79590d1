"""``biasbench report``: every table, figure and the leaderboard page from a runs folder.

Output layout::

    <out>/tables/<name>.md|.tex|.csv     paper-layout tables and one summary per protocol
    <out>/figures/<protocol>-<kind>.png|.pdf (+ .csv with the plotted numbers where useful)
    <out>/leaderboard.html               self-contained page (tables, figures, provenance)

Figures per protocol: the class-wise gain of one entry over another on the out-of-context
set, the per-epoch evaluation curves of runs that logged them, the t-SNE of the same pair
when both stored embeddings, and the static-bias dial (accuracy against the embedded world's
``p_home``) when runs set it to two values or more. A pair is two entries of one learner (never, say,
``openmede (vclip)`` against ``plain (st-adapter)``) unless ``across_learners`` is set: by
default, per learner with two entries or more, its two best on that set; ``pairs`` names
them instead (entry labels, or method names, which pair within each learner). File names
are sanitised: nothing from a run record can choose where a file is written, and CSV cells
are neutralised against formula injection.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from biasbench.errors import BiasbenchError
from biasbench.reports import plots
from biasbench.reports.compare import summary_table
from biasbench.reports.leaderboard import FigureRef, leaderboard_html
from biasbench.reports.paper_tables import find_cost_files, load_costs, paper_tables
from biasbench.reports.published import shipped
from biasbench.reports.records import Run, RunSet, load_runs
from biasbench.reports.table import Table
from biasbench.reports.tsne import context_sets, tsne_figure
from biasbench.runrecord import csv_safe

TABLE_FORMATS = {"markdown": "md", "latex": "tex", "csv": "csv"}


@dataclass(frozen=True)
class ReportOptions:
    """What to draw: explicit ``(A, B)`` pairs (entry labels or method names), whether a pair
    may join two learners, t-SNE on/off and its sample size."""

    pairs: tuple[tuple[str, str], ...] = ()
    across_learners: bool = False
    tsne: bool = True
    tsne_points: int = 500
    tsne_classes: int = 10
    seed: int = 0
    cost_files: tuple[Path, ...] = ()
    html: bool = True
    published: bool = True  # the papers' printed rows beside the runs (real benchmarks)


@dataclass
class ReportResult:
    """What was written, and what was left out and why."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0
    skipped: int = 0


def safe_name(text: str, width: int = 40) -> str:
    """A file-name-safe version of a string from a run record: letters, digits, ``_``, ``-``
    only; shortened, and suffixed with a hash of the original whenever it had to change."""
    clean = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")[:width]
    if clean == text and clean:
        return clean
    return f"{clean or 'x'}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def write_report(runs_dir: Path, out: Path, options: ReportOptions | None = None) -> ReportResult:
    """Read every complete run under ``runs_dir`` and write tables, figures and the page."""
    options = options or ReportOptions()
    runset = load_runs([runs_dir])
    result = ReportResult(runs=len(runset.runs), skipped=len(runset.skipped))
    if not runset.runs:
        raise BiasbenchError(
            f"no complete run under {runs_dir}"
            + (f" ({runset.skipped_note()})" if runset.skipped else "")
        )
    costs = load_costs([*options.cost_files, *find_cost_files(runs_dir)])
    published = shipped() if options.published else ()
    paper = paper_tables(runset, costs, published)
    per_protocol = {p: [summary_table(runset, p)] for p in runset.protocols}
    for name, table in paper.items():
        result.files += _write_table(table, out / "tables" / safe_name(name))
    for p, tables in per_protocol.items():
        result.files += _write_table(tables[0], out / "tables" / f"summary-{safe_name(p)}")
    figures = {p: _figures(runset, p, options, out / "figures", result) for p in runset.protocols}
    if options.html:
        page = leaderboard_html(
            runset, per_protocol, paper, figures, source=str(runs_dir), published=published
        )
        (out / "leaderboard.html").write_text(page, encoding="utf-8")
        result.files.append(out / "leaderboard.html")
    result.notes += runset.copy_notes()
    if runset.skipped:
        result.notes.append(runset.skipped_note())
    return result


def _write_table(table: Table, stem: Path) -> list[Path]:
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt_name, ext in TABLE_FORMATS.items():
        path = stem.with_suffix(f".{ext}")
        path.write_text(table.render(fmt_name) + "\n", encoding="utf-8")
        written.append(path)
    return written


def _figures(
    runset: RunSet, protocol: str, options: ReportOptions, folder: Path, result: ReportResult
) -> list[FigureRef]:
    entries = runset.entries(protocol)
    stem = folder / safe_name(protocol)
    refs: list[FigureRef] = []
    colours = plots.palette(list(entries))
    for a, b in _pairs(entries, options, protocol, result):
        refs += _gain(entries, a, b, protocol, stem, result)
        if options.tsne:
            refs += _tsne(entries, a, b, protocol, stem, options, result)
    epochs = plots.epoch_data(entries)
    if not epochs.empty:
        fig = plots.epoch_curves_figure(epochs, colours)
        result.files += plots.save_figure(fig, stem.with_name(stem.name + "-epochs"))
        refs.append(FigureRef(f"{protocol}: top-1 after each training epoch", _png(fig)))
    dial = plots.dial_data(runset.for_protocol(protocol))
    if not dial.empty:
        fig = plots.dial_figure(dial)
        dial_stem = stem.with_name(stem.name + "-dial")
        result.files += plots.save_figure(fig, dial_stem)
        dial.map(csv_safe).to_csv(dial_stem.with_suffix(".csv"), index=False)
        result.files.append(dial_stem.with_suffix(".csv"))
        title = f"{protocol}: accuracy against the world's {plots.DIAL_KEY} (static-bias dial)"
        refs.append(FigureRef(title, _png(fig)))
    return refs


def _pairs(
    entries: dict[str, list[Run]], options: ReportOptions, protocol: str, result: ReportResult
) -> list[tuple[str, str]]:
    """The ``(A, B)`` entry pairs to draw B over A for (see module docstring)."""
    if not options.pairs:
        return default_pairs(entries, options.across_learners)
    out = []
    for a, b in options.pairs:
        found = [(x, y) for x in _named(entries, a) for y in _named(entries, b) if x != y]
        kept = [(x, y) for x, y in found if options.across_learners or _same_learner(entries, x, y)]
        if found and not kept:
            x, y = found[0]
            result.notes.append(
                f"{protocol}: pair {a},{b} not drawn: {x} and {y} are different learners "
                "(--across-learners draws them)"
            )
        out += [pair for pair in kept if pair not in out]
    return out


def default_pairs(
    entries: dict[str, list[Run]], across_learners: bool = False
) -> list[tuple[str, str]]:
    """Per learner with two entries or more (or over all entries, ``across_learners``): the
    two with the best top-1 on the set a gain is drawn on, as (second, best)."""
    groups: dict[str, list[str]] = {}
    for label, runs in entries.items():
        groups.setdefault("" if across_learners else runs[0].learner, []).append(label)
    out = []
    for _, labels in sorted(groups.items()):
        target = _target_set(entries[labels[0]][0])
        if len(labels) < 2 or target is None:
            continue
        ranked = sorted(labels, key=lambda label: (-_score(entries[label], target), label))
        out.append((ranked[1], ranked[0]))
    return out


def _score(runs: list[Run], target: tuple[str, str]) -> float:
    vals = [r.set_summary(*target).get("top1") for r in runs]
    vals = [v for v in vals if isinstance(v, int | float)]
    return sum(vals) / len(vals) if vals else float("-inf")


def _named(entries: dict[str, list[Run]], name: str) -> list[str]:
    """Entries a ``--pair`` name means: the entry of that label, else every entry of that
    method."""
    if name in entries:
        return [name]
    return [label for label, runs in entries.items() if runs[0].method == name]


def _same_learner(entries: dict[str, list[Run]], a: str, b: str) -> bool:
    return entries[a][0].learner == entries[b][0].learner


def _target_set(run: Run) -> tuple[str, str] | None:
    """The set a class-wise gain is drawn on: the out-of-context set if the run has one, else
    the ``novel`` set (base-to-novel), else the first; None without stored predictions."""
    ctx = context_sets(run)
    if ctx:
        return ctx[1]
    keys = run.set_keys()
    return next((k for k in keys if k[1] == "novel"), keys[0] if keys else None)


def _gain(
    entries, a: str, b: str, protocol: str, stem: Path, result: ReportResult
) -> list[FigureRef]:
    target = _target_set(entries[b][0])
    if target is None:
        return []
    episode, key = target
    have = [r for r in entries[a] + entries[b] if target not in r.set_keys()]
    if have:
        result.notes.append(f"{protocol}: class-wise gain skipped, {have[0].where} lacks set {key}")
        return []
    sets_a = [r.load_set(episode, key) for r in entries[a]]
    sets_b = [r.load_set(episode, key) for r in entries[b]]
    try:
        data = plots.classwise_gain_data(sets_a, sets_b)
    except ValueError as e:
        result.notes.append(f"{protocol}: class-wise gain of {b} over {a} skipped: {e}")
        return []
    name = f"{protocol} {key}" if episode == "main" else f"{protocol} {episode}/{key}"
    fig = plots.classwise_gain_figure(data, a, b, name)
    out = stem.with_name(f"{stem.name}-gain-{safe_name(b)}-vs-{safe_name(a)}")
    result.files += plots.save_figure(fig, out)
    data.map(csv_safe).to_csv(out.with_suffix(".csv"), index=False)
    result.files.append(out.with_suffix(".csv"))
    caption = f"{protocol}: per-class top-1 gain of {b} over {a} on set {key}, sorted"
    return [FigureRef(caption, _png(fig))]


def _tsne(entries, a, b, protocol, stem, options: ReportOptions, result) -> list[FigureRef]:
    ctx = context_sets(entries[a][0])
    if ctx is None or context_sets(entries[b][0]) != ctx:
        return []
    panels = {}
    for label in (b, a):
        run = entries[label][0]  # lowest seed
        pair = tuple(run.load_set(*k) for k in ctx)
        if any(s.embeddings is None for s in pair):
            result.notes.append(
                f"{protocol}: t-SNE skipped, {run.where} stored no embeddings "
                "(run with --set eval.store_embeddings=true)"
            )
            return []
        panels[label] = pair
    fig = tsne_figure(
        panels,
        (f"{ctx[0][1]} (in context)", f"{ctx[1][1]} (out of context)"),
        options.tsne_points,
        options.tsne_classes,
        options.seed,
    )
    out = stem.with_name(f"{stem.name}-tsne-{safe_name(b)}-vs-{safe_name(a)}")
    result.files += plots.save_figure(fig, out)
    caption = f"{protocol}: t-SNE of video embeddings, {b} and {a}, coloured by class"
    return [FigureRef(caption, _png(fig))]


def _png(fig) -> bytes:
    return plots.png_bytes(fig)
