"""A sweep from start to end: plan -> runs -> state -> launch what is left -> summary -> report.

Complete runs are skipped, partial ones resume (``biasbench run`` continues a record), runs
another process is writing are left to it, and runs that cannot resolve are recorded as
failed without starting a process. Once every run of the plan is done, ``biasbench report``
runs on the plan's output folder.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biasbench.errors import BiasbenchError

from .expand import RunSpec, expand
from .local import launch_local, run_command
from .logs import SweepLog
from .plan import Plan, load_plan
from .state import DONE, FAILED, INVALID, PENDING, RUNNING, STATES, RunStatus, statuses

Say = Callable[[str], None]
FAILURE_LINES = 10


@dataclass(frozen=True)
class Sweep:
    """A loaded plan, its runs, and where its log lives."""

    plan: Plan
    runs: list[RunSpec]
    out: Path
    log: SweepLog
    report_dir: Path

    @classmethod
    def open(cls, plan: str, out: str | None = None, data_root: str | None = None) -> Sweep:
        """Load ``plan``; ``out`` moves its runs (and its report, to ``<out>/report``)."""
        p = load_plan(plan)
        runs = expand(p, out, data_root)
        out_dir = Path(out or p.out).expanduser().resolve()
        report = p.report.out if p.report.out and not out else out_dir / "report"
        report_dir = Path(report).expanduser().resolve()
        return cls(p, runs, out_dir, SweepLog.of(out_dir, p.name), report_dir)

    def statuses(self) -> list[RunStatus]:
        from .slurm import job_state

        return statuses(self.runs, self.log, job_state=job_state)


@dataclass(frozen=True)
class SweepOptions:
    """What ``biasbench sweep`` was asked for beyond the plan."""

    launcher: str | None = None
    jobs: int | None = None
    dry_run: bool = False
    report: bool = True
    wait: bool = True


# -- commands --------------------------------------------------------------------------------


def dry_run(sweep: Sweep, say: Say = print) -> int:
    """Print every run, its state, record folder and command; 1 if a run cannot resolve."""
    found = sweep.statuses()
    say(headline(sweep, found))
    for st in found:
        say(f"  {st.state:<8} {st.spec.label()}")
        say(f"           record: {_where(st, sweep.out)}")
        say(f"           biasbench {shlex.join(st.spec.argv())}")
        if st.state == INVALID:
            say(_indent(st.note, 11))
    return 1 if any(st.state == INVALID for st in found) else 0


def show_status(sweep: Sweep, lines: int = FAILURE_LINES, say: Say = print) -> int:
    """Done, running, failed and pending runs; each failure with its log's last lines."""
    found = sweep.statuses()
    say(headline(sweep, found))
    for st in found:
        note = f"  ({st.note.splitlines()[0]})" if st.note else ""
        say(f"  {st.state:<8} {st.spec.label()}{note}")
    _say_failures(sweep, found, lines, say)
    return 1 if any(st.state in (FAILED, INVALID) for st in found) else 0


def run_sweep(sweep: Sweep, options: SweepOptions, say: Say = print) -> int:
    """Launch every run not done (or running elsewhere); report when all are done."""
    if options.dry_run:
        return dry_run(sweep, say)
    launcher = options.launcher or sweep.plan.launcher.default
    t0 = time.perf_counter()
    if launcher == "local":
        _build_worlds(sweep, say)
    before = sweep.statuses()
    say(headline(sweep, before))
    todo = _to_launch(sweep, before, say)
    if todo and launcher == "local":
        local = sweep.plan.launcher.local
        launch_local(todo, sweep.log, options.jobs or local.jobs, local.threads, say)
    elif todo:
        from .slurm import submit, wait

        settings = sweep.plan.launcher.slurm
        submitted = submit(todo, sweep.log, settings, f"biasbench-{sweep.plan.name}")
        say(f"submitted {len(submitted)} job(s): {', '.join(str(j.job_id) for _, j in submitted)}")
        if not options.wait:
            root = sweep.runs[0].data_root if sweep.runs else None
            extra = f" --out {sweep.out}" + (f" --data-root {root}" if root else "")
            say(f"check progress with: biasbench sweep status {sweep.plan.path}{extra}")
            return 0
        wait(submitted, settings.cluster, say)
    after = sweep.statuses()
    code = _summary(sweep, before, after, time.perf_counter() - t0, say)
    if code == 0 and options.report and sweep.plan.report.enabled:
        code = call_report(sweep, say)
    return code


# -- steps -----------------------------------------------------------------------------------


def _build_worlds(sweep: Sweep, say: Say) -> None:
    """Build each embedded world the runs need once, here, before N processes want it."""
    from biasbench.datactx import world_config
    from biasbench.world.build import build_world

    from .state import unbuilt_world

    seen = set()
    for spec in sweep.runs:
        try:
            cfg = spec.run_config()
            wid = unbuilt_world(cfg)
        except BiasbenchError:  # an invalid run: reported with its state, not here
            continue
        if wid is None or wid in seen:
            continue
        seen.add(wid)
        say(f"building embedded world {wid} (once; cached for every run)")
        build_world(world_config(cfg.world), progress=True)


def _to_launch(sweep: Sweep, found: list[RunStatus], say: Say) -> list[RunSpec]:
    """Runs to start: pending or failed, one per record folder; invalid ones are recorded
    as failed attempts (exit 2) without starting a process."""
    todo, owners = [], {}
    for st in found:
        if st.state == INVALID:
            _record_invalid(sweep.log, st)
            continue
        if st.state not in (PENDING, FAILED) or st.queued_job is not None:
            continue
        if st.path is not None and st.path in owners:
            say(f"  same record as {owners[st.path]}; run once: {st.spec.label()}")
            continue
        if st.path is not None:
            owners[st.path] = st.spec.key
        todo.append(st.spec)
    return todo


def _record_invalid(log: SweepLog, st: RunStatus) -> None:
    command = run_command(st.spec)
    attempt = log.start(st.spec.key, command, "sweep")
    with open(log.log_path(st.spec.key), "a", encoding="utf-8") as f:
        f.write(f"error: {st.note}\n(not started: the run does not resolve)\n")
    log.finish(attempt, 2, 0.0)


def _summary(
    sweep: Sweep, before: list[RunStatus], after: list[RunStatus], seconds: float, say: Say
) -> int:
    was_done = sum(st.state == DONE for st in before)
    counts = Counter(st.state for st in after)
    ran = counts[DONE] - was_done
    say(
        f"sweep {sweep.plan.name}: {len(after)} run(s) in {seconds:.0f} s — {was_done} done "
        f"before, {ran} finished now, {counts[FAILED] + counts[INVALID]} failed, "
        f"{counts[RUNNING]} running elsewhere, {counts[PENDING]} pending"
    )
    _say_failures(sweep, after, FAILURE_LINES, say)
    return 0 if counts[DONE] == len(after) else 1


def call_report(sweep: Sweep, say: Say = print) -> int:
    """``biasbench report`` on the plan's runs (a separate process: reports are a plugin)."""
    step, out = sweep.plan.report, sweep.report_dir
    command = [
        sys.executable,
        "-m",
        "biasbench.cli",
        "report",
        "--runs",
        str(sweep.out),
        "--out",
        str(out),
    ]
    for pair in step.pairs:
        command += ["--pair", pair]
    command += [] if step.tsne else ["--no-tsne"]
    command += [] if step.html else ["--no-html"]
    say(f"every run done; report: {shlex.join(command[3:])}")
    sweep.log.root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, capture_output=True, text=True)
    (sweep.log.root / "report.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    for line in (result.stdout + result.stderr).splitlines():
        say(f"  {line}")
    if result.returncode != 0:
        say(f"the report failed (exit {result.returncode}); see {sweep.log.root / 'report.log'}")
        return result.returncode
    wanted = [out / "tables" / f"{t}.md" for t in step.tables]
    wanted += [out / "figures" / f"{f}.png" for f in step.figures]
    for path in wanted:
        say(f"  {path.stem}: {path if path.is_file() else 'not written (no run fills it)'}")
    return 0


# -- output ----------------------------------------------------------------------------------


def headline(sweep: Sweep, found: list[RunStatus]) -> str:
    counts = Counter(st.state for st in found)
    parts = ", ".join(f"{counts[s]} {s}" for s in STATES if counts[s])
    return f"plan {sweep.plan.name} ({sweep.plan.path}): {len(found)} run(s) under {sweep.out} — {parts}"


def _say_failures(sweep: Sweep, found: list[RunStatus], lines: int, say: Say) -> None:
    failed = [st for st in found if st.state in (FAILED, INVALID)]
    if not failed:
        return
    say(f"failed runs (last {lines} lines of each log):")
    for st in failed:
        say(f"  {st.spec.label()}: {st.note.splitlines()[0] if st.note else st.state}")
        say(f"    log: {sweep.log.log_path(st.spec.key)}")
        for line in sweep.log.tail(st.spec.key, lines) or st.note.splitlines():
            say(f"    | {line}")


def _where(st: RunStatus, out: Path) -> str:
    if st.path is None:
        return f"(unknown: {st.note})" if st.state != INVALID else "(does not resolve)"
    try:
        return os.path.relpath(st.path, out.parent) if st.path.is_relative_to(out) else str(st.path)
    except ValueError:
        return str(st.path)


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
