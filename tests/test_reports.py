"""Reports on fixture run records: tables (golden), HM, statistics, figures, CLI, HTML safety."""

from __future__ import annotations

import html
import json
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from report_fixtures import (
    MALICIOUS,
    build_runs,
    make_set,
    shared_report,
    write_run,
    write_v1_run,
)
from scipy import stats

from biasbench import metrics as M
from biasbench.cli import _Group
from biasbench.reports import stats as S
from biasbench.reports.commands import compare, report
from biasbench.reports.compare import compare_pairs, compare_report, summary_table, to_json
from biasbench.reports.families import ReportInfo, declared_report, report_info
from biasbench.reports.paper_tables import (
    base_to_novel_table,
    hat_accuracy,
    load_costs,
    paper_tables,
)
from biasbench.reports.plots import classwise_gain_data, classwise_gain_figure, save_figure
from biasbench.reports.records import load_runs
from biasbench.reports.report import default_pairs, safe_name
from biasbench.reports.table import EMBEDDED_LABEL, Stat, Table, latex_escape
from biasbench.reports.tsne import context_sets, tsne_figure
from biasbench.results import Metric, SetResult

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("BIASBENCH_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory) -> Path:
    return build_runs(tmp_path_factory.mktemp("reports") / "runs", malicious=False)


@pytest.fixture(scope="module")
def runset(runs_dir):
    return load_runs([runs_dir])


def _cli(args: list[str]):
    """Run a command through the biasbench group class, as ``biasbench`` will."""
    group = _Group(commands={"compare": compare, "report": report})
    return CliRunner().invoke(group, args, catch_exceptions=False)


# --- run records -------------------------------------------------------------------------


def test_incomplete_runs_never_reach_a_table_and_are_counted(runset):
    assert len(runset.skipped) == 1
    path, why = runset.skipped[0]
    assert why.startswith("incomplete") and path.name.startswith("seed3-")
    assert all(r.seed != 3 for r in runset.runs)
    assert runset.skipped_note() == "1 incomplete run(s) skipped (no COMPLETE marker)"
    t = summary_table(runset, "ucf-scuba")
    assert runset.skipped_note() in t.notes
    assert [row[-1] for row in t.rows if row[0] == "openmede (vclip)"] == [3]  # seeds 0-2 only


def test_frame_has_identity_and_provenance_per_metric(runset):
    df = runset.frame()
    one = df[(df.protocol == "ucf-scuba") & (df.entry == "openmede (vclip)") & (df.seed == 1)]
    assert set(one.metric) == {
        "ic_top1",
        "ic_top5",
        "oc_top1",
        "oc_top5",
        "hm_top1",
        "scufo_top1",
        "contrasted",
    }
    assert set(one.commit) == {"c0ffee1"} and set(one.learner) == {"vclip"}
    assert set(one.copies) == {1} and one.record.iloc[0].startswith("ucf-scuba/openmede__vclip/")
    assert df[df.protocol == "synth-scuba"].embedded.all()
    assert not df[df.protocol == "ucf-scuba"].embedded.any()
    assert not one[one.metric == "scufo_top1"].higher_is_better.iloc[0]


def test_unreadable_record_is_skipped_with_its_file(tmp_path):
    runs = tmp_path / "runs"
    path = write_run(
        runs, "ucf-scuba", "plain", "vclip", 0, {k: make_set(k, 8, 0.5, 0) for k in ("ic", "oc")}
    )
    (path / "metrics.json").write_text("{not json")
    rs = load_runs([runs])
    assert not rs.runs and "metrics.json" in rs.skipped[0][1]
    assert rs.skipped_note() == "1 unreadable run record(s) skipped"


def test_report_family_comes_from_the_record_not_the_name():
    declared = declared_report(
        {"family": "ooc", "dataset": "UCF", "metric_order": ["oc_top1", "ic_top1"]}
    )
    assert declared == ReportInfo("ooc", "UCF", ("oc_top1", "ic_top1"), declared=True)
    # a name that says "b2n" means nothing: the declaration wins
    info = report_info([None, declared], "b2n-ucf", {"base_top1", "novel_top1"})
    assert (info.family, info.dataset) == ("ooc", "UCF")
    assert info.ordered(["ic_top1", "zeta", "oc_top1", "alpha"]) == [
        "oc_top1",
        "ic_top1",
        "alpha",
        "zeta",
    ]
    # schema 1 (no report): family from the metric names, dataset = the protocol as is
    v1 = report_info([None], "xd-ucf-full", {"base_top1", "novel_top1", "hm"})
    assert (v1.family, v1.dataset, v1.declared) == ("b2n", "xd-ucf-full", False)
    assert v1.ordered(["hm", "novel_top1", "base_top1"]) == ["base_top1", "novel_top1", "hm"]
    assert report_info([None], "mystery", {"weird"}).family == "other"
    assert report_info([None], "ucf-hat", {"close_top1", "far_top1"}).family == "hat"
    assert declared_report({}) is None and declared_report({"family": ""}) is None
    no_dataset = report_info([declared_report({"family": "xd"})], "xd-k600", {"top1"})
    assert no_dataset.dataset == "xd-k600"


def test_schema_1_records_still_load(tmp_path):
    """Old records: no schema_version, sets as ``<set>.npz``; family from their metrics."""
    runs = tmp_path / "runs"
    sets = {k: make_set(k, 16, 0.5, 0) for k in ("ic", "oc")}
    path = write_v1_run(runs, "ucf-scuba", "plain", "vclip", 0, sets)
    write_v1_run(runs, "ucf-scuba", "plain", "vclip", 1, sets)
    rs = load_runs([runs])
    assert [r.record.schema_version for r in rs.runs] == [1, 1] and not rs.skipped
    assert list(rs.entries("ucf-scuba")) == ["plain (vclip)"]
    info = rs.report("ucf-scuba")
    assert (info.family, info.dataset, info.declared) == ("ooc", "ucf-scuba", False)
    run = rs.runs[0]
    assert run.path == path and run.set_keys() == [("main", "ic"), ("main", "oc")]
    assert run.load_set("main", "oc").ids == sets["oc"].ids
    assert summary_table(rs, "ucf-scuba").columns[1:3] == ["ic_top1", "ic_top5"]
    assert "table3-out-of-context-ucf-scuba" in paper_tables(rs)


# --- tables ------------------------------------------------------------------------------


@pytest.mark.parametrize("ext,fmt", [("md", "markdown"), ("tex", "latex"), ("csv", "csv")])
def test_table3_matches_golden_file(runset, ext, fmt):
    table = paper_tables(runset)["table3-out-of-context-ucf"]
    text = table.render(fmt) + "\n"
    golden = GOLDEN / f"table3-out-of-context-ucf.{ext}"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), (
        f"rerun with BIASBENCH_UPDATE_GOLDEN=1 to accept; {golden}"
    )


def test_hm_is_recomputed_from_the_values_shown(runset):
    tables = paper_tables(runset)
    b2n = tables["table1-base-to-novel"]
    ucf = b2n.groups.index(("UCF", 3))
    start = 1 + 3 * (ucf - 1)
    row = next(r for r in b2n.rows if r[0] == "openmede (vclip)")
    base, novel, hm = row[start : start + 3]
    assert (base, novel) == (94.9, 78.5)
    assert hm == pytest.approx(2 * 94.9 * 78.5 / (94.9 + 78.5))  # stored "hm" is 0.0
    t3 = tables["table3-out-of-context-ucf"]
    for r in t3.rows:
        top1 = [r[1], r[3], r[5]]
        assert r[7] == pytest.approx(3 / sum(1 / v for v in top1))
        top5 = [r[2], r[4], r[6]]
        assert r[8] == pytest.approx(M.harmonic_mean(*top5))
    t5 = tables["table5-ic-oc"]
    for r in t5.rows:
        for g in range(2):
            ic, oc, hm = r[1 + 3 * g : 4 + 3 * g]
            assert hm == pytest.approx(2 * ic * oc / (ic + oc))


def test_hat_column_pools_close_and_far_videos(runset):
    runs = runset.entries("ucf-hat")["openmede (vclip)"]
    by_hand = [
        (r.sets["main/close"]["top1"] * 20 + r.sets["main/far"]["top1"] * 30) / 50 for r in runs
    ]
    assert hat_accuracy(runs) == pytest.approx(np.mean(by_hand))


def test_paper_tables_keep_embedded_runs_apart(runset):
    tables = paper_tables(runset)
    embedded = [k for k in tables if k.startswith("embedded-")]
    assert embedded == ["embedded-table5-ic-oc", "embedded-table3-out-of-context-world"]
    for k in embedded:
        assert EMBEDDED_LABEL in tables[k].title
    for k, t in tables.items():
        if not k.startswith("embedded-"):
            assert EMBEDDED_LABEL not in t.title and "World" not in str(t.groups)


def test_table4_pairs_each_learner_with_and_without_openmede(tmp_path):
    """Plain vs + Open-MeDe per learner, gains by hand; real and embedded apart; a learner
    without both methods and a method other than the two are left out."""
    runs = tmp_path / "runs"
    top1 = {  # (protocol, method, learner) -> top-1 per seed
        ("synth-xd", "plain", "vclip"): [50.0, 54.0],
        ("synth-xd", "openmede", "vclip"): [55.0, 57.0],
        ("synth-xd", "plain", "st-adapter"): [40.0],
        ("synth-xd", "openmede", "st-adapter"): [39.5],
        ("synth-xd", "plain", "xclip"): [30.0],  # no openmede run: no row
        ("synth-xd", "froster", "vclip"): [99.0],  # neither plain nor openmede: ignored
        ("xd-ucf", "plain", "vclip"): [80.0],
        ("xd-ucf", "openmede", "vclip"): [83.7],
    }
    for (protocol, method, learner), values in top1.items():
        for seed, v in enumerate(values):
            sets = {"test": make_set("test", 8, 0.5, seed)}
            embedded = protocol.startswith("synth")
            metrics = [Metric("top1", v, n=8)]
            write_run(runs, protocol, method, learner, seed, sets, metrics, embedded=embedded)
    tables = paper_tables(load_runs([runs]))
    t = tables["embedded-table4-model-agnostic"]
    assert EMBEDDED_LABEL in t.title
    assert t.columns == ["Learner", "Plain", "+ Open-MeDe", "Gain"]
    rows = {r[0]: r[1:] for r in t.rows}
    assert set(rows) == {"vclip", "st-adapter"}
    assert rows["vclip"] == [pytest.approx(52.0), pytest.approx(56.0), "+4.0"]
    assert rows["st-adapter"] == [pytest.approx(40.0), pytest.approx(39.5), "-0.5"]
    real = tables["table4-model-agnostic"]
    assert EMBEDDED_LABEL not in real.title and real.rows == [["vclip", 80.0, 83.7, "+3.7"]]
    assert "Gain" in real.render("markdown")


def test_table2_and_table9(runset, runs_dir):
    tables = paper_tables(runset, load_costs([runs_dir / "benchmarks" / "training_cost.json"]))
    t2 = tables["table2-cross-dataset"]
    assert t2.columns == ["Method", "HMDB", "UCF"]
    assert "83.7 ± 1.3" in t2.to_text()
    t9 = tables["table9-training-cost"]
    row = next(r for r in t9.rows if r[0] == "openmede")
    assert row[6] == pytest.approx(16988.0 / 1024) and row[3] == pytest.approx(149.62)
    assert t9.marks()[[r[0] for r in t9.rows].index("plain")][6] == "best"  # least memory


def test_base_to_novel_table_needs_protocols(runset):
    assert base_to_novel_table(runset, []) is None


def test_best_and_second_best_marks_in_every_format():
    t = Table(["m", "acc", "err ↓", "note"], title="T", digits=1)
    t.rows = [
        ["a", 80.04, 3.0, "x"],
        ["b", 80.0, 1.0, "y"],
        ["c", 70.0, 2.0, "z"],
        ["d", Stat(75.0, 1.0), float("nan"), ""],
    ]
    t.rank = {1: True, 2: False}
    # 80.04 and 80.0 tie at the shown precision: both best; Stat ranks by its mean
    assert [m[1] for m in t.marks()] == ["best", "best", "", "second"]
    assert [m[2] for m in t.marks()] == ["", "best", "second", ""]
    assert "| **80.0** | 3.0 |" in t.to_markdown()
    assert r"\textbf{80.0} & \textbf{1.0}" in t.to_latex()
    assert r"\underline{75.0 $\pm$ 1.0}" in t.to_latex()
    assert '<td data-value="75.0" class="second"><u>75.0 ± 1.0</u></td>' in t.to_html()
    assert "80.0*" in t.to_text() and "75.0 ± 1.0+" in t.to_text()
    assert t.to_csv().splitlines()[1] == "a,80.0,3.0,x"  # CSV: values only


def test_groups_latex_and_flattened_headers():
    t = Table(["Method", "Base", "Novel"], groups=[("", 1), ("K400", 2)], title="50% & more")
    t.rows = [["x_y", 1.0, 2.0]]
    tex = t.to_latex()
    assert r"\multicolumn{2}{c}{K400}" in tex and r"\cmidrule(lr){2-3}" in tex
    assert r"\caption{50\% \& more}" in tex and r"x\_y" in tex
    assert t.to_csv().splitlines()[0] == "Method,K400 Base,K400 Novel"
    assert latex_escape("a^b~c\\") == r"a\textasciicircum{}b\textasciitilde{}c\textbackslash{}"
    with pytest.raises(ValueError):
        Table(["a", "b"], groups=[("", 1), ("g", 2)]).flat_columns()
    with pytest.raises(ValueError):
        t.render("docx")


def test_markdown_and_latex_neutralise_record_strings():
    t = Table(["method", "v"], rows=[[MALICIOUS, 1.0]])
    md, tex = t.to_markdown(), t.to_latex()
    assert "<img" not in md and "&lt;img" in md
    assert "<script>" not in tex and r"\{\{title\}\}" in tex


# --- statistics --------------------------------------------------------------------------


def _pairs(only_a: int, only_b: int, both: int = 7, neither: int = 5):
    a = [1] * only_a + [0] * only_b + [1] * both + [0] * neither
    b = [0] * only_a + [1] * only_b + [1] * both + [0] * neither
    return np.array(a, bool), np.array(b, bool)


@pytest.mark.parametrize("only_a,only_b", [(0, 0), (1, 0), (3, 9), (10, 4), (12, 12), (0, 24)])
def test_mcnemar_exact_matches_scipy_binomtest(only_a, only_b):
    r = S.mcnemar(*_pairs(only_a, only_b))
    assert (r.only_a, r.only_b, r.method) == (only_a, only_b, "exact")
    n = only_a + only_b
    expected = stats.binomtest(only_a, n, 0.5).pvalue if n else 1.0
    assert r.p_value == pytest.approx(expected, rel=1e-9)


def test_mcnemar_exact_by_hand():
    # 1 vs 5 discordant: p = 2 * (C(6,0) + C(6,1)) / 2^6 = 14 / 64
    assert S.mcnemar(*_pairs(1, 5)).p_value == pytest.approx(14 / 64)


@pytest.mark.parametrize("only_a,only_b", [(30, 12), (25, 0), (100, 120)])
def test_mcnemar_chi2_with_continuity_correction_by_hand(only_a, only_b):
    r = S.mcnemar(*_pairs(only_a, only_b))
    stat = (abs(only_a - only_b) - 1) ** 2 / (only_a + only_b)
    assert r.method == "chi2-cc" and r.statistic == pytest.approx(stat)
    # chi-square with 1 dof: P(X > s) = erfc(sqrt(s / 2))
    assert r.p_value == pytest.approx(math.erfc(math.sqrt(stat / 2)), rel=1e-9)
    assert r.p_value == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-9)


def test_mcnemar_switches_to_chi2_at_25_discordant():
    assert S.mcnemar(*_pairs(20, 4)).method == "exact"
    assert S.mcnemar(*_pairs(20, 5)).method == "chi2-cc"
    with pytest.raises(ValueError):
        S.mcnemar(np.ones(3, bool), np.ones(4, bool))


def test_bootstrap_is_seeded_deterministic_and_centred():
    rng = np.random.default_rng(5)
    a, b = rng.random(400) < 0.6, rng.random(400) < 0.7
    r1 = S.paired_bootstrap(a, b, n_boot=4000, seed=3)
    assert r1 == S.paired_bootstrap(a, b, n_boot=4000, seed=3)
    assert r1 != S.paired_bootstrap(a, b, n_boot=4000, seed=4)
    assert r1.diff == pytest.approx(100 * (b.mean() - a.mean()))
    assert r1.low < r1.diff < r1.high
    # against the normal approximation: half-width ~ 1.96 * sd(d) / sqrt(N)
    d = b.astype(float) - a.astype(float)
    half = 1.96 * 100 * d.std() / math.sqrt(d.size)
    assert (r1.high - r1.low) / 2 == pytest.approx(half, rel=0.1)


def test_bootstrap_agrees_with_index_resampling():
    rng = np.random.default_rng(0)
    a, b = rng.random(150) < 0.5, rng.random(150) < 0.65
    fast = S.paired_bootstrap(a, b, n_boot=20000, seed=1)
    idx = np.random.default_rng(2).integers(0, a.size, size=(20000, a.size))
    means = 100 * (b[idx].mean(1) - a[idx].mean(1))
    low, high = np.percentile(means, [2.5, 97.5])
    assert fast.low == pytest.approx(low, abs=1.0) and fast.high == pytest.approx(high, abs=1.0)


def test_bootstrap_degenerate_cases_by_hand():
    same = S.paired_bootstrap(np.ones(10, bool), np.ones(10, bool))
    assert (same.diff, same.low, same.high) == (0.0, 0.0, 0.0)
    all_b = S.paired_bootstrap(np.zeros(10, bool), np.ones(10, bool))
    assert (all_b.diff, all_b.low, all_b.high) == (100.0, 100.0, 100.0)
    assert math.isnan(S.paired_bootstrap(np.zeros(0), np.zeros(0)).diff)
    with pytest.raises(ValueError):
        S.paired_bootstrap(np.ones(3), np.ones(3), level=1.5)


def test_pairs_are_seed_matched_and_by_video_id(runset):
    om, ov, zs = "openmede (vclip)", "openvclip (vclip)", "zero-shot (clip)"
    pairs = compare_pairs(runset, "ucf-scuba", n_boot=200)
    om_ov = [p for p in pairs if (p.a, p.b) == (om, ov) and p.set == "oc"]
    assert sorted((p.seed_a, p.seed_b) for p in om_ov) == [(0, 0), (1, 1), (2, 2)]
    assert not [p for p in pairs if zs in (p.a, p.b)]  # another learner: not paired
    across = compare_pairs(runset, "ucf-scuba", n_boot=200, across_learners=True)
    zs_om = [p for p in across if p.b == zs and p.a == om and p.set == "oc"]
    assert sorted((p.seed_a, p.seed_b) for p in zs_om) == [(0, 0), (1, 0), (2, 0)]
    p = om_ov[0]
    run_a = runset.entries("ucf-scuba")[om][0]
    run_b = runset.entries("ucf-scuba")[ov][0]
    ca = run_a.load_set("main", "oc").correct(1)
    cb = run_b.load_set("main", "oc").correct(1)
    assert p.acc_a == pytest.approx(100 * ca.mean()) and p.acc_b == pytest.approx(100 * cb.mean())
    assert (p.mcnemar.only_a, p.mcnemar.only_b) == (int((ca & ~cb).sum()), int((~ca & cb).sum()))


def test_pairing_drops_unshared_ids_and_notes_other_vocabularies(tmp_path):
    runs = tmp_path / "runs"
    full = {k: make_set(k, 20, 0.5, 0) for k in ("ic", "oc")}
    part = {
        "ic": make_set("ic", 16, 0.8, 1),
        "oc": make_set("oc", 20, 0.5, 0, class_names=[f"other {i}" for i in range(8)]),
    }
    write_run(runs, "ucf-scuba", "a", "clip", 0, full)
    write_run(runs, "ucf-scuba", "b", "clip", 0, part)
    notes: list[str] = []
    pairs = compare_pairs(load_runs([runs]), "ucf-scuba", n_boot=100, notes=notes)
    assert [(p.set, p.n, p.dropped) for p in pairs] == [("ic", 16, 4)]
    assert len(notes) == 1 and "different vocabularies" in notes[0]


# --- compare / report commands -----------------------------------------------------------


def test_compare_command_formats(runs_dir):
    text = _cli(["compare", "--protocol", "ucf-scuba", "--root", str(runs_dir), "--n-boot", "500"])
    assert text.exit_code == 0, text.output
    assert "ucf-scuba: mean ± std over runs" in text.output
    assert "McNemar" in text.output and "1 incomplete run(s) skipped" in text.output
    md = _cli(["compare", str(runs_dir / "ucf-scuba"), "--format", "markdown", "--n-boot", "100"])
    assert md.output.startswith("**ucf-scuba: mean ± std over runs**")
    tex = _cli(["compare", "-p", "xd-ucf", "--root", str(runs_dir), "--format", "latex"])
    assert r"\begin{tabular}" in tex.output
    csv_out = _cli(["compare", "-p", "xd-ucf", "--root", str(runs_dir), "--format", "csv"])
    assert csv_out.output.splitlines()[0] == "method,top1,runs"
    js = _cli(
        [
            "compare",
            "-p",
            "ucf-scuba",
            "--root",
            str(runs_dir),
            "--format",
            "json",
            "--n-boot",
            "100",
        ]
    )
    doc = json.loads(js.stdout)
    part = doc["protocols"]["ucf-scuba"]
    om = next(e for e in part["entries"] if e["entry"] == "openmede (vclip)")
    assert om["seeds"] == [0, 1, 2] and om["metrics"]["oc_top1"]["runs"] == 3
    assert part["pairs"][0]["mcnemar"]["method"] in ("exact", "chi2-cc")
    assert doc["skipped"][0]["reason"].startswith("incomplete")


def test_compare_command_errors_in_one_line(tmp_path):
    result = _cli(["compare", "--protocol", "ucf-scuba", "--root", str(tmp_path)])
    assert result.exit_code == 1 and result.output.startswith("error: no complete run found")
    usage = _cli(["compare"])
    assert usage.exit_code == 2


def test_compare_json_is_strict(runset):
    doc = to_json(runset, compare_report(runset, n_boot=50))
    json.dumps(doc, allow_nan=False)  # NaN written as null


def test_report_command_writes_tables_figures_and_page(tmp_path):
    runs = tmp_path / "runs"
    for method, rate in (("plain", 0.3), ("openmede", 0.5)):
        sets = {k: make_set(k, 24, rate, 0) for k in ("ic", "oc")}
        write_run(runs, "ucf-scuba", method, "vclip", 0, sets)
    out = tmp_path / "report"
    result = _cli(["report", "--runs", str(runs), "--out", str(out), "--pair", "plain,openmede"])
    assert result.exit_code == 0, result.output
    assert "2 complete run(s)" in result.output
    for ext in ("md", "tex", "csv"):
        assert (out / "tables" / f"table3-out-of-context-ucf.{ext}").is_file()
        assert (out / "tables" / f"summary-ucf-scuba.{ext}").is_file()
    png = (
        out
        / "figures"
        / (f"ucf-scuba-gain-{safe_name('openmede (vclip)')}-vs-{safe_name('plain (vclip)')}.png")
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # --pair by method names
    assert (out / "leaderboard.html").is_file()
    bad = _cli(["report", "--runs", str(runs), "--out", str(out), "--pair", "plain"])
    assert bad.exit_code == 2


def test_safe_names_cannot_escape_the_output_folder():
    assert safe_name("ucf-scuba") == "ucf-scuba"
    for evil in ("../../etc/passwd", "/abs", MALICIOUS, ".."):
        name = safe_name(evil)
        assert "/" not in name and not name.startswith(".") and len(name) <= 47
    assert safe_name("a/b") != safe_name("a_b")


# --- figures -----------------------------------------------------------------------------


def _toy_set(right: set[int]) -> SetResult:
    """24 videos of classes 0-5 (classes 6 and 7 have none), right exactly on ``right``."""
    names = [f"class {i}" for i in range(8)]
    labels = np.repeat(np.arange(6), 4)
    scores = np.zeros((labels.size, 8), np.float32)
    for i, lab in enumerate(labels):
        scores[i, lab if lab in right else (lab + 1) % 8] = 1.0
    return SetResult("oc", [f"v{i}" for i in range(labels.size)], labels, scores, names)


def test_classwise_gain_counts_classes_won(tmp_path):
    a, b = _toy_set({0, 1, 2, 3}), _toy_set({0, 1, 3, 4, 5})
    data = classwise_gain_data([a], [b])
    assert list(data["class"]) == ["class 4", "class 5", "class 0", "class 1", "class 3", "class 2"]
    assert list(data["gain"]) == [100.0, 100.0, 0.0, 0.0, 0.0, -100.0]
    fig = classwise_gain_figure(data, "A", "B", "toy oc")
    assert fig.axes[0].get_title().startswith("B wins 2 of 6 classes, loses 1")
    paths = save_figure(fig, tmp_path / "gain")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size for p in paths)


def test_tsne_uses_in_and_out_of_context_sets(runset):
    entries = runset.entries("synth-scuba")
    run = entries["openmede (vclip)"][0]
    ctx = context_sets(run)
    assert ctx == (("main", "ic"), ("main", "oc"))  # scufo (repeated frame) excluded
    panels = {label: tuple(rs[0].load_set(*k) for k in ctx) for label, rs in entries.items()}
    fig = tsne_figure(panels, max_points=100, max_classes=5)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 4  # 5 classes x 6 videos each, the same videos in every panel
    assert all(len(ax.collections[0].get_offsets()) == 30 for ax in axes)
    fig = tsne_figure(panels, max_points=20, max_classes=5)
    assert all(len(ax.collections[0].get_offsets()) == 20 for ax in fig.axes if ax.get_title())


def test_shared_report_figures_and_notes():
    _, out, result = shared_report()
    names = {p.name for p in result.files}
    tsne = f"synth-scuba-tsne-{safe_name('openmede (vclip)')}-vs-{safe_name('openvclip (vclip)')}"
    assert f"{tsne}.png" in names
    assert "ucf-scuba-epochs.png" in names and "synth-scuba-epochs.pdf" in names
    assert any(n.startswith("ucf-scuba-gain-") for n in names)
    assert "1 incomplete run(s) skipped (no COMPLETE marker)" in result.notes
    assert all(out in p.parents for p in result.files)


# --- leaderboard HTML --------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: set[str] = set()
        self.script = ""
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        d = dict(attrs)
        self.tags.append((tag, d))
        if d.get("id"):
            self.ids.add(d["id"])
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data):
        if self._in_script:
            self.script += data


@pytest.fixture(scope="module")
def page():
    _, out, _ = shared_report()
    text = (out / "leaderboard.html").read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(text)
    return text, parser


def test_leaderboard_renders_malicious_strings_inert(page):
    text, parsed = page
    assert MALICIOUS not in text
    assert html.escape(MALICIOUS) in text  # shown as text, in the table and provenance
    assert [t for t, _ in parsed.tags].count("script") == 1  # only the page's own
    assert not any("onerror" in attrs for _, attrs in parsed.tags)
    imgs = [a["src"] for t, a in parsed.tags if t == "img"]
    assert imgs and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert "{{" not in text.split("<body>")[0]  # placeholders filled once, never re-expanded


def test_leaderboard_is_self_contained_with_a_strict_policy(page):
    text, parsed = page
    urls = [v for _, a in parsed.tags for k, v in a.items() if k in ("src", "href") and v]
    assert all(u.startswith(("#", "data:")) for u in urls), urls
    csp = next(
        a["content"] for t, a in parsed.tags if a.get("http-equiv") == "Content-Security-Policy"
    )
    assert "default-src 'none'" in csp
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(parsed.script.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp  # the page's own script, and nothing else, may run


def test_every_row_links_to_its_provenance(page):
    text, parsed = page
    links = [
        a["href"][1:] for t, a in parsed.tags if t == "a" and a.get("href", "").startswith("#prov-")
    ]
    assert len(links) > 20 and set(links) <= parsed.ids
    for tbody in re.findall(r'<table class="sortable">.*?<tbody>(.*?)</tbody>', text, re.S):
        rows = re.findall(r"<tr>(.*?)</tr>", tbody, re.S)
        if "cuda (NVIDIA H100)" in tbody:  # the training-cost table comes from a benchmark file
            continue
        assert rows and all('href="#prov-' in r for r in rows)
    prov = text.split('class="provenance"')[1]
    for field in (
        "c0ffee1",
        "2026-01-02T12:00:00+0000",
        "cpu (2 cores)",
        "ucf-scuba/openmede__vclip/seed1-",
    ):
        assert field in prov


def test_embedded_results_are_visibly_separated(page):
    text, parsed = page
    groups = re.findall(r'<div class="tabgroup (\w+)" role="tablist">(.*?)</div>', text, re.S)
    by_kind = dict(groups)
    assert "synth-scuba" in by_kind["embedded"] and "synth-scuba" not in by_kind["real"]
    assert "ucf-scuba" in by_kind["real"]
    panels = re.findall(
        r'<section class="(panel[^"]*)" id="[^"]+" role="tabpanel"[^>]*'
        r'data-embedded="(\w+)">\n<h2>([^<]*)</h2>',
        text,
    )
    for cls, flag, title in panels:
        assert (
            ("embedded" in cls)
            == (flag == "true")
            == (title.startswith("synth") or (flag == "true" and title == "Paper tables"))
        )
    assert text.count(f'<p class="banner">{html.escape(EMBEDDED_LABEL)}</p>') == 2


def test_report_modules_do_not_import_torch():
    code = (
        "import sys, biasbench.reports.commands, biasbench.reports.report, "
        "biasbench.reports.compare, biasbench.reports.tsne; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_settings_that_only_add_outputs_do_not_split_an_entry(tmp_path):
    """Schema 1: per-epoch evaluations and stored embeddings leave a run in its entry; a
    different learning rate makes another entry, labelled with its variant."""
    runs = tmp_path / "runs"
    sets = {k: make_set(k, 8, 0.5, 0) for k in ("ic", "oc")}
    plain = {"temporal_views": 1, "batch_size": 16}
    write_v1_run(
        runs, "synth-scuba", "openmede", "vclip", 1, sets, method_cfg={"lr": 1e-3}, eval=plain
    )
    curves = {"temporal_views": 1, "store_embeddings": True}
    cfg = {"lr": 1e-3, "eval_every": 1}
    write_v1_run(runs, "synth-scuba", "openmede", "vclip", 0, sets, method_cfg=cfg, eval=curves)
    hot = {"temporal_views": 1}
    write_v1_run(
        runs, "synth-scuba", "openmede", "vclip", 2, sets, method_cfg={"lr": 1e-2}, eval=hot
    )
    rs = load_runs([runs])
    entries = rs.entries("synth-scuba")
    assert sorted(len(v) for v in entries.values()) == [1, 2]
    assert set(entries) == {"openmede (vclip) [lr=0.001]", "openmede (vclip) [lr=0.01]"}
    assert "method_cfg.lr" in rs.variant_notes("synth-scuba")[0]


def test_variant_labels_name_what_departs_from_the_most_common_settings(tmp_path):
    runs = tmp_path / "runs"
    sets = {k: make_set(k, 8, 0.5, 0) for k in ("ic", "oc")}
    for seed in (0, 1):  # two seeds of one variant still make one entry
        write_run(runs, "synth-scuba", "plain", "motion-clip", seed, sets,
                  world={"p_home": 0.9, "seed": 0})  # fmt: skip
    write_run(
        runs, "synth-scuba", "plain", "motion-clip", 0, sets, world={"p_home": 0.9, "seed": 1}
    )
    write_run(
        runs, "synth-scuba", "plain", "motion-clip", 0, sets, world={"p_home": 0.5, "seed": 0}
    )
    entries = load_runs([runs]).entries("synth-scuba")
    assert {label: len(r) for label, r in entries.items()} == {
        "plain (motion-clip) [default]": 2,
        "plain (motion-clip) [seed=1]": 1,
        "plain (motion-clip) [p_home=0.5]": 1,
    }


def test_default_figure_pairs_stay_within_a_learner(runset):
    entries = runset.entries("ucf-scuba")
    assert default_pairs(entries) == [("openvclip (vclip)", "openmede (vclip)")]
    assert default_pairs(entries, across_learners=True) == [
        ("openvclip (vclip)", "openmede (vclip)")
    ]


# --- the static-bias dial ---------------------------------------------------------------------


def test_dial_figure_plots_each_runs_metrics_against_its_worlds_p_home(tmp_path):
    import pandas as pd

    from biasbench.protocols.ooc import ooc_metrics
    from biasbench.reports.report import ReportOptions, write_report

    runs, expected = tmp_path / "runs", {}
    for p_home in (0.25, 0.5, 1.0):
        for method, motion in (("zero-shot", 0.1), ("plain", 0.6)):
            # in-context accuracy rises with the shortcut; out of context only motion helps
            rates = {"ic": min(0.95, 0.3 + 0.6 * p_home), "oc": motion, "scufo": 0.05}
            sets = {k: make_set(k, 40, r, shift=1, ids_from="oc" if k == "scufo" else "")
                    for k, r in rates.items()}  # fmt: skip
            write_run(runs, "synth-scuba", method, "motion-clip", 0, sets, embedded=True,
                      world={"clip_corpus": "photos", "p_home": p_home},
                      data_root=f"/cache/world-{p_home}")  # fmt: skip
            for m in ooc_metrics(sets):
                expected[(f"{method} (motion-clip)", p_home, m.name)] = m.value
    # a run of the default world (p_home not set) is not a point of the dial
    sets = {k: make_set(k, 40, 0.5, shift=1) for k in ("ic", "oc", "scufo")}
    write_run(runs, "synth-scuba", "plain", "motion-clip", 1, sets, embedded=True)
    result = write_report(runs, tmp_path / "out", ReportOptions(tsne=False, html=False))
    figures = tmp_path / "out" / "figures"
    assert (figures / "synth-scuba-dial.png").is_file() and (
        figures / "synth-scuba-dial.pdf"
    ).is_file()
    assert figures / "synth-scuba-dial.csv" in result.files
    data = pd.read_csv(figures / "synth-scuba-dial.csv")
    assert set(data["metric"]) == {"ic_top1", "oc_top1", "scufo_top1", "contrasted"}
    assert len(data) == 3 * 2 * 4
    for row in data.itertuples():
        assert row.value == pytest.approx(expected[(row.entry, row.x, row.metric)])
    ic = data[(data.metric == "ic_top1") & (data.entry == "plain (motion-clip)")]
    assert list(ic.sort_values("x")["value"]) == pytest.approx([45.0, 60.0, 90.0])
    # each world has its own folder: labels name the world setting, not the data roots
    labels = set(load_runs([runs]).entries("synth-scuba"))
    assert "zero-shot (motion-clip) [p_home=0.25]" in labels, labels


def test_one_world_draws_no_dial(tmp_path):
    from biasbench.reports.report import ReportOptions, write_report

    sets = {k: make_set(k, 40, 0.5, shift=1) for k in ("ic", "oc", "scufo")}
    write_run(tmp_path / "runs", "synth-scuba", "plain", "motion-clip", 0, sets, embedded=True,
              world={"p_home": 0.5})  # fmt: skip
    write_report(tmp_path / "runs", tmp_path / "out", ReportOptions(tsne=False, html=False))
    assert not list((tmp_path / "out" / "figures").glob("*dial*"))
