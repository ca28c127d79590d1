"""Reading a plan document into a :class:`~biasbench.sweep.plan.Plan`, checking every key.

Each problem is one :class:`~biasbench.sweep.plan.PlanError` line naming the plan file and
the key (``plan study.yaml: grid[1].methods: unknown method 'openmed'. Did you mean:
openmede?``). Names are checked against the registries (cheap: nothing is imported), ``--set``
keys against the run settings, config presets against the shipped ones.
"""

from __future__ import annotations

import difflib
import itertools
from pathlib import Path
from typing import Any

from biasbench.errors import BiasbenchError, ConfigError

from .plan import (
    LAUNCHERS,
    RULE_FIELDS,
    SUBMITIT_CLUSTERS,
    Grid,
    Launcher,
    LocalLauncher,
    Plan,
    PlanError,
    ReportStep,
    Rule,
    Sets,
    SlurmLauncher,
)

PLAN_KEYS = ("name", "description", "out", "data_root", "grid", "exclude", "launcher", "report")
GRID_KEYS = ("methods", "learners", "protocols", "seeds", "sets", "config", "exclude")


class PlanReader:
    """Builds a :class:`Plan` from a parsed document; ``fail`` names the file and key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> PlanError:
        return PlanError(
            f"plan {self.path}: {key}: {problem}" if key else f"plan {self.path}: {problem}"
        )

    def mapping(self, value: Any, key: str, known: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping, got {value!r}")
        unknown = sorted(str(k) for k in set(value) - set(known))
        if unknown:
            close = difflib.get_close_matches(unknown[0], known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(
                key or "top level", f"unknown key {unknown[0]!r}{hint}; known: {', '.join(known)}"
            )
        return value

    def plan(self, doc: Any) -> Plan:
        d = self.mapping(doc, "", PLAN_KEYS)
        if "grid" not in d:
            raise self.fail("grid", "missing (the methods x protocols x seeds to run)")
        if not d.get("out"):
            raise self.fail("out", "missing (the folder the runs are written to)")
        grids = d["grid"] if isinstance(d["grid"], list) else [d["grid"]]
        if not grids:
            raise self.fail("grid", "an empty list")
        name = self.text(d.get("name", self.path.stem), "name")
        return Plan(
            name=name,
            path=self.path,
            out=self.text(d["out"], "out"),
            grids=tuple(
                self.grid(g, f"grid[{i}]" if len(grids) > 1 else "grid")
                for i, g in enumerate(grids)
            ),
            description=self.text(d.get("description", ""), "description"),
            data_root=self.text(d["data_root"], "data_root") if d.get("data_root") else None,
            exclude=self.rules(d.get("exclude"), "exclude"),
            launcher=self.launcher(d.get("launcher"), "launcher"),
            report=self.report(d.get("report"), "report"),
        )

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise self.fail(key, f"expected text, got {value!r}")
        return str(value)

    def grid(self, value: Any, key: str) -> Grid:
        from biasbench.plugins import LEARNERS, METHODS, PROTOCOLS

        g = self.mapping(value, key, GRID_KEYS)
        for required in ("methods", "protocols"):
            if required not in g:
                raise self.fail(f"{key}.{required}", "missing")
        learners = (
            self.names(g["learners"], f"{key}.learners", LEARNERS) if "learners" in g else (None,)
        )
        return Grid(
            methods=self.names(g["methods"], f"{key}.methods", METHODS),
            protocols=self.names(g["protocols"], f"{key}.protocols", PROTOCOLS),
            learners=learners,
            seeds=self.seeds(g.get("seeds", [0]), f"{key}.seeds"),
            sets=self.sets(g.get("sets"), f"{key}.sets"),
            config=self.config(g.get("config"), f"{key}.config"),
            exclude=self.rules(g.get("exclude"), f"{key}.exclude"),
        )

    def items(self, value: Any, key: str) -> list[Any]:
        items = value if isinstance(value, list) else [value]
        if not items or any(v is None or isinstance(v, (dict, list)) for v in items):
            raise self.fail(key, f"expected a name or a non-empty list of names, got {value!r}")
        return items

    def names(self, value: Any, key: str, registry) -> tuple[str, ...]:
        out = []
        for v in self.items(value, key):
            try:
                out.append(registry.canonical(str(v)))
            except BiasbenchError as e:
                raise self.fail(key, str(e)) from None
        return tuple(dict.fromkeys(out))

    def seeds(self, value: Any, key: str) -> tuple[int, ...]:
        items = self.items(value, key)
        if any(isinstance(s, bool) or not isinstance(s, int) for s in items):
            raise self.fail(key, f"expected whole numbers, got {value!r}")
        return tuple(dict.fromkeys(items))

    def sets(self, value: Any, key: str) -> tuple[Sets, ...]:
        """A mapping key -> values (their product) or a list of mappings (one run each)."""
        if value is None:
            return ((),)
        if isinstance(value, dict):
            keys = [str(k) for k in value]
            axes = [v if isinstance(v, list) else [v] for v in value.values()]
            if any(not a for a in axes):
                raise self.fail(key, "a key with an empty list of values")
            combos = [tuple(zip(keys, c, strict=True)) for c in itertools.product(*axes)]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            combos = [tuple((str(k), x) for k, x in v.items()) for v in value]
        else:
            raise self.fail(
                key, f"expected a mapping of key -> values or a list of mappings, got {value!r}"
            )
        for combo in combos:
            self.check_sets(combo, key)
        return tuple(combos)

    def check_sets(self, combo: Sets, key: str) -> None:
        from biasbench.config import RunConfig, apply_overrides

        from .expand import set_arguments

        try:
            apply_overrides(RunConfig(), set_arguments(combo))
        except ConfigError as e:
            raise self.fail(key, str(e)) from None

    def config(self, value: Any, key: str) -> str | dict[str, str] | None:
        from biasbench.config import resolve_config_path
        from biasbench.plugins import LEARNERS

        if value is None:
            return None
        if isinstance(value, dict):
            out = {}
            for learner, name in value.items():
                try:
                    resolve_config_path(str(name))
                    out[LEARNERS.canonical(str(learner))] = str(name)
                except BiasbenchError as e:
                    raise self.fail(f"{key}.{learner}", str(e)) from None
            return out
        try:
            resolve_config_path(str(value))
        except BiasbenchError as e:
            raise self.fail(key, str(e)) from None
        return str(value)

    def rules(self, value: Any, key: str) -> tuple[Rule, ...]:
        from biasbench.plugins import LEARNERS, METHODS, PROTOCOLS

        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of rules, got {value!r}")
        registries = {"method": METHODS, "learner": LEARNERS, "protocol": PROTOCOLS}
        rules = []
        for i, rule in enumerate(value):
            where = f"{key}[{i}]"
            if not isinstance(rule, dict) or not rule:
                raise self.fail(
                    where, f"expected a mapping such as {{method: plain, seed: 1}}, got {rule!r}"
                )
            match = []
            for k, v in rule.items():
                k = str(k)
                if k not in RULE_FIELDS and "." not in k:
                    raise self.fail(
                        f"{where}.{k}",
                        f"unknown rule key; use one of {', '.join(RULE_FIELDS)} or a --set key such as world.p_home",
                    )
                allowed = v if isinstance(v, list) else [v]
                if k in registries:
                    allowed = list(self.names(allowed, f"{where}.{k}", registries[k]))
                match.append((k, tuple(allowed)))
            rules.append(Rule(tuple(match)))
        return tuple(rules)

    def launcher(self, value: Any, key: str) -> Launcher:
        d = self.mapping(value, key, ("default", "local", "slurm"))
        default = d.get("default", "local")
        if default not in LAUNCHERS:
            raise self.fail(
                f"{key}.default", f"expected one of {', '.join(LAUNCHERS)}, got {default!r}"
            )
        local = self.settings(LocalLauncher, d.get("local"), f"{key}.local")
        slurm = self.settings(SlurmLauncher, d.get("slurm"), f"{key}.slurm")
        if local.jobs < 1 or (local.threads is not None and local.threads < 1):
            raise self.fail(f"{key}.local", "jobs and threads must be >= 1")
        if slurm.gpus_per_job < 0 or slurm.cpus_per_job < 1 or slurm.array_parallelism < 1:
            raise self.fail(
                f"{key}.slurm",
                "gpus_per_job >= 0, cpus_per_job >= 1 and array_parallelism >= 1 expected",
            )
        if slurm.cluster not in SUBMITIT_CLUSTERS:
            raise self.fail(
                f"{key}.slurm.cluster",
                f"expected one of {', '.join(SUBMITIT_CLUSTERS)}, got {slurm.cluster!r}",
            )
        try:
            slurm.timeout_min()
        except ValueError as e:
            raise self.fail(f"{key}.slurm.time", str(e)) from None
        return Launcher(default, local, slurm)

    def report(self, value: Any, key: str) -> ReportStep:
        if value is False:
            return ReportStep(enabled=False)
        step = self.settings(ReportStep, value, key)
        for pair in step.pairs:
            a, sep, b = str(pair).partition(",")
            if not sep or not a.strip() or not b.strip():
                raise self.fail(f"{key}.pairs", f"expected 'A,B', got {pair!r}")
        return step

    def settings(self, cls, value: Any, key: str):
        """A launcher/report dataclass from a mapping, types checked field by field."""
        import dataclasses
        import types
        import typing

        names = tuple(f.name for f in dataclasses.fields(cls))
        d = self.mapping(value, key, names)
        hints = typing.get_type_hints(cls)
        out = {}
        for k, v in d.items():
            hint = hints[k]
            union = typing.get_origin(hint) in (typing.Union, types.UnionType)
            kinds = set(typing.get_args(hint)) if union else {hint}
            if v is None and type(None) in kinds:
                out[k] = None
            elif typing.get_origin(hint) is tuple:
                out[k] = tuple(str(x) for x in (v if isinstance(v, list) else [v]))
            elif bool in kinds:
                if not isinstance(v, bool):
                    raise self.fail(f"{key}.{k}", f"expected true/false, got {v!r}")
                out[k] = v
            elif int in kinds:
                if isinstance(v, bool) or not isinstance(v, int):
                    raise self.fail(f"{key}.{k}", f"expected a whole number, got {v!r}")
                out[k] = v
            elif isinstance(v, (str, int)) and not isinstance(v, bool):
                out[k] = str(v)
            else:
                raise self.fail(f"{key}.{k}", f"expected text, got {v!r}")
        return cls(**out)
