"""The leaderboard page: one self-contained HTML file (inline CSS/JS, figures as data URIs).

A tab per protocol, grouped into real benchmarks and — visibly apart, dashed and labelled —
the embedded synthetic world; a summary tab per group holds the paper-layout tables. Every
table row links to the provenance of the runs behind it (record, run id, variant, commit,
date, seed, device; copies of one run are listed once, with their count). Columns sort on
click. Every string that comes from a run record is HTML-escaped, element ids are generated
from indices (never from record strings), and a Content-Security-Policy allows no network
access and only the page's own script (by hash).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from biasbench import __version__
from biasbench.reports.paper_tables import COST_TABLE
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
) -> str:
    """Render the page. ``protocol_tables``: per protocol, its tables (the first one's rows
    are entries and get provenance links); ``paper``: the paper-layout tables by name (names
    starting ``embedded-`` go to the embedded group); ``figures``: per protocol."""
    paper, figures = paper or {}, figures or {}
    generated = generated or time.strftime("%Y-%m-%d %H:%M")
    panels: list[_Panel] = []
    for embedded in (False, True):
        protocols = [p for p in runset.protocols if _embedded(runset.for_protocol(p)) == embedded]
        group_paper = {k: t for k, t in paper.items() if k.startswith("embedded-") == embedded}
        if group_paper:
            panels.append(_summary_panel(len(panels), runset, protocols, group_paper, embedded))
        for p in protocols:
            panels.append(
                _protocol_panel(
                    len(panels), runset, p, protocol_tables.get(p, []), figures.get(p, [])
                )
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


def _table_html(table: Table, anchors: dict[str, str] | None = None) -> str:
    """A sortable table; with ``anchors`` (entry label -> id), rows link to provenance."""
    if anchors:
        links = [f"#{anchors[str(r[0])]}" if str(r[0]) in anchors else None for r in table.rows]
        table = replace(table, links=links)
    return '<div class="scroll">' + table.to_html(css_class="sortable") + "</div>"


def _summary_panel(
    index: int, runset: RunSet, protocols: list[str], tables: dict[str, Table], embedded: bool
) -> _Panel:
    panel = _Panel(f"panel-{index}", "Paper tables", embedded)
    groups = _by_label([r for p in protocols for r in runset.for_protocol(p)])
    anchors = {label: f"prov-{panel.id}-e{i}" for i, label in enumerate(groups)}
    for name, table in tables.items():
        # the training-cost table comes from a benchmark file, not from run records
        panel.body.append(_table_html(table, None if name == COST_TABLE else anchors))
    if groups:
        panel.body.append("<h3>Runs behind these tables</h3>")
        panel.body.append(_provenance_table(groups, anchors))
    return panel


def _protocol_panel(
    index: int, runset: RunSet, protocol: str, tables: list[Table], figures: list[FigureRef]
) -> _Panel:
    panel = _Panel(f"panel-{index}", protocol, _embedded(runset.for_protocol(protocol)))
    groups = runset.entries(protocol)
    anchors = {label: f"prov-{panel.id}-e{i}" for i, label in enumerate(groups)}
    panel.body += [_table_html(t, anchors if i == 0 else None) for i, t in enumerate(tables)]
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
