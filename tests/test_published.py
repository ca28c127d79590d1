"""Published numbers: the shipped transcriptions load, every printed HM is checked (two cases
by hand), and reports show the printed rows marked, apart from the runs, with flagged HMs."""

from __future__ import annotations

import html
import math
import re
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_fixtures import make_set, write_run

from biasbench.errors import ConfigError
from biasbench.plugins import LEARNERS, METHODS, PROTOCOLS
from biasbench.reports.commands import report
from biasbench.reports.paper_tables import FlaggedHM, PaperTable, paper_tables
from biasbench.reports.published import (
    KNOWN_METRICS,
    hm_checks,
    load_file,
    load_published,
    protocol_table,
    shipped,
)
from biasbench.reports.records import load_runs
from biasbench.reports.report import ReportOptions, write_report
from biasbench.results import Metric

# rows transcribed per printed table (pins the transcription against silent loss)
ROWS = {
    "Open-MeDe Table 1": 9,
    "Open-MeDe Table 2": 13,
    "Open-MeDe Table 3": 4,
    "Open-MeDe Table 4": 8,
    "Open-MeDe Table 5": 5,
    "Open-MeDe supplementary Table 1": 4,
    "Open-MeDe supplementary Table 2": 4,
    "Open-MeDe supplementary Table 3": 4,
    "Open-MeDe supplementary Table 4": 3,
    "Open-MeDe supplementary Table 5": 5,
    "Open-MeDe supplementary Table 6": 5,
    "Open-MeDe supplementary Table 7": 9,
    "Open-MeDe supplementary Table 8": 6,
    "FROSTER Table 1": 9,
    "FROSTER Table 2": 12,
    "FROSTER Table 3": 12,
    "FROSTER Table 4": 10,
    "FROSTER Table 5": 2,
    "FROSTER Table 6": 4,
    "FROSTER Table 7": 3,
}
# every printed HM its printed inputs cannot give: (table, method, printed, recomputed)
MISMATCHES = {
    ("Open-MeDe Table 1", "ST-Adapter [36]", 67.3, 67.7),  # K400: 74.6 / 62.0
    ("Open-MeDe Table 3", "X-CLIP", 20.3, 41.9),  # HM of 74.5, 24.6, 56.8
    ("Open-MeDe Table 5", "(b) + RFD [21]", 38.9, 38.6),  # UCF: 82.5 / 25.2
    ("Open-MeDe supplementary Table 1", "X-CLIP", 31.0, 29.9),  # 44.6 / 22.5
}
K400_B2N = {"family": "b2n", "dataset": "K400", "metric_order": ["base_top1", "novel_top1"]}

FIXTURE = """
paper: Toy
backbone: CLIP ViT-B/16
tables:
  - table: Toy Table 1
    layout: table1-base-to-novel
    columns:
      base: {protocol: b2n-ucf, metric: base_top1}
      novel: {protocol: b2n-ucf, metric: novel_top1}
      hm: {protocol: b2n-ucf, metric: hm, hm_of: [base, novel]}
    rows:
      - method: Matching
        maps_to: {method: plain, learner: vclip}
        values: [80.0, 60.0, 68.6]
      - method: Mismatched
        values: [80.0, 60.0, 68.7]
      - method: Low but possible
        values: [80.0, 60.0, 68.5]
"""


def _toy(tmp_path: Path, text: str = FIXTURE) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped files ---------------------------------------------------------------------


def test_shipped_files_load_with_every_printed_row():
    rows = shipped()
    assert Counter(r.source.table for r in rows) == ROWS
    assert rows[0].source.paper == "Open-MeDe"  # the suite's reference paper first
    for r in rows:
        assert r.values and r.backbone and r.label.endswith(f"— published ({r.source.table})")
        assert all(0.0 <= v.value <= 100.0 and v.metric in KNOWN_METRICS for v in r.values)
        assert all(v.protocol in PROTOCOLS.names() for v in r.values)
        if r.maps_to:
            assert r.maps_to.method in METHODS.names()
            assert r.maps_to.learner in LEARNERS.names()
    ours = next(r for r in rows if r.source.table == "Open-MeDe Table 2" and r.maps_to)
    assert ours.method == "Frozen CLIP [39]" and ours.maps_to.label == "zero-shot (clip)"
    k600 = ours.value("xd-k600", "top1")
    assert (k600.value, k600.std) == (68.1, 1.1)  # "68.1±1.1"
    vilt = next(r for r in rows if r.method == "ViLT-CLIP [46]")
    assert vilt.value("xd-k600", "top1") is None  # printed "-"


def test_every_printed_hm_is_checked_and_the_mismatches_are_pinned():
    checks = hm_checks()
    per_table = Counter(h.source.table for h in checks)
    # base-to-novel: 4 datasets x 9 rows; Table 3: top-1 and top-5 x 4; Table 5: 2 x 5; ...
    assert per_table["Open-MeDe Table 1"] == per_table["FROSTER Table 1"] == 36
    assert per_table["Open-MeDe Table 3"] == 8 and per_table["Open-MeDe Table 5"] == 10
    assert per_table["Open-MeDe supplementary Table 8"] == 8  # × cells have no HM
    flagged = {
        (h.source.table, h.method, h.printed, round(h.recomputed, 1)) for h in checks if not h.ok
    }
    assert flagged == MISMATCHES
    xclip = next(h for h in checks if not h.ok and h.source.table == "Open-MeDe Table 3")
    assert xclip.inputs == (74.5, 24.6, 56.8)
    assert xclip.describe() == "HM 20.3 printed; 41.9 from its inputs"
    assert xclip.keys == (
        ("ucf-scuba", "ic_top1"),
        ("ucf-scuba", "oc_top1"),
        ("ucf-hat", "hat_top1"),
    )


# --- the check, by hand --------------------------------------------------------------------


def test_hm_check_by_hand(tmp_path):
    """HM(80, 60) = 9600 / 140 = 68.571. Inputs printed at one decimal lie within 0.05:
    HM(79.95, 59.95) = 68.520 and HM(80.05, 60.05) = 68.622; the printed HM rounds, so it may
    be up to 0.05 outside: [68.470, 68.672]. 68.6 and 68.5 can come from rounding, 68.7
    cannot."""
    matching, mismatched, low = (r.hms[0] for r in load_file(_toy(tmp_path)))
    assert matching.recomputed == pytest.approx(9600 / 140)
    low_bound, high_bound = matching.bounds
    assert low_bound == pytest.approx(2 * 79.95 * 59.95 / 139.9 - 0.05)
    assert high_bound == pytest.approx(2 * 80.05 * 60.05 / 140.1 + 0.05)
    assert (round(low_bound, 3), round(high_bound, 3)) == (68.470, 68.672)
    assert matching.ok and low.ok
    assert matching.verdict() == "b2n-ucf hm 68.6 agrees with its inputs"
    assert not mismatched.ok
    assert (mismatched.printed, round(mismatched.recomputed, 3)) == (68.7, 68.571)
    assert mismatched.describe() == "HM 68.7 printed; 68.6 from its inputs"
    assert mismatched.verdict() == "b2n-ucf hm: HM 68.7 printed; 68.6 from its inputs"
    assert [h.ok for h in hm_checks(load_file(_toy(tmp_path)))] == [True, False, True]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("protocol: b2n-ucf, metric: base_top1", "protocol: b2n-nope, metric: base_top1", "base"),
        ("metric: novel_top1", "metric: novel_acc", "novel.metric"),
        ("[80.0, 60.0, 68.6]", "[80.0, 60.0]", "rows[0].values"),
        ("[80.0, 60.0, 68.7]", "[80.0, abc, 68.7]", "rows[1].values[1]"),
        ("[80.0, 60.0, 68.5]", "[80.0, 60.05, 68.5]", "rows[2].values[1]"),
        ("method: plain", "method: plainn", "maps_to.method"),
        ("layout: table1-base-to-novel", "layout: table9", "tables[0].layout"),
        ("hm_of: [base, novel]", "hm_of: [base]", "hm.hm_of"),
    ],
)
def test_a_malformed_file_is_one_line_naming_file_and_key(tmp_path, old, new, key):
    assert old in FIXTURE
    path = _toy(tmp_path, FIXTURE.replace(old, new))
    with pytest.raises(ConfigError) as err:
        load_published([path])
    message = str(err.value)
    assert "\n" not in message and str(path) in message and key in message, message


# --- reports -------------------------------------------------------------------------------


def _runs(root: Path) -> Path:
    """Real protocols: UCF-SCUBA + UCF-HAT (Table 3), K400 base-to-novel (Table 1) and
    UCF cross-dataset (Tables 2 and 4), for plain and openmede on vclip."""
    for method, rate in (("plain", 0.2), ("openmede", 0.3)):
        sets = {
            k: make_set(k, 20, rate, 0, ids_from="oc" if k == "scufo" else "")
            for k in ("ic", "oc", "scufo")
        }
        write_run(root, "ucf-scuba", method, "vclip", 0, sets)
        hat = {"close": make_set("close", 10, rate, 0), "far": make_set("far", 10, rate, 1)}
        hat_metrics = [Metric("hat_top1", 100 * rate, n=20), Metric("hat_top5", 90.0, n=20)]
        write_run(
            root,
            "ucf-hat",
            method,
            "vclip",
            0,
            hat,
            hat_metrics,
            contexts={"close": "out", "far": "out"},
        )
        b2n = [Metric("base_top1", 50.0 + 10 * rate, n=8), Metric("novel_top1", 40.0, n=8)]
        base = {"base": make_set("base", 8, 0.5, 0), "novel": make_set("novel", 8, 0.4, 0)}
        write_run(root, "b2n-k400", method, "vclip", 0, base, b2n, report=K400_B2N)
        xd = [Metric("top1", 60.0 + 10 * rate, n=16, std=1.0)]
        write_run(root, "xd-ucf", method, "vclip", 0, {"test": make_set("test", 16, 0.6, 0)}, xd)
    return root


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("published")
    runs = _runs(root / "runs")
    write_report(runs, root / "report", ReportOptions(tsne=False))
    return runs, root / "report"


def test_paper_tables_show_printed_rows_beside_their_entry_never_ranked(real):
    runs, _ = real
    tables = paper_tables(load_runs([runs]), published=shipped())
    t3 = tables["table3-out-of-context-ucf"]
    assert isinstance(t3, PaperTable)
    labels = [row[0] for row in t3.rows]
    assert labels[:3] == [
        "openmede (vclip)",
        "Ours — published (Open-MeDe Table 3)",
        "plain (vclip)",
    ]
    assert [labels[i] for i in t3.published] == [labels[1], *labels[3:]]
    xclip = t3.rows[labels.index("X-CLIP — published (Open-MeDe Table 3)")]
    assert xclip[1:7] == [74.5, 95.4, 24.6, 43.3, 56.8, 78.1]
    assert isinstance(xclip[7], FlaggedHM) and xclip[7] == "20.3 (41.9 from its inputs)"
    assert xclip[8] == 64.7  # its top-5 HM agrees with its inputs
    assert any("HM 20.3 printed; 41.9 from its inputs" in n for n in t3.notes)
    marks = t3.marks()
    assert all(not any(marks[i]) for i in t3.published)  # printed rows are never ranked
    assert marks[0][1] == "best"  # openmede's 30.0 IC top-1 is the best run, not 83.9
    assert "published (Open-MeDe Table 3)" in t3.to_markdown()
    # Table 4: VCLIP's printed pair, next to the runs of vclip
    t4 = tables["table4-model-agnostic"]
    assert t4.rows[1][0] == "VCLIP [50] — published (Open-MeDe Table 4)"
    start = 1 + 3 * [name for name, _ in t4.groups[1:]].index("UCF (top-1)")  # xd-ucf
    assert t4.rows[1][start : start + 3] == [78.5, 83.7, "+5.2"]
    assert all(math.isnan(v) for v in t4.rows[1][1:start:3])  # printed on xd-ucf only
    # Table 1: ST-Adapter's printed K400 HM cannot come from its printed Base and Novel
    t1 = tables["table1-base-to-novel"]
    row = next(r for r in t1.rows if r[0] == "ST-Adapter [36] — published (Open-MeDe Table 1)")
    assert row[1:] == [74.6, 62.0, "67.3 (67.7 from its inputs)"]
    assert math.isclose(t1.rows[0][3], 2 * 53.0 * 40.0 / 93.0)  # the runs' HM: recomputed


def test_leaderboard_shows_published_rows_marked_and_the_flagged_hm(real):
    _, out = real
    page = (out / "leaderboard.html").read_text(encoding="utf-8")
    assert page.count('<tr class="published">') > 20
    assert html.escape("Ours — published (Open-MeDe Table 3)") in page
    assert '<td class="flagged" data-value="20.3 (41.9 from its inputs)">' in page
    assert '<td class="flagged" data-value="67.3 (67.7 from its inputs)">' in page
    flags = re.findall(r'<div class="flags">(.*?)</div>', page, re.S)
    assert any("HM 20.3 printed; 41.9 from its inputs" in f for f in flags)
    assert any("HM 67.3 printed; 67.7 from its inputs" in f for f in flags)
    assert '<table class="sortable published">' in page  # the protocol tabs' listings
    # each printed row of a paper table links to its source
    for anchor in re.findall(
        r'<tr class="published"><td data-value="[^"]*"><a href="#(pub-[^"]+)"', page
    ):
        assert f'id="{anchor}"' in page
    md = (out / "tables" / "table3-out-of-context-ucf.md").read_text(encoding="utf-8")
    assert "published (Open-MeDe Table 3)" in md and "HM 20.3 printed; 41.9 from its inputs" in md


def test_protocol_listing_holds_every_paper_table_on_the_protocol():
    t = protocol_table(shipped(), "xd-k600")
    tables = {row[1] for row in t.rows}
    assert {"Open-MeDe Table 2", "Open-MeDe Table 4", "FROSTER Table 7"} <= tables
    assert "Open-MeDe Table 1" not in tables
    assert protocol_table(shipped(), "synth-scuba") is None


def test_no_published_option_leaves_them_out(real, tmp_path):
    runs, _ = real
    out = tmp_path / "report"
    result = CliRunner().invoke(
        report, ["--runs", str(runs), "--out", str(out), "--no-tsne", "--no-published"]
    )
    assert result.exit_code == 0, result.output
    page = (out / "leaderboard.html").read_text(encoding="utf-8")
    assert "published (" not in page and 'class="published"' not in page
    assert "published" not in (out / "tables" / "table3-out-of-context-ucf.md").read_text()


def test_embedded_runs_never_get_published_rows(tmp_path):
    runs = tmp_path / "runs"
    for method, rate in (("plain", 0.3), ("openmede", 0.5)):
        sets = {k: make_set(k, 16, rate, 0) for k in ("ic", "oc")}
        write_run(runs, "synth-scuba", method, "vclip", 0, sets, embedded=True)
    rs = load_runs([runs])
    tables = paper_tables(rs, published=shipped())
    assert tables and all(k.startswith("embedded-") for k in tables)
    assert all(not t.published for t in tables.values() if isinstance(t, PaperTable))
    write_report(runs, tmp_path / "report", ReportOptions(tsne=False))
    page = (tmp_path / "report" / "leaderboard.html").read_text(encoding="utf-8")
    assert "— published (" not in page and 'class="published"' not in page
