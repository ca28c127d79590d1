"""The run configuration: one object built from defaults < config file < command line.

Everything that changes a number is a field here and is written, resolved, into the run
record. ``--set a.b=value`` addresses nested fields; values are parsed as YAML scalars/lists.
Method-, learner- and protocol-specific settings live in free-form dicts that the plugin
validates against its own frozen settings dataclass (see :func:`settings_from`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from biasbench.errors import ConfigError, RunEnvironmentError

T = TypeVar("T")


@dataclass
class EvalConfig:
    """Evaluation settings the papers differ on; recorded in every run."""

    temporal_views: int | None = None  # None: the protocol's (3 on real data, 1 embedded)
    spatial_views: int = 1
    aggregation: str = "sum_logits"  # or "sum_softmax" (ViFi-CLIP)
    templates: str | None = None  # template set name; None = the protocol's default
    batch_size: int = 16
    store_embeddings: bool = False  # keep video embeddings for t-SNE (reports)


@dataclass
class RunConfig:
    """A complete, serialisable description of one run."""

    method: str = "zero-shot"
    protocol: str = "synth-scuba"
    learner: str | None = None  # None: the method's default learner
    seed: int = 0
    out: str = "runs"
    data_root: str | None = None
    device: str = "auto"
    num_workers: int | str = "auto"
    eval: EvalConfig = field(default_factory=EvalConfig)
    backbone: dict[str, Any] = field(default_factory=dict)  # arch / weights overrides
    learner_cfg: dict[str, Any] = field(default_factory=dict)
    method_cfg: dict[str, Any] = field(default_factory=dict)
    protocol_cfg: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # per-dataset roots and list files
    world: dict[str, Any] = field(default_factory=dict)  # embedded-world overrides
    #: a video listed twice in one set: "error" (refuse, naming the file and line) or
    #: "drop" (keep the first; the record counts what was dropped)
    duplicates: str = "error"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_assignment(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` -> (["a", "b"], 3). Values are YAML (numbers, bools, lists, null)."""
    import yaml

    if "=" not in text:
        raise ConfigError(f"--set expects key=value, got {text!r}")
    key, _, raw = text.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set has an empty key in {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "1e-5" as a string
        with contextlib.suppress(ValueError):
            value = float(value)
    return key.split("."), value


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any] | list[str]) -> RunConfig:
    """Return a copy of ``cfg`` with nested overrides (a dict or ``key=value`` strings)."""
    data = cfg.to_dict()
    items: list[tuple[list[str], Any]]
    if isinstance(overrides, dict):
        items = list(_flatten(overrides))
    else:
        items = [parse_assignment(s) for s in overrides]
    for path, value in items:
        _assign(data, path, value)
    return from_dict(data)


def _flatten(d: dict[str, Any], prefix: tuple[str, ...] = ()):
    for k, v in d.items():
        # dicts under free-form fields are assigned whole at their leaves too
        if isinstance(v, dict) and v:
            yield from _flatten(v, (*prefix, k))
        else:
            yield [*prefix, k], v


FREE_FORM = {"backbone", "learner_cfg", "method_cfg", "protocol_cfg", "data", "world"}
SHORT_NAMES = {"learner": "learner_cfg", "method": "method_cfg", "protocol": "protocol_cfg"}


def _assign(data: dict[str, Any], path: list[str], value: Any) -> None:
    head = path[0]
    if len(path) > 1 and head in SHORT_NAMES:  # --set method.lr=1e-5 -> method_cfg.lr
        head = SHORT_NAMES[head]
    if head not in data:
        raise ConfigError(f"unknown setting {'.'.join(path)!r}; top-level keys: {sorted(data)}")
    if len(path) == 1:
        data[head] = value
        return
    node = data[head]
    if not isinstance(node, dict):
        raise ConfigError(f"setting {head!r} is not a group; cannot set {'.'.join(path)!r}")
    if head == "eval" and path[1] not in node:
        raise ConfigError(f"unknown setting eval.{path[1]}; known: {sorted(node)}")
    for part in path[1:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"setting {'.'.join(path)!r} goes through a non-group value")
    node[path[-1]] = value


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Build a RunConfig from a (possibly partial) dict, rejecting unknown keys."""
    known = {f.name for f in fields(RunConfig)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown config keys {sorted(unknown)}; known: {sorted(known)}")
    d = check_groups(data, "config")
    if "eval" in d:
        d["eval"] = settings_from(EvalConfig, d["eval"], "eval")
    return RunConfig(**d)


def check_groups(data: dict[str, Any], where: str) -> dict[str, Any]:
    """A copy of ``data`` whose groups (``eval``, ``method_cfg``, ``data``...) are mappings;
    an empty YAML value (null) stands for an empty group. ``where`` names the source."""
    out = dict(data)
    for key in ("eval", *sorted(FREE_FORM)):
        if key in out and out[key] is None:
            out[key] = {}
        elif key in out and not isinstance(out[key], dict):
            raise ConfigError(
                f"{where}: key {key!r} must be a group of settings (a mapping), got {out[key]!r}"
            )
    return out


PRESETS_DIR = Path(__file__).parent / "configs"


def config_presets() -> list[str]:
    """Names of the config files shipped with biasbench (``--config NAME``): each learner's
    ``<learner>-embedded`` (the tiny CLIP of the embedded world) and ``<learner>-vit-b16``
    (its paper's configuration on ViT-B/16)."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def resolve_config_path(path: str | Path) -> Path:
    """A config file path, or the shipped preset of that name when no such file exists."""
    return shipped_file(path, PRESETS_DIR, "config file", "preset", ConfigError)


def shipped_file(
    text: str | Path, folder: Path, what: str, shipped: str, error: type[Exception]
) -> Path:
    """``text`` as an existing file, or ``folder/<text>.yaml`` shipped with biasbench.

    Otherwise ``error`` with the closest shipped names (``what``: "config file", "plan";
    ``shipped``: what a shipped one is called, "preset", "shipped plan").
    """
    import difflib

    p = Path(text)
    if p.is_file():
        return p
    names = sorted(f.stem for f in Path(folder).glob("*.yaml"))
    if str(text) in names:
        return Path(folder) / f"{text}.yaml"
    close = difflib.get_close_matches(str(text), names, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise error(
        f"{what} {p} does not exist and is not a {shipped}{hint} ({shipped}s: {', '.join(names)})"
    )


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file (or a shipped preset by name) into a dict (validated
    later by from_dict)."""
    p = resolve_config_path(path)
    data = read_yaml_file(p, "config file") or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {p}: expected a mapping at the top level")
    return check_groups(data, f"config file {p}")


def read_yaml_file(path: Path, what: str) -> Any:
    """Parse a YAML/JSON file; every failure is one line naming ``what`` and the file.

    Non-UTF-8 bytes give their byte offset and line, invalid YAML its line and column
    (:class:`ConfigError`); an unreadable file is the environment's fault
    (:class:`RunEnvironmentError`).
    """
    import yaml

    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise RunEnvironmentError(f"cannot read {what} {path}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise ConfigError(
            f"{what} {path}: not UTF-8 text (byte {raw[e.start : e.start + 1]!r} at offset "
            f"{e.start}, line {line}); save it as UTF-8"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{what} {path}: not valid YAML/JSON ({yaml_problem(e)})") from None


def yaml_problem(e: Exception) -> str:
    """A YAML error in one line: ``line L, column C: problem``."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def settings_from(cls: type[T], values: dict[str, Any], where: str) -> T:
    """Instantiate a settings dataclass from a dict, with a clear error for unknown keys/types."""
    names = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - set(names)
    if unknown:
        raise ConfigError(f"unknown {where} settings {sorted(unknown)}; known: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    out = {}
    for k, v in values.items():
        out[k] = _checked_value(hints.get(k), v, f"{where}.{k}")
    return cls(**out)


def _checked_value(hint: Any, v: Any, name: str) -> Any:
    """Check ``v`` against a field's annotation (bool, int, float, optional of those)."""
    args = (
        set(typing.get_args(hint))
        if typing.get_origin(hint) in (typing.Union, types.UnionType)
        else {hint}
    )
    if v is None and type(None) in args:
        return v
    scalars = args - {type(None)}
    if scalars == {bool}:
        if not isinstance(v, bool):
            raise ConfigError(f"{name} expects true/false, got {v!r}")
    elif scalars and scalars <= {int, float}:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise ConfigError(f"{name} expects a number, got {v!r}")
        if scalars == {float}:
            return float(v)
        if scalars == {int} and isinstance(v, float):
            if not v.is_integer():
                raise ConfigError(f"{name} expects a whole number, got {v!r}")
            return int(v)
    return v


def settings_dict(obj: Any) -> dict[str, Any]:
    return dataclasses.asdict(obj)
