"""Published numbers: the papers' printed tables as data, shown beside the user's runs.

``reports/published/*.yaml`` hold the printed values of the Open-MeDe paper (main Tables 1-5
and supplementary Tables 1-8) and of FROSTER (Tables 1-7), each with its source (paper,
table), the method name as printed, the biasbench method and learner it corresponds to
(if any), and per value the biasbench protocol and metric. Nothing in them is computed.
The files' header comments say how each table was read and what was left out.

**HM checks.** Every printed harmonic mean is recomputed from its printed inputs. Printed
values are rounded, so a printed HM and the HM of the printed inputs may differ a little;
:class:`HMCheck` flags a difference rounding cannot explain. Each input lies within half a
unit of its last printed digit of its true value (``± 0.05`` at one decimal) and the HM
rises with every input, so the HM of the true inputs lies in ``[HM(inputs - h),
HM(inputs + h)]``; the printed HM, rounded in turn, may lie up to half a unit of its own
precision outside that interval. A printed HM outside
``[HM(inputs - h) - h_hm, HM(inputs + h) + h_hm]`` cannot come from those inputs by
rounding, and is flagged. At one decimal and two inputs this allows ``0.05 x 2(a² + b²) /
(a + b)² + 0.05``: 0.10 for equal inputs, up to 0.15 for inputs far apart. The bounds are
exact (the HM is monotone), not a first-order estimate.

Reports never mix these rows into the user's means: tables add them as extra rows, marked
``published (<table>)`` (:func:`published_label`), and the leaderboard styles them apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from biasbench import metrics as M
from biasbench.config import read_yaml_file
from biasbench.errors import ConfigError
from biasbench.reports.families import METRIC_ORDER
from biasbench.reports.table import Stat, Table

PUBLISHED_DIR = Path(__file__).with_name("published")
#: paper-layout tables (keys of :func:`biasbench.reports.paper_tables.paper_tables`, less the
#: per-dataset suffix of Table 3) a published table can be shown in
LAYOUTS = (
    "table1-base-to-novel",
    "table2-cross-dataset",
    "table3-out-of-context",
    "table4-model-agnostic",
    "table5-ic-oc",
)
KNOWN_METRICS = frozenset(
    {m for names in METRIC_ORDER.values() for m in names} | {"hat_top1", "hat_top5"}
)
FIRST = "openmede.yaml"
_CELL = re.compile(r"\s*(-?\d+(?:\.(\d+))?)\s*(?:±\s*(\d+(?:\.\d+)?))?\s*")
_EPS = 1e-9


@dataclass(frozen=True)
class Source:
    """Where a row was printed: ``paper`` and ``table`` ("Open-MeDe Table 1")."""

    paper: str
    table: str
    caption: str = ""
    layout: str | None = None
    citation: str = ""
    file: str = ""


@dataclass(frozen=True)
class MapsTo:
    """The biasbench entry a printed row corresponds to; ``settings``: a non-default setting
    of the method, as ``(name, value)`` pairs."""

    method: str
    learner: str
    settings: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``openmede (vclip)``, plus ``delta=0.167`` for settings."""
        extra = " ".join(f"{k}={_scalar(v)}" for k, v in self.settings)
        return f"{self.method} ({self.learner})" + (f" {extra}" if extra else "")


@dataclass(frozen=True)
class Value:
    """One printed number: protocol, metric, value and spread (``std``) in %."""

    protocol: str
    metric: str
    value: float
    std: float | None
    decimals: int


@dataclass(frozen=True)
class HMCheck:
    """A printed harmonic mean against the HM of its printed inputs (see module docstring)."""

    source: Source
    method: str
    column: str
    printed: float
    inputs: tuple[float, ...]
    keys: tuple[tuple[str, str] | None, ...]  # (protocol, metric) of each input, if any
    decimals: int
    input_decimals: int
    key: tuple[str, str] | None = None  # the HM's own (protocol, metric), if biasbench has it

    @property
    def recomputed(self) -> float:
        return M.harmonic_mean(*self.inputs)

    @property
    def bounds(self) -> tuple[float, float]:
        """The printed values this HM may take, given rounded inputs and its own rounding."""
        h, hp = 0.5 * 10.0**-self.input_decimals, 0.5 * 10.0**-self.decimals
        low = M.harmonic_mean(*(max(v - h, 0.0) for v in self.inputs))
        return low - hp - _EPS, M.harmonic_mean(*(v + h for v in self.inputs)) + hp + _EPS

    @property
    def ok(self) -> bool:
        low, high = self.bounds
        return low <= self.printed <= high

    def describe(self) -> str:
        """``HM 20.3 printed; 41.9 from its inputs``."""
        d = self.decimals
        return f"HM {self.printed:.{d}f} printed; {self.recomputed:.{d}f} from its inputs"

    def where(self) -> str:
        """``X-CLIP, Open-MeDe Table 3, column hm_top1``."""
        return f"{self.method}, {self.source.table}, column {self.column}"

    @property
    def name(self) -> str:
        """The HM's protocol and metric (``ucf-scuba hm_top1``), else what it is the HM of
        (``HM of ucf-scuba ic_top1 + ucf-scuba oc_top1 + ucf-hat hat_top1``)."""
        if self.key is not None:
            return " ".join(self.key)
        return "HM of " + " + ".join(" ".join(k) if k else "?" for k in self.keys)

    def verdict(self) -> str:
        """``b2n-ucf hm 85.9 agrees with its inputs``, or the flag with both values."""
        if self.ok:
            return f"{self.name} {self.printed:.{self.decimals}f} agrees with its inputs"
        return f"{self.name}: {self.describe()}"


@dataclass(frozen=True)
class PublishedRow:
    """One printed row: its values (by protocol and metric) and its printed HMs."""

    source: Source
    method: str
    maps_to: MapsTo | None
    backbone: str
    note: str
    values: tuple[Value, ...]
    hms: tuple[HMCheck, ...]

    @property
    def label(self) -> str:
        return published_label(self.method, self.source.table)

    @property
    def protocols(self) -> set[str]:
        return {v.protocol for v in self.values}

    def value(self, protocol: str, metric: str) -> Value | None:
        return next((v for v in self.values if (v.protocol, v.metric) == (protocol, metric)), None)

    def hm(self, *inputs: tuple[str, str]) -> HMCheck | None:
        """The printed HM whose inputs are exactly ``inputs`` (``(protocol, metric)`` pairs)."""
        return next((h for h in self.hms if h.keys == tuple(inputs)), None)


def _scalar(value: Any) -> str:
    """A setting's value as YAML writes it (``true``, not ``True``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def published_label(method: str, table: str) -> str:
    """How a published row is named in every table: ``X-CLIP — published (Open-MeDe Table 3)``."""
    return f"{method} — published ({table})"


@cache
def shipped() -> tuple[PublishedRow, ...]:
    """Every row of the shipped files (``reports/published/*.yaml``), loaded once; the
    Open-MeDe paper's first (the suite's reference), then the others by name."""
    files = sorted(PUBLISHED_DIR.glob("*.yaml"), key=lambda f: (f.name != FIRST, f.name))
    return tuple(load_published(files))


def load_published(paths: Iterable[Path | str]) -> list[PublishedRow]:
    """Rows of published-number files; a malformed file raises a one-line ConfigError
    naming the file and the key."""
    return [row for path in paths for row in load_file(Path(path))]


def hm_checks(rows: Iterable[PublishedRow] | None = None) -> list[HMCheck]:
    """Every printed HM of ``rows`` (default: the shipped files) with its recomputation."""
    return [h for r in (shipped() if rows is None else rows) for h in r.hms]


def protocol_table(
    rows: Iterable[PublishedRow],
    protocol: str,
    order: Callable[[Iterable[str]], list[str]] = sorted,
) -> Table | None:
    """Every printed value on ``protocol``, from any paper table: one row per printed row
    (method as printed, its table, the biasbench entry it corresponds to, backbone), its
    values in ``order`` (the protocol's metric order) and the check of each printed HM that
    involves the protocol. None when no paper printed a value on it."""
    rows = [r for r in rows if protocol in r.protocols]
    if not rows:
        return None
    metrics = order({v.metric for r in rows for v in r.values if v.protocol == protocol})
    head = ["Method (as printed)", "Paper table", "biasbench entry", "Backbone"]
    t = Table([*head, *metrics, "Printed HM"], title=f"Published numbers on {protocol}")
    for r in rows:
        cells: list[Any] = [r.method, r.source.table, r.maps_to.label if r.maps_to else "–"]
        cells.append(r.backbone)
        for m in metrics:
            v = r.value(protocol, m)
            cells.append(float("nan") if v is None else Stat(v.value, v.std))
        checks = [h for h in r.hms if any(k and k[0] == protocol for k in h.keys)]
        cells.append("; ".join(h.verdict() for h in checks))
        t.rows.append(cells)
    t.notes.append(
        "printed in the papers (reports/published/*.yaml), not runs: never part of a mean; "
        "a printed HM is flagged when its printed inputs cannot give it by rounding"
    )
    return t


# --- loading and validation -------------------------------------------------------------------


def load_file(path: Path) -> list[PublishedRow]:
    """One published-number file (see ``reports/published/openmede.yaml`` for the layout)."""
    doc = read_yaml_file(path, "published-number file")
    top = _mapping(doc, path, "top level")
    paper = _text(top, "paper", path, "")
    citation = str(top.get("citation") or "")
    backbone = _text(top, "backbone", path, "")
    tables = top.get("tables")
    if not isinstance(tables, list) or not tables:
        raise _error(path, "tables", "expected a non-empty list of tables")
    rows: list[PublishedRow] = []
    for i, raw in enumerate(tables):
        where = f"tables[{i}]"
        table = _mapping(raw, path, where)
        source = Source(
            paper=paper,
            table=_text(table, "table", path, where),
            caption=str(table.get("caption") or ""),
            layout=_layout(table.get("layout"), path, where),
            citation=citation,
            file=path.name,
        )
        rows += _table_rows(table, source, backbone, path, where)
    return rows


def _table_rows(
    table: Mapping[str, Any], source: Source, backbone: str, path: Path, where: str
) -> list[PublishedRow]:
    decimals = table.get("decimals", 1)
    if not isinstance(decimals, int) or isinstance(decimals, bool) or decimals < 0:
        raise _error(path, f"{where}.decimals", f"expected a whole number, got {decimals!r}")
    columns = _columns(table.get("columns"), path, f"{where}.columns")
    raw_rows = table.get("rows")
    if not isinstance(raw_rows, list) or not raw_rows:
        raise _error(path, f"{where}.rows", "expected a non-empty list of rows")
    out = []
    for j, raw in enumerate(raw_rows):
        rw = f"{where}.rows[{j}]"
        row = _mapping(raw, path, rw)
        cells = row.get("values")
        if not isinstance(cells, list) or len(cells) != len(columns):
            raise _error(path, f"{rw}.values", f"expected a list of {len(columns)} cells")
        parsed = {
            key: _cell(c, decimals, path, f"{rw}.values[{k}]")
            for k, (key, c) in enumerate(zip(columns, cells, strict=True))
        }
        method = _text(row, "method", path, rw)
        out.append(
            PublishedRow(
                source=source,
                method=method,
                maps_to=_maps_to(row.get("maps_to"), path, f"{rw}.maps_to"),
                backbone=str(row.get("backbone") or backbone),
                note=str(row.get("note") or ""),
                values=_values(columns, parsed, decimals),
                hms=_hms(columns, parsed, source, method, decimals),
            )
        )
    return out


def _columns(raw: Any, path: Path, where: str) -> dict[str, dict[str, Any]]:
    """Column key -> ``{protocol, metric, hm_of}``, checked against the registry and the
    metric names biasbench reports."""
    from biasbench.plugins import PROTOCOLS

    cols = _mapping(raw, path, where)
    if not cols:
        raise _error(path, where, "expected at least one column")
    out: dict[str, dict[str, Any]] = {}
    for key, spec in cols.items():
        cw = f"{where}.{key}"
        spec = _mapping(spec, path, cw)
        unknown = set(spec) - {"protocol", "metric", "hm_of"}
        if unknown:
            raise _error(path, cw, f"unknown keys {sorted(unknown)}")
        protocol, metric, hm_of = spec.get("protocol"), spec.get("metric"), spec.get("hm_of")
        if protocol is not None and protocol not in PROTOCOLS.names():
            raise _error(path, f"{cw}.protocol", f"unknown protocol {protocol!r}")
        if (protocol is None) != (metric is None) or (protocol is None and hm_of is None):
            raise _error(path, cw, "needs protocol and metric, or hm_of, or all three")
        if metric is not None and metric not in KNOWN_METRICS:
            raise _error(path, f"{cw}.metric", f"{metric!r} is not a metric biasbench reports")
        if hm_of is not None and (
            not isinstance(hm_of, list)
            or len(hm_of) < 2
            or any(k not in out or out[k].get("hm_of") for k in hm_of)
        ):
            raise _error(path, f"{cw}.hm_of", "expected two or more earlier non-HM columns")
        out[str(key)] = {"protocol": protocol, "metric": metric, "hm_of": hm_of}
    return out


def _values(
    columns: dict[str, dict[str, Any]], cells: dict[str, tuple[float, float | None] | None], d: int
) -> tuple[Value, ...]:
    return tuple(
        Value(c["protocol"], c["metric"], cell[0], cell[1], d)
        for key, c in columns.items()
        if c["protocol"] is not None and (cell := cells[key]) is not None
    )


def _hms(
    columns: dict[str, dict[str, Any]],
    cells: dict[str, tuple[float, float | None] | None],
    source: Source,
    method: str,
    d: int,
) -> tuple[HMCheck, ...]:
    out = []
    for key, c in columns.items():
        printed = cells[key]
        if not c["hm_of"] or printed is None or any(cells[k] is None for k in c["hm_of"]):
            continue
        inputs = tuple(cells[k][0] for k in c["hm_of"])  # type: ignore[index]
        keys = tuple(_key(columns[k]) for k in c["hm_of"])
        own = _key(c)
        out.append(HMCheck(source, method, key, printed[0], inputs, keys, d, d, own))
    return tuple(out)


def _key(column: Mapping[str, Any]) -> tuple[str, str] | None:
    return (column["protocol"], column["metric"]) if column["protocol"] else None


def _cell(raw: Any, decimals: int, path: Path, where: str) -> tuple[float, float | None] | None:
    """A printed cell: a number, ``"mean±std"`` or null; never more decimals than declared."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise _error(path, where, f"expected a number, 'mean±std' or null, got {raw!r}")
    text = raw if isinstance(raw, str) else repr(raw)
    m = _CELL.fullmatch(text)
    if m is None:
        raise _error(path, where, f"expected a number, 'mean±std' or null, got {raw!r}")
    if len(m.group(2) or "") > decimals:
        raise _error(path, where, f"{raw!r} has more than the table's {decimals} decimal(s)")
    value, std = float(m.group(1)), (float(m.group(3)) if m.group(3) else None)
    if not 0.0 <= value <= 100.0 or math.isnan(value):
        raise _error(path, where, f"{raw!r} is not a percentage")
    return value, std


def _maps_to(raw: Any, path: Path, where: str) -> MapsTo | None:
    from biasbench.plugins import LEARNERS, METHODS

    if raw is None:
        return None
    spec = _mapping(raw, path, where)
    unknown = set(spec) - {"method", "learner", "settings"}
    if unknown:
        raise _error(path, where, f"unknown keys {sorted(unknown)}")
    method, learner = spec.get("method"), spec.get("learner")
    if method not in METHODS.names():
        raise _error(path, f"{where}.method", f"unknown method {method!r}")
    if learner not in LEARNERS.names():
        raise _error(path, f"{where}.learner", f"unknown learner {learner!r}")
    settings = _mapping(spec.get("settings") or {}, path, f"{where}.settings")
    if any(isinstance(v, dict | list) for v in settings.values()):
        raise _error(path, f"{where}.settings", "expected name: value pairs of scalars")
    return MapsTo(str(method), str(learner), tuple((str(k), v) for k, v in settings.items()))


def _layout(raw: Any, path: Path, where: str) -> str | None:
    if raw is not None and raw not in LAYOUTS:
        raise _error(path, f"{where}.layout", f"expected one of {', '.join(LAYOUTS)}")
    return raw


def _mapping(raw: Any, path: Path, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _error(path, where, f"expected a mapping, got {type(raw).__name__}")
    return raw


def _text(spec: Mapping[str, Any], key: str, path: Path, where: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _error(path, f"{where}.{key}".lstrip("."), "expected a non-empty string")
    return value


def _error(path: Path, key: str, problem: str) -> ConfigError:
    return ConfigError(f"published-number file {path}: {key}: {problem}")
