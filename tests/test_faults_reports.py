"""Reports on broken inputs: copied run folders, runs on different data, pairs of two
learners, formula strings bound for CSV, protocol names that say one thing and declare
another. Every input is made in ``tmp_path`` with the real run-record writer."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from click.testing import CliRunner
from report_fixtures import CLASSES, make_set, write_run

from biasbench.cli import _Group
from biasbench.reports.commands import compare, report
from biasbench.reports.compare import compare_pairs, compare_report, summary_table, to_json
from biasbench.reports.paper_tables import paper_tables
from biasbench.reports.records import load_runs
from biasbench.reports.report import ReportOptions, safe_name, write_report
from biasbench.reports.table import Table
from biasbench.results import Metric
from biasbench.runrecord import csv_safe

OOC = ("ic", "oc", "scufo")


def _cli(args: list[str]):
    group = _Group(commands={"compare": compare, "report": report})
    return CliRunner().invoke(group, args, catch_exceptions=False)


def _ooc(rate: float, shift: int = 0, names: list[str] | None = None) -> dict:
    ids = {"scufo": "oc"}
    return {
        k: make_set(k, 24, rate, shift, ids_from=ids.get(k, ""), class_names=names) for k in OOC
    }


def _copies(runs: Path, rate: float = 0.5) -> list[Path]:
    """One seed-0 plain/vclip run, copied to two more folders (a backup and a merge)."""
    first = write_run(runs / "a", "ucf-scuba", "plain", "vclip", 0, _ooc(rate))
    out = [first]
    for where in ("b", "c"):
        dest = runs / where / first.relative_to(runs / "a")
        shutil.copytree(first, dest)
        out.append(dest)
    return out


# --- copies of one run -------------------------------------------------------------------


def test_three_copies_of_one_seed_print_as_one_run(tmp_path):
    runs = tmp_path / "runs"
    paths = _copies(runs)
    rs = load_runs([runs])
    assert len(rs.runs) == 1 and rs.runs[0].copies == tuple(paths)
    t = summary_table(rs, "ucf-scuba")
    assert [row[0] for row in t.rows] == ["plain (vclip)"] and t.rows[0][-1] == 1
    text = t.to_text()
    assert "± 0.0" not in text  # one run: no spread over "3 runs"
    note = f"3 copies of run {rs.runs[0].run_id} counted once: " + ", ".join(map(str, paths))
    assert note in t.notes
    assert rs.frame().copies.unique().tolist() == [3]


def test_copies_count_once_in_paired_tests_and_compare_output(tmp_path):
    runs = tmp_path / "runs"
    _copies(runs, rate=0.4)
    for seed in (0, 1):
        write_run(runs / "a", "ucf-scuba", "openmede", "vclip", seed, _ooc(0.6, seed))
    rs = load_runs([runs])
    pairs = compare_pairs(rs, "ucf-scuba", n_boot=50)
    # plain has one run (not three): it pairs once with each openmede seed, per set
    assert sorted((p.set, p.seed_a, p.seed_b) for p in pairs) == [
        (s, a, 0) for s in OOC for a in (0, 1)
    ]
    result = _cli(["compare", "-p", "ucf-scuba", "--root", str(runs), "--n-boot", "50"])
    assert result.exit_code == 0
    line = next(x for x in result.output.splitlines() if "copies of run" in x)
    print(line)
    assert line.startswith("* 3 copies of run ") and "counted once" in line
    doc = to_json(rs, compare_report(rs, n_boot=50))
    plain = next(e for e in doc["protocols"]["ucf-scuba"]["entries"] if e["method"] == "plain")
    assert plain["metrics"]["oc_top1"]["runs"] == 1 and plain["seeds"] == [0]
    assert len(doc["copies"]) == 1 and len(doc["copies"][0]["paths"]) == 3


def test_copies_with_different_metrics_are_flagged(tmp_path):
    """Same identity (seed included) written twice with different numbers: counted once,
    and the note says the copies disagree and which one is used."""
    runs = tmp_path / "runs"
    a = write_run(runs / "a", "ucf-scuba", "plain", "vclip", 0, _ooc(0.5))
    b = write_run(runs / "b", "ucf-scuba", "plain", "vclip", 0, _ooc(0.7))
    rs = load_runs([runs])
    assert len(rs.runs) == 1 and rs.runs[0].path == a
    (note,) = rs.copy_notes()
    assert note.endswith(f"(their metrics differ; {a} is used)") and str(b) in note


def test_an_incomplete_copy_is_skipped_not_counted(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs / "a", "ucf-scuba", "plain", "vclip", 0, _ooc(0.5))
    write_run(runs / "b", "ucf-scuba", "plain", "vclip", 0, _ooc(0.5), complete=False)
    rs = load_runs([runs])
    assert len(rs.runs) == 1 and not rs.runs[0].copies and not rs.copy_notes()
    assert rs.skipped_note() == "1 incomplete run(s) skipped (no COMPLETE marker)"


def test_report_lists_copies(tmp_path):
    runs = tmp_path / "runs"
    _copies(runs)
    result = write_report(runs, tmp_path / "report", ReportOptions(tsne=False))
    assert result.runs == 1
    assert any(n.startswith("3 copies of run ") for n in result.notes)
    md = (tmp_path / "report" / "tables" / "summary-ucf-scuba.md").read_text()
    assert "3 copies of run" in md
    page = (tmp_path / "report" / "leaderboard.html").read_text()
    assert "(+2 copies, counted once)" in page


# --- different data ----------------------------------------------------------------------


def test_runs_on_different_data_are_different_entries(tmp_path):
    runs = tmp_path / "runs"
    for root, rate in (("/data/ucf101", 0.5), ("/mnt/other-ucf", 0.3)):
        for seed in (0, 1):
            sets = _ooc(rate, seed)
            write_run(runs, "ucf-scuba", "plain", "vclip", seed, sets, data_root=root)
    rs = load_runs([runs])
    entries = rs.entries("ucf-scuba")
    assert len(entries) == 2 and all(len(v) == 2 for v in entries.values())
    # data roots and annotation hashes are no label: the variant hash names the entry
    assert set(entries) == {f"plain (vclip) [{r.variant[:6]}]" for r in rs.runs}
    t = summary_table(rs, "ucf-scuba")
    assert [row[-1] for row in t.rows] == [2, 2]
    (note,) = rs.variant_notes("ucf-scuba")
    print(note)
    hashes = ", ".join(f"[{v[:6]}]" for v in sorted({r.variant for r in rs.runs}))
    differ = "they differ in data.annotations, data.roots"
    assert note == f"plain (vclip): 2 variants {hashes} are separate entries; {differ}"
    assert note in t.notes


# --- two learners ------------------------------------------------------------------------


def _two_learners(runs: Path) -> None:
    write_run(runs, "ucf-scuba", "openmede", "vclip", 0, _ooc(0.6))
    write_run(runs, "ucf-scuba", "plain", "st-adapter", 0, _ooc(0.4))


def test_other_learners_are_named_and_never_paired_by_default(tmp_path):
    runs = tmp_path / "runs"
    _two_learners(runs)
    rs = load_runs([runs])
    assert list(rs.entries("ucf-scuba")) == ["openmede (vclip)", "plain (st-adapter)"]
    assert compare_pairs(rs, "ucf-scuba", n_boot=50) == []
    part = compare_report(rs, n_boot=50)["ucf-scuba"]
    assert part["pairs"] == [] and "paired within one learner only" in part["notes"][0]
    across = compare_pairs(rs, "ucf-scuba", n_boot=50, across_learners=True)
    assert {(p.a, p.b) for p in across} == {("openmede (vclip)", "plain (st-adapter)")}
    assert "table4-model-agnostic" not in paper_tables(rs)  # no learner has both methods


def test_report_draws_no_gain_of_one_learner_over_another(tmp_path):
    runs = tmp_path / "runs"
    _two_learners(runs)
    out = tmp_path / "report"
    result = _cli(["report", "--runs", str(runs), "--out", str(out), "--pair", "plain,openmede"])
    assert result.exit_code == 0
    assert not list((out / "figures").glob("*-gain-*"))
    line = next(x for x in result.output.splitlines() if "not drawn" in x)
    print(line)
    assert "plain (st-adapter) and openmede (vclip) are different learners" in line
    across = ["--across-learners", "--no-html"]
    result = _cli(
        ["report", "--runs", str(runs), "--out", str(out), "--pair", "plain,openmede", *across]
    )
    assert result.exit_code == 0
    gain = f"ucf-scuba-gain-{safe_name('openmede (vclip)')}-vs-{safe_name('plain (st-adapter)')}"
    assert (out / "figures" / f"{gain}.png").is_file()


def test_compare_command_pairs_across_learners_only_when_asked(tmp_path):
    runs = tmp_path / "runs"
    _two_learners(runs)
    base = ["compare", "-p", "ucf-scuba", "--root", str(runs), "--n-boot", "50"]
    plain = _cli(base)
    assert "McNemar" not in plain.output and "--across-learners pairs" in plain.output
    assert "McNemar" in _cli([*base, "--across-learners"]).output


def test_table4_keeps_each_learner_to_itself(tmp_path):
    runs = tmp_path / "runs"
    for method, learner, v in (
        ("openmede", "vclip", 60.0),
        ("plain", "st-adapter", 40.0),
        ("plain", "vclip", 55.0),
    ):
        sets = {"test": make_set("test", 8, 0.5, 0)}
        write_run(runs, "xd-ucf", method, learner, 0, sets, [Metric("top1", v, n=8)])
    t = paper_tables(load_runs([runs]))["table4-model-agnostic"]
    assert t.rows == [["vclip", 55.0, 60.0, "+5.0"]]


# --- formulas in CSV ---------------------------------------------------------------------


FORMULA = '=HYPERLINK("http://evil.example","click")'
HOSTILE_CLASSES = ["=cmd|' /C calc'!A0", "+1+1", "-2-2", "@SUM(1,1)", *CLASSES[4:]]


def _cells(path: Path) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"))) if row]


def test_formula_names_are_neutralised_in_every_csv(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "ucf-scuba", FORMULA, "vclip", 0, _ooc(0.6, names=HOSTILE_CLASSES))
    write_run(runs, "ucf-scuba", "plain", "vclip", 0, _ooc(0.3, names=HOSTILE_CLASSES))
    out = tmp_path / "report"
    # plain drawn over the better entry: every class gain is <= 0
    write_report(runs, out, ReportOptions(pairs=((FORMULA, "plain"),), tsne=False, html=False))
    summary = _cells(out / "tables" / "summary-ucf-scuba.csv")
    labels = [row[0] for row in summary[1:]]
    print(labels)
    assert f"'{FORMULA} (vclip)" in labels and "plain (vclip)" in labels
    (gain_csv,) = (out / "figures").glob("*-gain-*.csv")
    rows = _cells(gain_csv)
    classes = {row[0] for row in rows[1:]}
    print(sorted(classes))
    assert {"'=cmd|' /C calc'!A0", "'+1+1", "'-2-2", "'@SUM(1,1)"} <= classes
    assert all(not c or c[0] not in "=+-@" for row in rows for c in row if not _is_number(c))
    assert any(float(row[3]) < 0 for row in rows[1:])  # negative gains stay numbers
    for table in (out / "tables").glob("*.csv"):
        for row in _cells(table):
            assert all(not c or c[0] not in "=+-@\t\r" or _is_number(c) for c in row), table


def test_compare_csv_neutralises_formulas(tmp_path):
    runs = tmp_path / "runs"
    write_run(runs, "ucf-scuba", FORMULA, "vclip", 0, _ooc(0.6))
    result = _cli(["compare", "-p", "ucf-scuba", "--root", str(runs), "--format", "csv"])
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[1][0] == f"'{FORMULA} (vclip)"


def test_csv_safe_keeps_numbers_and_quotes_formulas():
    assert csv_safe("-3.2") == "-3.2" and csv_safe("+4.0") == "+4.0" and csv_safe(-3.2) == -3.2
    assert csv_safe("-1e-3") == "-1e-3"
    assert csv_safe("=1+1") == "'=1+1" and csv_safe("-2-2") == "'-2-2"
    assert csv_safe("@SUM(A1)") == "'@SUM(A1)" and csv_safe("\t=x") == "'\t=x"
    assert csv_safe("") == "" and csv_safe("plain") == "plain"
    t = Table(["method", "=gain"], rows=[["=evil", -3.2], ["ok", "-0.5"], ["-x", float("nan")]])
    assert t.to_csv().splitlines() == ["method,'=gain", "'=evil,-3.2", "ok,-0.5", "'-x,"]


# --- protocol names mean nothing ---------------------------------------------------------


def test_layout_follows_the_declared_report_not_the_protocol_name(tmp_path):
    """A protocol called ``b2n-ucf`` that declares an out-of-context report gets Table 3 of
    its declared dataset; one called ``synth-xd`` on real data declaring a cross-dataset
    report lands in the real Table 2 under its declared dataset name."""
    runs = tmp_path / "runs"
    ooc = {"family": "ooc", "dataset": "Mystery", "metric_order": ["oc_top1", "ic_top1"]}
    write_run(runs, "b2n-ucf", "plain", "vclip", 0, _ooc(0.5), report=ooc)
    xd = {"family": "xd", "dataset": "Thing", "metric_order": ["top1"]}
    sets = {"test": make_set("test", 8, 0.5, 0)}
    write_run(runs, "synth-xd", "plain", "vclip", 0, sets, [Metric("top1", 70.0, n=8)], report=xd)
    rs = load_runs([runs])
    tables = paper_tables(rs)
    assert "table1-base-to-novel" not in tables
    assert "table3-out-of-context-mystery" in tables
    assert tables["table2-cross-dataset"].columns == ["Method", "Thing"]
    assert summary_table(rs, "b2n-ucf").columns[1:3] == ["oc_top1", "ic_top1"]
    assert all(not k.startswith("embedded-") for k in tables)
    assert "(zero-shot)" in str(tables["table5-ic-oc"].groups)  # real, so labelled


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
