"""Sweep plans: a YAML file read into a frozen :class:`Plan`; every error is one line.

A plan names one grid (or a list of grids, whose runs are pooled) and where runs, logs and
the report go::

    name: embedded-study             # default: the file name
    description: one line
    out: runs/embedded-study         # every run's --out (relative to the working folder)
    grid:                            # a mapping, or a list of mappings
      methods: [zero-shot, plain]
      learners: [vclip]              # optional; default: each method's own learner
      protocols: [synth-scuba]
      seeds: [0, 1, 2]               # default [0]
      sets: {method.epochs: [3, 6]}  # key -> values (a product), or a list of --set mappings
      config: vclip-embedded         # optional --config: a file, a preset, or learner -> one
      exclude: [{method: zero-shot, seed: [1, 2]}]
    exclude: [...]                   # rules for every grid: method, learner, protocol, seed,
                                     # or a --set key; a run matching all keys of a rule goes
    launcher:
      local: {jobs: 2, threads: 1}
      slurm: {partition: gpu, time: "24:00:00", gpus_per_job: 4, cpus_per_job: 32,
              mem_gb: 256, array_parallelism: 8}
    report: {out: report/study, tables: [table5-ic-oc], figures: [synth-scuba-epochs],
             pairs: ["plain,openmede"], tsne: true, html: true}   # or report: false

:mod:`.reader` checks names against the registries and ``--set`` keys against the run
settings when the plan is read; values the plugins check are checked when runs resolve
(``--dry-run`` shows them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biasbench.config import shipped_file
from biasbench.errors import ConfigError

PLANS_DIR = Path(__file__).resolve().parent.parent / "plans"
RULE_FIELDS = ("method", "learner", "protocol", "seed")
LAUNCHERS = ("local", "slurm")
SUBMITIT_CLUSTERS = ("slurm", "local", "debug")


class PlanError(ConfigError):
    """A plan that cannot be used; the message names the file and the key."""


Sets = tuple[tuple[str, Any], ...]  # one combination of --set values, in plan order


@dataclass(frozen=True)
class Rule:
    """An exclusion: a run matching every key (any of its listed values) is left out."""

    match: tuple[tuple[str, tuple[Any, ...]], ...]

    def matches(self, values: Callable[[str], Any]) -> bool:
        """``values(key)`` gives the run's value of a rule key (method, seed, a --set key)."""
        return all(values(key) in allowed for key, allowed in self.match)


@dataclass(frozen=True)
class Grid:
    """One product of axes; ``None`` as a learner means the method's own."""

    methods: tuple[str, ...]
    protocols: tuple[str, ...]
    learners: tuple[str | None, ...] = (None,)
    seeds: tuple[int, ...] = (0,)
    sets: tuple[Sets, ...] = ((),)
    config: str | dict[str, str] | None = None
    exclude: tuple[Rule, ...] = ()

    def config_for(self, learner: str | None) -> str | None:
        """The ``--config`` of a run with ``learner`` (a per-learner mapping may lack it)."""
        if isinstance(self.config, dict):
            return self.config.get(learner or "")
        return self.config


@dataclass(frozen=True)
class LocalLauncher:
    """``jobs`` concurrent processes, each with ``threads`` threads (default cores // jobs)."""

    jobs: int = 1
    threads: int | None = None


@dataclass(frozen=True)
class SlurmLauncher:
    """One submitit job array; each job one run (a torchrun when it has several GPUs)."""

    partition: str | None = None
    time: str = "24:00:00"
    gpus_per_job: int = 1
    cpus_per_job: int = 8
    mem_gb: int | None = None
    array_parallelism: int = 16
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    cluster: str = "slurm"  # submitit's: "local" runs the same jobs on this machine
    max_requeues: int = 3

    def timeout_min(self) -> int:
        return time_minutes(self.time)


@dataclass(frozen=True)
class Launcher:
    default: str = "local"
    local: LocalLauncher = field(default_factory=LocalLauncher)
    slurm: SlurmLauncher = field(default_factory=SlurmLauncher)


@dataclass(frozen=True)
class ReportStep:
    """``biasbench report`` once every run is done: where, and which of its tables
    (``tables/<name>.md``) and figures (``figures/<name>.png``) the plan is for."""

    enabled: bool = True
    out: str | None = None  # default: <out>/report
    tables: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    pairs: tuple[str, ...] = ()
    tsne: bool = True
    html: bool = True


@dataclass(frozen=True)
class Plan:
    """A parsed plan; :func:`biasbench.sweep.expand.expand` turns it into runs."""

    name: str
    path: Path
    out: str
    grids: tuple[Grid, ...]
    description: str = ""
    data_root: str | None = None
    exclude: tuple[Rule, ...] = ()
    launcher: Launcher = field(default_factory=Launcher)
    report: ReportStep = field(default_factory=ReportStep)


# -- finding a plan ----------------------------------------------------------------------


def shipped_plans() -> list[str]:
    """Names of the plans shipped in ``biasbench/plans`` (``biasbench sweep NAME``)."""
    return sorted(p.stem for p in PLANS_DIR.glob("*.yaml"))


def plan_path(text: str | Path) -> Path:
    """A plan file, or the shipped plan of that name when no such file exists."""
    return shipped_file(text, PLANS_DIR, "plan", "shipped plan", PlanError)


def load_plan(text: str | Path) -> Plan:
    """Read and check a plan (a path or a shipped name)."""
    from biasbench.config import read_yaml_file

    from .reader import PlanReader

    path = plan_path(text)
    try:
        doc = read_yaml_file(path, "plan")
    except ConfigError as e:
        raise PlanError(str(e)) from None
    return PlanReader(path).plan(doc)


def time_minutes(text: str | int) -> int:
    """SLURM time ``[D-]HH:MM:SS``, ``HH:MM`` or minutes -> minutes (at least 1)."""
    if isinstance(text, int):
        return max(1, text)
    days, _, clock = str(text).rpartition("-")
    parts = clock.split(":")
    try:
        numbers = [int(p) for p in parts]
        d = int(days) if days else 0
    except ValueError:
        raise ValueError(f"expected [D-]HH:MM:SS or minutes, got {text!r}") from None
    if len(numbers) == 1:
        h, m, s = 0, numbers[0], 0
    elif len(numbers) == 2:
        h, m, s = numbers[0], numbers[1], 0
    elif len(numbers) == 3:
        h, m, s = numbers
    else:
        raise ValueError(f"expected [D-]HH:MM:SS or minutes, got {text!r}")
    return max(1, d * 1440 + h * 60 + m + (1 if s else 0))
