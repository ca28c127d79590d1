"""Load complete run records into typed objects and a pandas frame (reports read nothing else).

A folder counts only if it holds the ``COMPLETE`` marker; incomplete folders and folders whose
files cannot be parsed are listed in :attr:`RunSet.skipped` with the reason, never tabled.

Rows are grouped into *entries*: one method x learner x settings variant on one protocol,
usually several seeds. An entry's label is the method name, plus the learner when a method
appears with several learners, plus a short settings hash when one method x learner ran
with several settings variants on one protocol.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench import metrics as M
from biasbench.results import Metric, SetResult
from biasbench.runrecord import MARKER, find_runs, load_set_file

# run-config fields that do not change results: left out of an entry's settings variant
_NOT_VARIANT = ("seed", "out", "num_workers", "data_root", "device")
# evaluation and method settings that only add outputs (per-epoch evaluations, logs,
# checkpoints, stored embeddings) without changing a result
_NOT_VARIANT_EVAL = ("batch_size", "store_embeddings")
_NOT_VARIANT_METHOD = ("eval_every", "log_every", "checkpoint_every")


@dataclass
class Run:
    """One complete run folder, parsed."""

    path: Path
    config: dict[str, Any]
    provenance: dict[str, Any]
    metrics: list[Metric]
    sets: dict[str, dict[str, Any]]
    embedded: bool
    label: str = ""  # the entry label, set by load_runs

    @property
    def run_cfg(self) -> dict[str, Any]:
        return self.config.get("run", {})

    @property
    def protocol(self) -> str:
        return str(self.run_cfg.get("protocol", self.path.parent.parent.name))

    @property
    def method(self) -> str:
        return str(self.run_cfg.get("method", self.path.parent.name.split("__")[0]))

    @property
    def learner(self) -> str:
        return str(self.run_cfg.get("learner") or self.path.parent.name.partition("__")[2])

    @property
    def seed(self) -> int:
        return int(self.run_cfg.get("seed", self.provenance.get("seed", 0)))

    @property
    def run_id(self) -> str:
        """``<protocol>/<method>__<learner>/<folder>``: the record's path under the runs root."""
        return "/".join(self.path.parts[-3:])

    @property
    def config_hash(self) -> str:
        """The hash in the folder name (``seed<N>-<hash>``), else a hash of config.json."""
        head, sep, tail = self.path.name.partition("-")
        if sep and head.startswith("seed") and tail:
            return tail
        return _short_hash(self.config)

    @cached_property
    def variant(self) -> str:
        """Hash of the settings that change results, seed excluded (groups seeds together)."""
        cfg = {k: v for k, v in self.run_cfg.items() if k not in _NOT_VARIANT}
        for key, ignored in (("eval", _NOT_VARIANT_EVAL), ("method_cfg", _NOT_VARIANT_METHOD)):
            if isinstance(cfg.get(key), dict):
                cfg[key] = {k: v for k, v in cfg[key].items() if k not in ignored}
        return _short_hash(cfg)

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def set_keys(self) -> list[tuple[str, str]]:
        """``(episode, set)`` of every stored prediction file."""
        root = self.path / "predictions"
        return sorted((p.parent.name, p.stem) for p in root.glob("*/*.npz"))

    def load_set(self, episode: str, key: str) -> SetResult:
        return load_set_file(self.path / "predictions" / episode / f"{key}.npz", key)

    def set_info(self, episode: str, key: str) -> dict[str, Any]:
        """What config.json says about an evaluation set (context, videos, ...)."""
        ep = self.config.get("episodes", {}).get(episode) or {}
        return (ep.get("evals") or {}).get(key) or {}

    def epoch_evals(self) -> pd.DataFrame:
        """``train/<episode>/epoch_eval.csv`` of every episode: epoch, set, top1, top5, n."""
        frames = []
        for p in sorted(self.path.glob("train/*/epoch_eval.csv")):
            df = pd.read_csv(p)
            frames.append(df.assign(episode=p.parent.name))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


@dataclass
class RunSet:
    """Complete runs, plus the folders left out and why."""

    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def protocols(self) -> list[str]:
        return sorted({r.protocol for r in self.runs})

    def for_protocol(self, protocol: str) -> list[Run]:
        return [r for r in self.runs if r.protocol == protocol]

    def entries(self, protocol: str) -> dict[str, list[Run]]:
        """Entry label -> its runs (sorted by seed), for one protocol."""
        out: dict[str, list[Run]] = {}
        for r in sorted(self.for_protocol(protocol), key=lambda r: (r.label, r.seed, r.run_id)):
            out.setdefault(r.label, []).append(r)
        return out

    def skipped_note(self) -> str:
        """One line saying how many folders were left out (empty when none)."""
        if not self.skipped:
            return ""
        incomplete = sum(1 for _, why in self.skipped if why.startswith("incomplete"))
        other = len(self.skipped) - incomplete
        parts = (
            [f"{incomplete} incomplete run(s) skipped (no {MARKER} marker)"] if incomplete else []
        )
        parts += [f"{other} unreadable run record(s) skipped"] if other else []
        return "; ".join(parts)

    def frame(self) -> pd.DataFrame:
        """One row per (run, metric), with the run's identity and provenance."""
        rows = []
        for r in self.runs:
            base = {
                "protocol": r.protocol,
                "entry": r.label,
                "method": r.method,
                "learner": r.learner,
                "seed": r.seed,
                "variant": r.variant,
                "run_id": r.run_id,
                "config_hash": r.config_hash,
                "embedded": r.embedded,
                "commit": r.provenance.get("git_commit"),
                "device": r.provenance.get("device"),
                "started": r.provenance.get("started"),
                "version": r.provenance.get("biasbench_version"),
            }
            for m in r.metrics:
                rows.append(
                    {
                        **base,
                        "metric": m.name,
                        "value": m.value,
                        "std": m.std,
                        "n": m.n,
                        "higher_is_better": m.higher_is_better,
                    }
                )
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)


FRAME_COLUMNS = [
    "protocol",
    "entry",
    "method",
    "learner",
    "seed",
    "variant",
    "run_id",
    "config_hash",
    "embedded",
    "commit",
    "device",
    "started",
    "version",
    "metric",
    "value",
    "std",
    "n",
    "higher_is_better",
]


def load_run(path: Path) -> Run:
    """Parse one complete run folder; raises ValueError naming the file that is malformed."""
    path = Path(path)

    def read(name: str) -> Any:
        f = path / name
        try:
            return json.loads(f.read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{f}: {e}") from None

    config, metrics_doc = read("config.json"), read("metrics.json")
    prov = read("provenance.json") if (path / "provenance.json").is_file() else {}
    sets = read("sets.json") if (path / "sets.json").is_file() else {}
    try:
        metrics = [Metric(**m) for m in metrics_doc["metrics"]]
    except (KeyError, TypeError) as e:
        raise ValueError(f"{path / 'metrics.json'}: not a metrics list ({e})") from None
    embedded = bool(metrics_doc.get("embedded_world", config.get("embedded_world", False)))
    return Run(path, config, prov, metrics, sets, embedded)


def load_runs(paths: Iterable[Path | str], protocol: str | None = None) -> RunSet:
    """Complete runs found in ``paths`` (run folders or roots searched recursively).

    ``protocol`` keeps only runs of that protocol. Incomplete and unreadable folders land in
    ``skipped``. Entry labels are assigned over the whole set (see module docstring).
    """
    folders: list[Path] = []
    for p in paths:
        p = Path(p)
        found = [p] if (p / "config.json").is_file() else find_runs(p, complete_only=False)
        folders += [f for f in found if f not in folders]
    out = RunSet()
    for folder in folders:
        if protocol and _protocol_of(folder) != protocol:
            continue
        if not (folder / MARKER).is_file():
            out.skipped.append((folder, f"incomplete: no {MARKER} marker"))
            continue
        try:
            out.runs.append(load_run(folder))
        except ValueError as e:
            out.skipped.append((folder, f"unreadable: {e}"))
    _assign_labels(out.runs)
    return out


def _protocol_of(folder: Path) -> str:
    try:
        return str(json.loads((folder / "config.json").read_text())["run"]["protocol"])
    except (OSError, ValueError, KeyError, TypeError):
        return folder.parent.parent.name


def _assign_labels(runs: list[Run]) -> None:
    learners: dict[str, set[str]] = {}
    variants: dict[tuple[str, str, str], set[str]] = {}
    for r in runs:
        learners.setdefault(r.method, set()).add(r.learner)
        variants.setdefault((r.protocol, r.method, r.learner), set()).add(r.variant)
    for r in runs:
        label = r.method
        if len(learners[r.method]) > 1:
            label += f" ({r.learner})"
        if len(variants[(r.protocol, r.method, r.learner)]) > 1:
            label += f" [{r.variant[:6]}]"
        r.label = label


def _short_hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def aggregate(runs: list[Run], metric: str) -> tuple[float, float | None, int]:
    """Mean, spread and run count of one metric over an entry's runs.

    The spread is the standard deviation over runs (ddof=1) when there are several; for a
    single run it is the metric's own ``std`` (over splits or seeds inside the run), if any.
    """
    found = [m for r in runs if (m := r.metric(metric)) is not None and not math.isnan(m.value)]
    if not found:
        return float("nan"), None, 0
    if len(found) == 1:
        return found[0].value, found[0].std, 1
    mean, std = M.mean_std([m.value for m in found])
    return mean, std, len(found)
