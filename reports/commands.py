"""The ``compare`` and ``report`` commands (added to the ``biasbench`` CLI group).

Thin shells over :mod:`biasbench.reports.compare` and :mod:`biasbench.reports.report`; the
heavy modules (pandas, scipy, matplotlib, scikit-learn) are imported inside the commands so
``biasbench --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

FORMATS = ("text", "markdown", "latex", "csv", "json")


@click.command("compare")
@click.argument("runs", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--protocol", "-p", default=None, help="Compare every complete run of PROTOCOL.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Where to look for runs when none are given by path.",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--top-k",
    "k",
    type=int,
    default=1,
    show_default=True,
    help="Paired tests on top-k correctness.",
)
@click.option(
    "--n-boot",
    type=click.IntRange(min=1),  # the percentile CI needs at least one resample
    default=10_000,
    show_default=True,
    help="Bootstrap resamples.",
)
@click.option("--level", type=float, default=0.95, show_default=True, help="Confidence level.")
@click.option("--seed", type=int, default=0, show_default=True, help="Bootstrap seed.")
@click.option(
    "--across-learners",
    is_flag=True,
    help="Also pair entries of different learners (default: pairs stay within one learner).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def compare(runs, protocol, root, fmt, k, n_boot, level, seed, across_learners, output) -> None:
    """Methods x metrics (mean ± std over seeds) and paired tests per evaluation set.

    RUNS are run folders or folders holding runs; without RUNS, every complete run of
    --protocol under --root. For each pair of entries of one learner on the same evaluation
    set: McNemar's test on per-video correctness and a paired bootstrap CI of the accuracy
    difference. Copies of one run (same run id in several folders) count once.

    \b
    biasbench compare --protocol ucf-scuba
    biasbench compare runs/ucf-scuba/plain__vclip runs/ucf-scuba/openmede__vclip --format latex
    """
    from biasbench.errors import BiasbenchError
    from biasbench.reports.compare import compare_report, to_json
    from biasbench.reports.records import load_runs

    if not runs and not protocol:
        raise click.UsageError("give run folders, or --protocol NAME to compare all its runs")
    runset = load_runs(list(runs) or [root], protocol=protocol)
    if not runset.runs:
        where = ", ".join(map(str, runs)) or str(root)
        extra = f" ({runset.skipped_note()})" if runset.skipped else ""
        raise BiasbenchError(
            f"no complete run found in {where}" + (f" for {protocol}" if protocol else "") + extra
        )
    report = compare_report(
        runset, k=k, n_boot=n_boot, level=level, seed=seed, across_learners=across_learners
    )
    if fmt == "json":
        text = json.dumps(to_json(runset, report), indent=2)
    else:
        parts = []
        for part in report.values():
            parts.append(part["summary"].render(fmt))
            if part["pairs_table"] is not None:
                parts.append(part["pairs_table"].render(fmt))
        text = "\n\n".join(parts)
    _emit(text, output)
    for note in runset.copy_notes():
        click.echo(note, err=True)
    if runset.skipped:
        click.echo(runset.skipped_note(), err=True)


@click.command("report")
@click.option(
    "--runs",
    "runs_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path("runs"),
    show_default=True,
    help="Folder holding run records.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("report"),
    show_default=True,
    help="Where tables, figures and leaderboard.html go.",
)
@click.option(
    "--pair",
    "pairs",
    multiple=True,
    metavar="A,B",
    help="Draw class-wise gain and t-SNE of B over A: entry labels, or method names "
    "(paired within each learner); repeatable.",
)
@click.option(
    "--across-learners",
    is_flag=True,
    help="Also pair entries of different learners (default: pairs stay within one learner).",
)
@click.option(
    "--cost",
    "cost_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training-cost benchmark JSON (found under --runs automatically too).",
)
@click.option(
    "--tsne/--no-tsne",
    default=True,
    show_default=True,
    help="Draw t-SNE where embeddings were stored.",
)
@click.option(
    "--tsne-points",
    type=int,
    default=500,
    show_default=True,
    help="Videos per t-SNE panel at most.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed of t-SNE and its sampling."
)
@click.option("--no-html", is_flag=True, help="Skip the leaderboard page.")
@click.option(
    "--no-published",
    is_flag=True,
    help="Leave out the papers' printed numbers (shown beside the runs by default).",
)
def report(
    runs_dir,
    out,
    pairs,
    across_learners,
    cost_files,
    tsne,
    tsne_points,
    seed,
    no_html,
    no_published,
) -> None:
    """Paper-layout tables (Markdown, LaTeX, CSV), figures and the leaderboard page.

    Class-wise gain and t-SNE pairs stay within one learner unless --across-learners.
    The numbers printed in the Open-MeDe and FROSTER papers are shown beside the runs of the
    real benchmarks, marked published, their printed HMs checked (--no-published: left out).

    \b
    biasbench report --runs runs --out report
    biasbench report --runs runs --out report --pair openvclip,openmede
    biasbench report --runs runs --out report --pair "plain (vclip),openmede (vclip)"
    """
    from biasbench.reports.report import ReportOptions, write_report

    parsed = []
    for p in pairs:
        a, sep, b = p.partition(",")
        if not sep or not a.strip() or not b.strip():
            raise click.BadParameter(f"expected A,B, got {p!r}", param_hint="--pair")
        parsed.append((a.strip(), b.strip()))
    options = ReportOptions(
        pairs=tuple(parsed),
        across_learners=across_learners,
        tsne=tsne,
        tsne_points=tsne_points,
        seed=seed,
        cost_files=tuple(cost_files),
        html=not no_html,
        published=not no_published,
    )
    result = write_report(runs_dir, out, options)
    click.echo(
        f"{result.runs} complete run(s) read from {runs_dir}; "
        f"wrote {len(result.files)} file(s) under {out}"
    )
    if not no_html:
        click.echo(f"leaderboard: {out / 'leaderboard.html'}")
    for note in result.notes:
        click.echo(note, err=True)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        click.echo(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
