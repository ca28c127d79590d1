"""A plan's grid expanded into run specs, each with its ``biasbench run`` argv.

A :class:`RunSpec` is the command line of one run and nothing more: its record folder is
found by resolving :meth:`RunSpec.run_config` (:mod:`.state`), the same configuration the
command line builds, so the sweep and ``biasbench run`` always agree on where a run lives.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from biasbench.config import RunConfig

from .plan import Grid, Plan, Rule, Sets


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: the arguments of ``biasbench run``."""

    method: str
    protocol: str
    learner: str | None
    seed: int
    sets: Sets = ()
    config: str | None = None
    out: str = "runs"
    data_root: str | None = None

    @property
    def key(self) -> str:
        """A stable, file-friendly name, unique within a plan (logs are named after it)."""
        base = f"{self.protocol}.{self.method}.{self.learner or 'default'}.seed{self.seed}"
        if not self.sets and not self.config:
            return base
        blob = json.dumps([list(self.sets), self.config], sort_keys=True, default=str)
        return f"{base}.{hashlib.sha256(blob.encode()).hexdigest()[:8]}"

    def label(self) -> str:
        """``protocol · method · learner · seed N`` plus the --set values, for people."""
        learner = self.learner or default_learner(self.method)
        parts = [self.protocol, self.method, learner, f"seed {self.seed}"]
        extra = " ".join(set_arguments(self.sets))
        return " · ".join(parts) + (f"  [{extra}]" if extra else "")

    def argv(self) -> list[str]:
        """Arguments of ``biasbench`` (after the program name) that run this spec."""
        args = ["run", "--method", self.method, "--protocol", self.protocol]
        if self.learner:
            args += ["--learner", self.learner]
        if self.config:
            args += ["--config", self.config]
        args += ["--seed", str(self.seed), "--out", self.out]
        if self.data_root:
            args += ["--data-root", self.data_root]
        for s in set_arguments(self.sets):
            args += ["--set", s]
        return [*args, "--quiet"]

    def run_config(self) -> RunConfig:
        """The configuration ``biasbench run`` builds from :meth:`argv` (config file < command
        line options < ``--set``), without validating plugin settings (resolution does)."""
        from biasbench.config import apply_overrides, from_dict, load_config_file

        cfg = from_dict(load_config_file(self.config)) if self.config else RunConfig()
        values = {
            "method": self.method,
            "protocol": self.protocol,
            "learner": self.learner,
            "data_root": self.data_root,
            "out": self.out,
            "seed": self.seed,
        }
        cfg = apply_overrides(cfg, {k: v for k, v in values.items() if v is not None})
        return apply_overrides(cfg, set_arguments(self.sets))

    def value(self, key: str) -> Any:
        """This run's value of an exclusion-rule key (``learner`` defaults to the method's)."""
        if key == "learner":
            return self.learner or default_learner(self.method)
        if key in ("method", "protocol", "seed"):
            return getattr(self, key)
        return dict(self.sets).get(key)


def set_arguments(sets: Sets) -> list[str]:
    """``--set`` arguments (``key=value``) whose values parse back to the plan's values."""
    return [f"{k}={format_value(v)}" for k, v in sets]


def format_value(value: Any) -> str:
    """A value as YAML flow text, the syntax ``--set`` parses (``0.5``, ``true``, ``[1, 2]``)."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    return text[: -len("...")].strip() if text.endswith("\n...") else text


@cache
def default_learner(method: str) -> str:
    """A method's own learner (imports the method's module, so only asked when needed)."""
    from biasbench.plugins import METHODS

    return METHODS.get(method).default_learner


def expand(plan: Plan, out: str | None = None, data_root: str | None = None) -> list[RunSpec]:
    """Every run of ``plan`` once, seeds outermost (so early results cover whole seeds).

    ``out`` and ``data_root`` override the plan's; both become absolute paths, so a run
    resolves to the same folder from any working folder (a SLURM job's included).
    """
    out_dir = str(Path(out or plan.out).expanduser().resolve())
    root = data_root or plan.data_root
    root = str(Path(root).expanduser().resolve()) if root else None
    runs: dict[str, RunSpec] = {}
    for grid in plan.grids:
        for spec in _grid_runs(grid, out_dir, root):
            if not _excluded(spec, (*grid.exclude, *plan.exclude)):
                runs.setdefault(spec.key, spec)
    return sorted(runs.values(), key=lambda s: s.seed)


def _grid_runs(grid: Grid, out: str, data_root: str | None):
    axes = itertools.product(grid.protocols, grid.methods, grid.learners, grid.sets, grid.seeds)
    for protocol, method, learner, sets, seed in axes:
        yield RunSpec(
            method=method,
            protocol=protocol,
            learner=learner,
            seed=seed,
            sets=sets,
            config=grid.config_for(learner),
            out=out,
            data_root=data_root,
        )


def _excluded(spec: RunSpec, rules: tuple[Rule, ...]) -> bool:
    return any(rule.matches(spec.value) for rule in rules)
