"""One table object that renders to terminal text, Markdown, CSV (LaTeX/HTML: issue 6).

Reports and the CLI build a :class:`Table` and pick a renderer; nothing formats numbers in
two places.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from typing import Any

EMBEDDED_LABEL = "embedded synthetic world — not a result on a real benchmark"


def fmt(value: Any, digits: int = 1) -> str:
    """Numbers with fixed decimals; NaN as an en dash; strings unchanged."""
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    if value is None:
        return ""
    return str(value)


@dataclass
class Table:
    """Rows of cells under named columns, with a title and notes printed under it."""

    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    title: str = ""
    notes: list[str] = field(default_factory=list)
    digits: int = 1

    def cells(self) -> list[list[str]]:
        return [[fmt(c, self.digits) for c in row] for row in self.rows]

    def to_text(self) -> str:
        body = self.cells()
        widths = [
            max(len(h), *(len(r[i]) for r in body)) if body else len(h)
            for i, h in enumerate(self.columns)
        ]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        out = [self.title] if self.title else []
        out += [line(self.columns), line(["-" * w for w in widths])]
        out += [line(r) for r in body]
        out += [f"* {n}" for n in self.notes]
        return "\n".join(out)

    def to_markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"
        body = ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.cells()]
        out = [f"**{self.title}**", ""] if self.title else []
        out += [head, sep, *body]
        out += [""] + [f"*{n}*" for n in self.notes] if self.notes else []
        return "\n".join(out)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(self.columns)
        w.writerows(self.cells())
        return buf.getvalue()


def metrics_table(title: str, metrics: list, embedded: bool, run_path: str = "") -> Table:
    """The table ``biasbench run`` prints: one row per metric with its denominator."""
    t = Table(["metric", "value (%)", "n", "note"], title=title)
    for m in metrics:
        value = m.value if m.std is None else f"{fmt(m.value)} ± {fmt(m.std)}"
        t.rows.append([m.name + ("" if m.higher_is_better else " (↓)"), value, m.n, m.note])
    if embedded:
        t.notes.append(EMBEDDED_LABEL)
    if run_path:
        t.notes.append(f"run record: {run_path}")
    return t
