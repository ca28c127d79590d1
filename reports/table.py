"""One table object that renders to terminal text, Markdown, LaTeX, CSV and HTML.

Reports and the CLI build a :class:`Table` and pick a renderer; nothing formats numbers in
two places. A table may group its columns under spanning headers (the paper's "K400: Base /
Novel / HM") and mark the best and second-best value of chosen columns; every renderer
shows the same marks in its own idiom (bold / underline, ``*`` / ``+`` in plain text).
"""

from __future__ import annotations

import csv
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any

from biasbench.runrecord import csv_safe

EMBEDDED_LABEL = "embedded synthetic world — not a result on a real benchmark"


BEST, SECOND = "best", "second"
_TEXT_MARK = {BEST: "*", SECOND: "+", "": ""}
_LATEX_SUBS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "±": r"$\pm$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "★": r"$\star$",
    "†": r"\dag{}",
    "·": r"$\cdot$",
    "—": "---",
    "–": "--",
    "Δ": r"$\Delta$",
}


@dataclass(frozen=True)
class Stat:
    """A mean with an optional spread (standard deviation over seeds or splits)."""

    mean: float
    std: float | None = None


def fmt(value: Any, digits: int = 1, nan: str = "–") -> str:
    """Numbers with fixed decimals; NaN as ``nan`` (an en dash); ``Stat`` as ``mean ± std``."""
    if isinstance(value, Stat):
        if value.std is None or math.isnan(value.mean):
            return fmt(value.mean, digits, nan)
        return f"{fmt(value.mean, digits)} ± {fmt(value.std, digits)}"
    if isinstance(value, float):
        return nan if math.isnan(value) else f"{value:.{digits}f}"
    if value is None:
        return ""
    return str(value)


def numeric(value: Any) -> float | None:
    """The number a cell sorts and ranks by (a Stat's mean), or None for text and NaN."""
    if isinstance(value, Stat):
        value = value.mean
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _md(text: str) -> str:
    return html.escape(text, quote=False).replace("|", "\\|")


def latex_escape(text: str) -> str:
    """Escape LaTeX specials (and map a few symbols to math mode) in one pass."""
    return "".join(_LATEX_SUBS.get(ch, ch) for ch in text)


@dataclass
class Table:
    """Rows of cells under named columns, with a title and notes printed under it.

    ``groups`` spans headers over consecutive columns (``[("", 1), ("K400", 3), ...]``;
    their widths must add up to the number of columns). ``rank`` maps a column index to
    True (higher is better) or False (lower is better): those columns get best / second-best
    marks, computed on the values as displayed, so ties at the shown precision share a mark.
    ``links`` (HTML only) turns each row's first cell into a link.
    """

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    title: str = ""
    notes: list[str] = field(default_factory=list)
    digits: int = 1
    groups: list[tuple[str, int]] = field(default_factory=list)
    rank: dict[int, bool] = field(default_factory=dict)
    links: list[str | None] = field(default_factory=list)

    def cells(self, nan: str = "–") -> list[list[str]]:
        return [[fmt(c, self.digits, nan) for c in row] for row in self.rows]

    def flat_columns(self) -> list[str]:
        """Column names with their group prefixed (for one-header-row formats)."""
        if not self.groups:
            return list(self.columns)
        out, i = [], 0
        for name, span in self.groups:
            for col in self.columns[i : i + span]:
                out.append(f"{name} {col}".strip() if name else col)
            i += span
        if i != len(self.columns):
            raise ValueError(f"column groups span {i} columns, table has {len(self.columns)}")
        return out

    def marks(self) -> list[list[str]]:
        """Per cell: ``"best"``, ``"second"`` or ``""`` (dense ranks of displayed values)."""
        out = [["" for _ in row] for row in self.rows]
        for col, higher in self.rank.items():
            shown = {}
            for r, row in enumerate(self.rows):
                v = numeric(row[col])
                if v is not None:
                    shown[r] = round(v, self.digits)
            levels = sorted(set(shown.values()), reverse=higher)
            for r, v in shown.items():
                if v == levels[0]:
                    out[r][col] = BEST
                elif len(levels) > 1 and v == levels[1]:
                    out[r][col] = SECOND
        return out

    def _legend(self, best: str, second: str) -> list[str]:
        return [f"best: {best}, second best: {second}"] if self.rank and self.rows else []

    def to_text(self) -> str:
        marks = self.marks()
        body = [
            [c + _TEXT_MARK[m] for c, m in zip(row, mrow, strict=True)]
            for row, mrow in zip(self.cells(), marks, strict=True)
        ]
        columns = self.flat_columns()
        widths = [
            max(len(h), *(len(r[i]) for r in body)) if body else len(h)
            for i, h in enumerate(columns)
        ]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        out = [self.title] if self.title else []
        out += [line(columns), line(["-" * w for w in widths])]
        out += [line(r) for r in body]
        out += [f"* {n}" for n in [*self.notes, *self._legend("*", "+")]]
        return "\n".join(out)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown; ``<``, ``>``, ``&`` and ``|`` in cells are escaped, so
        text from a run record renders as text, never as inline HTML."""
        columns = [_md(c) for c in self.flat_columns()]
        head = "| " + " | ".join(columns) + " |"
        sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
        wrap = {BEST: "**{}**", SECOND: "_{}_", "": "{}"}
        body = [
            "| " + " | ".join(wrap[m].format(_md(c)) for c, m in zip(r, mr, strict=True)) + " |"
            for r, mr in zip(self.cells(), self.marks(), strict=True)
        ]
        out = [f"**{_md(self.title)}**", ""] if self.title else []
        out += [head, sep, *body]
        notes = [*map(_md, self.notes), *self._legend("**bold**", "_italic_")]
        out += [""] + [f"*{n}*" for n in notes] if notes else []
        return "\n".join(out)

    def to_latex(self) -> str:
        """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``)."""
        wrap = {BEST: r"\textbf{%s}", SECOND: r"\underline{%s}", "": "%s"}
        spec = "l" + "c" * (len(self.columns) - 1)
        out = [r"\begin{table}[t]", r"\centering"]
        if self.title:
            out.append(r"\caption{" + latex_escape(self.title) + "}")
        out += [r"\begin{tabular}{" + spec + "}", r"\toprule"]
        if self.groups:
            self.flat_columns()  # validates the spans
            heads, rules, start = [], [], 1
            for name, span in self.groups:
                heads.append(
                    latex_escape(name)
                    if span == 1
                    else rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(name)}}}"
                )
                if name and span > 1:
                    rules.append(rf"\cmidrule(lr){{{start}-{start + span - 1}}}")
                start += span
            out.append(" & ".join(heads) + r" \\")
            out += [" ".join(rules)] if rules else []
        out.append(" & ".join(latex_escape(c) for c in self.columns) + r" \\")
        out.append(r"\midrule")
        for row, mrow in zip(self.cells(), self.marks(), strict=True):
            cells = [wrap[m] % latex_escape(c) for c, m in zip(row, mrow, strict=True)]
            out.append(" & ".join(cells) + r" \\")
        out += [r"\bottomrule", r"\end{tabular}"]
        notes = [*self.notes, *self._legend("bold", "underlined")]
        if notes:
            out.append(
                r"\par\smallskip{\footnotesize " + "; ".join(map(latex_escape, notes)) + r"\par}"
            )
        out.append(r"\end{table}")
        return "\n".join(out)

    def to_csv(self) -> str:
        """Values only; text cells (and headers) neutralised with :func:`csv_safe`."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([csv_safe(c) for c in self.flat_columns()])
        for raw, row in zip(self.rows, self.cells(nan=""), strict=True):
            w.writerow(
                [csv_safe(c) if numeric(v) is None else c for v, c in zip(raw, row, strict=True)]
            )
        return buf.getvalue()

    def to_html(self, table_id: str = "", css_class: str = "") -> str:
        """An HTML ``<table>``; every string is escaped. Cells carry ``data-value`` for sorting."""
        e = html.escape
        attrs = (f' id="{e(table_id)}"' if table_id else "") + (
            f' class="{e(css_class)}"' if css_class else ""
        )
        out = [f"<table{attrs}>"]
        if self.title:
            out.append(f"<caption>{e(self.title)}</caption>")
        out.append("<thead>")
        if self.groups:
            self.flat_columns()
            spans = "".join(
                f'<th colspan="{span}" scope="colgroup">{e(name)}</th>'
                for name, span in self.groups
            )
            out.append(f'<tr class="groups">{spans}</tr>')
        heads = "".join(
            f'<th scope="col" data-col="{i}">{e(c)}</th>' for i, c in enumerate(self.columns)
        )
        out += [f'<tr class="columns">{heads}</tr>', "</thead>", "<tbody>"]
        tag = {BEST: ("<strong>", "</strong>"), SECOND: ("<u>", "</u>"), "": ("", "")}
        for r, (raw, row, mrow) in enumerate(
            zip(self.rows, self.cells(), self.marks(), strict=True)
        ):
            tds = []
            for c, (value, text, mark) in enumerate(zip(raw, row, mrow, strict=True)):
                num = numeric(value)
                sort = f"{num!r}" if num is not None else text
                inner = e(text)
                if c == 0 and r < len(self.links) and self.links[r]:
                    inner = f'<a href="{e(self.links[r] or "")}">{inner}</a>'
                cls = f' class="{mark}"' if mark else ""
                o, cl = tag[mark]
                tds.append(f'<td data-value="{e(sort)}"{cls}>{o}{inner}{cl}</td>')
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody>")
        notes = [*self.notes, *self._legend("bold", "underlined")]
        if notes:
            items = "<br>".join(e(n) for n in notes)
            out.append(f'<tfoot><tr><td colspan="{len(self.columns)}">{items}</td></tr></tfoot>')
        out.append("</table>")
        return "\n".join(out)

    def render(self, fmt_name: str) -> str:
        """Render by format name: ``text``, ``markdown``, ``latex``, ``csv`` or ``html``."""
        renderers = {
            "text": self.to_text,
            "markdown": self.to_markdown,
            "latex": self.to_latex,
            "csv": self.to_csv,
            "html": self.to_html,
        }
        if fmt_name not in renderers:
            raise ValueError(f"unknown table format {fmt_name!r}; use one of {sorted(renderers)}")
        return renderers[fmt_name]()


def metrics_table(title: str, metrics: list, embedded: bool, run_path: str = "") -> Table:
    """The table ``biasbench run`` prints: one row per metric with its denominator."""
    t = Table(["metric", "value (%)", "n", "note"], title=title)
    for m in metrics:
        value = m.value if m.std is None else Stat(m.value, m.std)
        t.rows.append([m.name + ("" if m.higher_is_better else " (↓)"), value, m.n, m.note])
    if embedded:
        t.notes.append(EMBEDDED_LABEL)
    if run_path:
        t.notes.append(f"run record: {run_path}")
    return t
