"""The state of each run of a sweep, read from its record folder and the sweep log.

The folder comes from resolution (:func:`biasbench.resolve.resolve`), which checks settings,
reads annotation files and hashes the weights but runs nothing. Then:

- ``done``: the record has its ``COMPLETE`` marker;
- ``running``: another process holds the record's ``.lock`` (probed with a non-blocking
  shared ``flock``, released at once);
- ``failed``: the sweep log says the last attempt exited non-zero;
- ``pending``: anything else, a partial record (which resumes) or a queued SLURM job included;
- ``invalid``: the run cannot resolve (a missing dataset, a refused setting); never tried.

An embedded-world run whose world is not built yet stays ``pending`` without a folder:
its run id hashes the world's files, and a dry run never builds anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biasbench.errors import BiasbenchError

from .expand import RunSpec
from .logs import Attempt, SweepLog

DONE, RUNNING, FAILED, PENDING, INVALID = "done", "running", "failed", "pending", "invalid"
STATES = (DONE, RUNNING, FAILED, PENDING, INVALID)


@dataclass(frozen=True)
class RunStatus:
    """One run's state, its record folder (None when unknown) and a short note."""

    spec: RunSpec
    state: str
    path: Path | None
    note: str = ""
    attempt: Attempt | None = None
    queued_job: str | None = None  # a SLURM job of this run still in the queue


def locate(spec: RunSpec) -> Path | None:
    """The run's record folder; None while its embedded world is not built.

    Raises :class:`~biasbench.errors.BiasbenchError` when the run cannot resolve.
    """
    from biasbench.resolve import resolve

    cfg = spec.run_config()
    if unbuilt_world(cfg) is not None:
        return None
    return resolve(cfg, progress=False).path


def unbuilt_world(cfg) -> str | None:
    """The id of the embedded world ``cfg`` needs when it is not built yet, else None."""
    from biasbench.datactx import world_config
    from biasbench.plugins import PROTOCOLS

    if not any(n.name == "world" for n in PROTOCOLS.get(cfg.protocol).needs):
        return None
    from biasbench.world.build import default_cache_dir, is_complete
    from biasbench.world.config import world_id

    wid = world_id(world_config(cfg.world))
    return None if is_complete(default_cache_dir() / f"world-{wid}") else wid


def lock_held(folder: Path) -> bool:
    """Whether a live process holds the run's ``.lock`` (the kernel drops a dead one's)."""
    import fcntl

    from biasbench.runrecord import LOCK

    try:
        fd = os.open(Path(folder) / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def run_status(
    spec: RunSpec,
    log: SweepLog,
    find: Callable[[RunSpec], Path | None] = locate,
    job_state: Callable[[str], str | None] | None = None,
) -> RunStatus:
    """The state of one run (see the module docstring). ``job_state(job_id)`` says whether a
    submitted SLURM job is still queued or running (None: unknown to the scheduler)."""
    from biasbench.runrecord import MARKER, RunLock

    attempt = log.read(spec.key)
    try:
        path = find(spec)
    except BiasbenchError as e:
        if attempt is not None and attempt.failed:
            return RunStatus(spec, FAILED, None, attempt.describe(), attempt)
        return RunStatus(spec, INVALID, None, str(e), attempt)
    if path is None:
        wid = unbuilt_world(spec.run_config())
        return RunStatus(spec, PENDING, None, f"embedded world {wid} not built yet", attempt)
    if (path / MARKER).is_file():
        return RunStatus(spec, DONE, path, "", attempt)
    if lock_held(path):
        note = "; ".join(filter(None, [RunLock(path).holder(), progress(path)]))
        return RunStatus(spec, RUNNING, path, note, attempt)
    if attempt is not None and attempt.failed:
        return RunStatus(spec, FAILED, path, attempt.describe(), attempt)
    queued = _queued(attempt, job_state)
    if queued:
        note = f"SLURM job {attempt.job_id}: {queued}"
        return RunStatus(spec, PENDING, path, note, attempt, attempt.job_id)
    note = ""
    if (path / "config.json").is_file():
        so_far = progress(path)
        note = f"partial record{f' ({so_far})' if so_far else ''}: resumes where it stopped"
    return RunStatus(spec, PENDING, path, note, attempt)


def progress(folder: Path) -> str:
    """How far a run's record has got, e.g. ``training epoch 7/12 (update 905/1680)`` or
    ``2 set(s) scored``; empty when the record says nothing yet. Read from the training log
    (``train/<episode>/steps.csv`` and ``resolved_settings.json``) and the saved sets."""
    import csv
    import json

    from biasbench.runrecord import stored_set_keys
    from biasbench.training.logs import STEPS
    from biasbench.training.loop import RESOLVED

    parts = []
    for episode in sorted(Path(folder).glob("train/*/")):
        try:
            settings = json.loads((episode / RESOLVED).read_text())
            with open(episode / STEPS, newline="") as f:
                last = list(csv.DictReader(f))[-1]
            epochs, total = settings["settings"]["epochs"], settings["total_updates"]
            done = int(last["step"]) + 1
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            continue
        if done < total:
            parts.append(f"training epoch {last['epoch']}/{epochs} (update {done}/{total})")
    scored = len(stored_set_keys(folder))
    if scored:
        parts.append(f"{scored} set(s) scored")
    return ", ".join(parts)


def _queued(attempt: Attempt | None, job_state) -> str | None:
    """The queue state (PENDING, ...) of the run's unfinished SLURM job, else None."""
    if attempt is None or attempt.job_id is None or attempt.status == "finished":
        return None
    return job_state(attempt.job_id) if job_state is not None else None


def statuses(
    specs: list[RunSpec], log: SweepLog, job_state: Callable[[str], str | None] | None = None
) -> list[RunStatus]:
    """Every run's state, in plan order."""
    return [run_status(s, log, job_state=job_state) for s in specs]
