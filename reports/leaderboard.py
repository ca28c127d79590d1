"""The leaderboard page: one self-contained HTML file (inline CSS/JS, figures as data URIs).

A tab per protocol, grouped into real benchmarks and — visibly apart, dashed and labelled —
the embedded synthetic world; a summary tab per group holds the paper-layout tables. Every
table row links to the provenance of the runs behind it (record, run id, variant, commit,
date, seed, device; copies of one run are listed once, with their count). Columns sort on
click. Every string that comes from a run record is HTML-escaped, element ids are generated
from indices (never from record strings), and a Content-Security-Policy allows no network
access and only the page's own script (by hash).

Published numbers (:mod:`biasbench.reports.published`), when given, appear on the real
benchmarks only: as the printed rows of the paper tables (styled apart, ``tr.published``,
linked to their source), as a "Published numbers" table on each protocol tab that a paper
printed values for, and as a list of the printed HMs their printed inputs cannot give.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from biasbench import __version__
from biasbench.reports.paper_tables import COST_TABLE, PaperTable
from biasbench.reports.published import HMCheck, PublishedRow, protocol_table
from biasbench.reports.records import Run, RunSet
from biasbench.reports.table import EMBEDDED_LABEL, Table

TEMPLATE = Path(__file__).with_name("templates") / "leaderboard.html"

BIBTEX = """@software{{biasbench,
  title   = {{biasbench: a benchmark for static bias in open-vocabulary action recognition}},
  version = {{{version}}},
  year    = {{{year}}},
  note    = {{Leaderboard generated {date}}}
}}

@inproceedings{{yu2025openmede,
  title     = {{Learning to Generalize without Bias for Open-Vocabulary Action Recognition}},
  author    = {{Yu, Yating and Cao, Congqi and Zhang, Yifan and Zhang, Yanning}},
  booktitle = {{Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)}},
  year      = {{2025}},
  eprint    = {{2502.20158}},
  archivePrefix = {{arXiv}}
}}

@inproceedings{{li2023scuba,
  title     = {{Mitigating and Evaluating Static Bias of Action Representations in the Background and the Foreground}},
  author    = {{Li, Haoxin and Liu, Yuan and Zhang, Hanwang and Li, Boyang}},
  booktitle = {{Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)}},
  pages     = {{19911--19923}},
  year      = {{2023}}
}}

@inproceedings{{chung2022hat,
  title     = {{Enabling Detailed Action Recognition Evaluation Through Video Dataset Augmentation}},
  author    = {{Chung, Jihoon and Wu, Yu and Russakovsky, Olga}},
  booktitle = {{Advances in Neural Information Processing Systems}},
  volume    = {{35}},
  pages     = {{39020--39033}},
  year      = {{2022}}
}}"""

e = html.escape


@dataclass
class FigureRef:
    """A figure for the page: caption and PNG bytes (embedded as a data URI)."""

    caption: str
    png: bytes

    def html(self) -> str:
        uri = "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")
        return (
            f'<figure><img src="{uri}" alt="{e(self.caption)}">'
            f"<figcaption>{e(self.caption)}</figcaption></figure>"
        )


@dataclass
class _Panel:
    id: str
    label: str
    embedded: bool
    body: list[str] = field(default_factory=list)


def leaderboard_html(
    runset: RunSet,
    protocol_tables: dict[str, list[Table]],
    paper: dict[str, Table] | None = None,
    figures: dict[str, list[FigureRef]] | None = None,
    generated: str | None = None,
    source: str = "",
    title: str = "biasbench leaderboard",
    published: Sequence[PublishedRow] = (),
) -> str:
    """Render the page. ``protocol_tables``: per protocol, its tables (the first one's rows
    are entries and get provenance links); ``paper``: the paper-layout tables by name (names
    starting ``embedded-`` go to the embedded group); ``figures``: per protocol;
    ``published``: printed rows (the same given to the paper tables), for the real group."""
    paper, figures = paper or {}, figures or {}
    generated = generated or time.strftime("%Y-%m-%d %H:%M")
    panels: list[_Panel] = []
    for embedded in (False, True):
        protocols = [p for p in runset.protocols if _embedded(runset.for_protocol(p)) == embedded]
        group_paper = {k: t for k, t in paper.items() if k.startswith("embedded-") == embedded}
        pub = () if embedded else tuple(published)
        if group_paper:
            panels.append(
                _summary_panel(len(panels), runset, protocols, group_paper, embedded, pub)
            )
        for p in protocols:
            tables, printed = protocol_tables.get(p, []), _published_on(runset, p, pub)
            panels.append(
                _protocol_panel(len(panels), runset, p, tables, figures.get(p, []), printed)
            )
    template = TEMPLATE.read_text(encoding="utf-8")
    script = re.search(r"<script>(.*?)</script>", template, re.S)
    digest = hashlib.sha256((script.group(1) if script else "").encode()).digest()
    meta = (
        f"Generated {generated} by biasbench {__version__} from {len(runset.runs)} complete "
        f"run(s){' under ' + source if source else ''}."
    )
    if note := runset.skipped_note():
        meta += f" {note[0].upper()}{note[1:]}: they appear in no table."
    for note in runset.copy_notes():
        meta += f" {note}."
    values = {
        "script_hash": "sha256-" + base64.b64encode(digest).decode("ascii"),
        "version": e(__version__),
        "title": e(title),
        "meta": e(meta),
        "tabs": _tabs(panels),
        "panels": "\n".join(_panel_html(p) for p in panels) or "<p>No complete runs.</p>",
        "bibtex": e(BIBTEX.format(version=__version__, year=generated[:4], date=generated)),
        "footer": e(
            "Rows link to the provenance of their runs. Results on the embedded synthetic "
            "world are a laboratory: they are shown apart and are not results on a real "
            "benchmark."
            + (
                " Rows marked 'published' are numbers printed in the papers, shown beside "
                "the runs and never mixed into them."
                if published
                else ""
            )
        ),
    }
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], template)


def _embedded(runs: list[Run]) -> bool:
    return any(r.embedded for r in runs)


def _tabs(panels: list[_Panel]) -> str:
    out = []
    for embedded, label in ((False, "Real benchmarks"), (True, EMBEDDED_LABEL)):
        group = [p for p in panels if p.embedded == embedded]
        if not group:
            continue
        buttons = "".join(
            f'<button role="tab" id="tab-{p.id}" aria-controls="{p.id}" aria-selected="false">'
            f"{e(p.label)}</button>"
            for p in group
        )
        cls = "embedded" if embedded else "real"
        out.append(
            f'<div class="tabgroup {cls}" role="tablist"><span class="tabgroup-label">'
            f"{e(label)}</span>{buttons}</div>"
        )
    return "\n".join(out)


def _panel_html(p: _Panel) -> str:
    cls = "panel embedded" if p.embedded else "panel"
    banner = f'<p class="banner">{e(EMBEDDED_LABEL)}</p>' if p.embedded else ""
    body = "\n".join(p.body)
    return (
        f'<section class="{cls}" id="{p.id}" role="tabpanel" aria-labelledby="tab-{p.id}" '
        f'data-embedded="{str(p.embedded).lower()}">\n<h2>{e(p.label)}</h2>\n{banner}\n{body}\n'
        "</section>"
    )


def _table_html(
    table: Table, anchors: dict[str, str] | None = None, css_class: str = "sortable"
) -> str:
    """A sortable table; with ``anchors`` (entry label -> id), rows link to provenance.
    Printed (published) rows of a paper table get ``class="published"``."""
    if anchors:
        links = [f"#{anchors[str(r[0])]}" if str(r[0]) in anchors else None for r in table.rows]
        table = replace(table, links=links)
    text = table.to_html(css_class=css_class)
    if isinstance(table, PaperTable) and table.published:
        text = _mark_rows(text, table.published, table.flagged())
    return '<div class="scroll">' + text + "</div>"


def _mark_rows(
    table_html: str, rows: Iterable[int], flagged: Iterable[tuple[int, int]] = ()
) -> str:
    """Add ``class="published"`` to the body rows ``rows`` and ``class="flagged"`` to the
    cells ``flagged`` (``(row, column)``, 0-based). Every cell's text is escaped, so each
    literal ``<tr>`` between ``<tbody>`` and ``</tbody>`` opens a body row and each ``<td `` a
    cell."""
    head, sep, rest = table_html.partition("<tbody>")
    body, end, tail = rest.partition("</tbody>")
    first, *bodies = body.split("<tr>")
    wanted, cells = set(rows), set(flagged)
    out = []
    for i, row in enumerate(bodies):
        tds = row.split("<td ")
        row = tds[0] + "".join(
            ('<td class="flagged" ' if (i, j) in cells else "<td ") + td
            for j, td in enumerate(tds[1:])
        )
        out.append("<tr" + (' class="published">' if i in wanted else ">") + row)
    return head + sep + first + "".join(out) + end + tail


def _summary_panel(
    index: int,
    runset: RunSet,
    protocols: list[str],
    tables: dict[str, Table],
    embedded: bool,
    published: Sequence[PublishedRow] = (),
) -> _Panel:
    panel = _Panel(f"panel-{index}", "Paper tables", embedded)
    groups = _by_label([r for p in protocols for r in runset.for_protocol(p)])
    anchors = {label: f"prov-{panel.id}-e{i}" for i, label in enumerate(groups)}
    shown = _shown_published(tables, published)
    sources = {row.label: f"pub-{panel.id}-r{i}" for i, row in enumerate(shown)}
    for name, table in tables.items():
        # the training-cost table comes from a benchmark file, not from run records
        links = None if name == COST_TABLE else {**sources, **anchors}
        panel.body.append(_table_html(table, links))
    if groups:
        panel.body.append("<h3>Runs behind these tables</h3>")
        panel.body.append(_provenance_table(groups, anchors))
    if shown:
        panel.body.append("<h3>Published rows in these tables</h3>")
        panel.body.append(_flags(shown, protocols))
        panel.body.append(_sources_table(shown, sources))
    return panel


def _shown_published(
    tables: dict[str, Table], published: Sequence[PublishedRow]
) -> list[PublishedRow]:
    """The printed rows that made it into ``tables`` (by label), in ``published`` order."""
    labels = {
        str(t.rows[i][0]) for t in tables.values() if isinstance(t, PaperTable) for i in t.published
    }
    return [r for r in published if r.label in labels]


def _published_on(runset: RunSet, protocol: str, published: Sequence[PublishedRow]) -> list[str]:
    """A protocol tab's "Published numbers": every printed value on it, and its flags."""
    table = protocol_table(published, protocol, runset.report(protocol).ordered)
    if table is None:
        return []
    rows = [r for r in published if protocol in r.protocols]  # the table's rows, in order
    last = len(table.columns) - 1  # the printed-HM column
    flagged = [(i, last) for i, r in enumerate(rows) if _flagged(r, {protocol})]
    body = _table_html(table, css_class="sortable published")
    body = _mark_rows(body, range(len(table.rows)), flagged)
    return ["<h3>Published numbers</h3>", _flags(rows, [protocol]), body]


def _flagged(row: PublishedRow, protocols: set[str]) -> list[HMCheck]:
    """The flagged printed HMs of ``row`` over any of ``protocols``."""
    return [h for h in row.hms if not h.ok and any(k and k[0] in protocols for k in h.keys)]


def _flags(rows: Sequence[PublishedRow], protocols: Iterable[str]) -> str:
    """The printed HMs of ``rows`` over any of ``protocols`` that their printed inputs cannot
    give, each with both values; empty when there are none."""
    wanted = set(protocols)
    flagged = [(r, h) for r in rows for h in _flagged(r, wanted)]
    if not flagged:
        return ""
    items = "".join(f"<li>{e(r.label)}: {e(h.verdict())}</li>" for r, h in flagged)
    return (
        '<div class="flags"><p>Printed harmonic means that their printed inputs cannot give '
        f"(rounding allowed for):</p><ul>{items}</ul></div>"
    )


def _sources_table(rows: Sequence[PublishedRow], anchors: dict[str, str]) -> str:
    """Where each printed row comes from: paper table, caption, biasbench entry, backbone."""
    head = ["row", "paper table", "what it reports", "biasbench entry", "backbone", "note", "file"]
    out = ['<div class="scroll"><table class="provenance published-sources">', "<thead><tr>"]
    out += [f'<th scope="col">{h}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        anchor = anchors[r.label]
        cells = [
            r.label,
            r.source.table,
            r.source.caption,
            r.maps_to.label if r.maps_to else "–",
            r.backbone,
            r.note,
            f"reports/published/{r.source.file}",
        ]
        tds = "".join(f"<td>{e(c)}</td>" for c in cells)
        out.append(f'<tr id="{anchor}" data-entry="{anchor}" class="published">{tds}</tr>')
    out.append("</tbody></table></div>")
    return "\n".join(out)


def _protocol_panel(
    index: int,
    runset: RunSet,
    protocol: str,
    tables: list[Table],
    figures: list[FigureRef],
    printed: list[str] | None = None,
) -> _Panel:
    """A protocol's tab: its tables, the published numbers on it (``printed``, HTML), its
    figures and the provenance of its runs."""
    panel = _Panel(f"panel-{index}", protocol, _embedded(runset.for_protocol(protocol)))
    groups = runset.entries(protocol)
    anchors = {label: f"prov-{panel.id}-e{i}" for i, label in enumerate(groups)}
    panel.body += [_table_html(t, anchors if i == 0 else None) for i, t in enumerate(tables)]
    panel.body += printed or []
    panel.body += [f.html() for f in figures]
    panel.body.append("<h3>Provenance</h3>")
    panel.body.append(_provenance_table(groups, anchors))
    return panel


def _by_label(runs: list[Run]) -> dict[str, list[Run]]:
    out: dict[str, list[Run]] = {}
    for r in sorted(runs, key=lambda r: (r.label, r.protocol, r.seed, r.where)):
        out.setdefault(r.label, []).append(r)
    return out


def _provenance_table(groups: dict[str, list[Run]], anchors: dict[str, str]) -> str:
    head = [
        "entry",
        "protocol",
        "record",
        "run id",
        "seed",
        "commit",
        "variant",
        "date",
        "device",
        "biasbench",
    ]
    out = ['<div class="scroll"><table class="provenance">', "<thead><tr>"]
    out += [f'<th scope="col">{h}</th>' for h in head]
    out.append("</tr></thead><tbody>")
    for label, runs in groups.items():
        anchor = anchors[label]
        for j, r in enumerate(runs):
            p = r.provenance
            copies = f" (+{len(r.copies) - 1} copies, counted once)" if r.copies else ""
            cells = [
                label,
                r.protocol,
                r.where + copies,
                r.run_id[:12],
                str(r.seed),
                str(p.get("git_commit") or "unknown"),
                r.variant[:12],
                str(p.get("started") or ""),
                str(p.get("device") or ""),
                str(p.get("biasbench_version") or ""),
            ]
            rid = f' id="{anchor}"' if j == 0 else ""
            tds = "".join(f"<td>{e(c)}</td>" for c in cells)
            out.append(f'<tr{rid} data-entry="{anchor}">{tds}</tr>')
    out.append("</tbody></table></div>")
    return "\n".join(out)
