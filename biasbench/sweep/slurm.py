"""The SLURM launcher: one submitit job array, one job per run.

Every job runs ``biasbench run`` for its run (a torchrun over ``gpus_per_job`` processes when
it has several GPUs) with the resources of the plan's ``launcher.slurm`` block. On
preemption or timeout submitit calls :meth:`RunJob.checkpoint`: it stops the run and returns
the same call, so the requeued job reruns it and the run resumes from its record (finished
evaluation sets and the last training checkpoint are kept). ``cluster: local`` runs the same
jobs through submitit's local executor (a workstation, the tests).

``submitit`` is an optional dependency: ``pip install 'biasbench[slurm]'``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from biasbench.errors import BiasbenchError, ConfigError

from .expand import RunSpec
from .local import Outcome, child_env, run_command
from .logs import SweepLog
from .plan import SlurmLauncher

STOP_GRACE_S = 20  # seconds a stopped run gets to exit before it is killed
POLL_S = 2.0
VANISHED_S = 120  # a job neither in the queue nor finished for this long has failed


class RunFailed(BiasbenchError):
    """A job's run exited non-zero; the message carries the log's last lines."""


class RunJob:
    """The callable each SLURM job runs: one ``biasbench run``, requeued when stopped."""

    def __init__(self, spec: RunSpec, log_root: str, gpus: int, threads: int):
        self.spec, self.log_root, self.gpus, self.threads = spec, log_root, gpus, threads
        self._proc: subprocess.Popen | None = None
        self._t0 = time.perf_counter()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_proc", "_t0")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _proc=None, _t0=time.perf_counter())

    def __call__(self) -> str:
        log = SweepLog(self.log_root)
        command = run_command(self.spec, self.gpus)
        attempt = log.start(self.spec.key, command, "slurm", _job_id(), self.threads)
        t0 = self._t0 = time.perf_counter()
        with open(log.log_path(self.spec.key), "ab") as out:
            self._proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=child_env(self.threads),
                start_new_session=True,  # its own group: stopped as one by checkpoint()
            )
            rc = self._proc.wait()
        log.finish(attempt, rc, time.perf_counter() - t0)
        if rc != 0:
            tail = "\n".join(log.tail(self.spec.key, 10))
            raise RunFailed(f"{self.spec.label()} exited {rc}:\n{tail}")
        return self.spec.key

    def checkpoint(self, *args: Any, **kwargs: Any):
        """Stop the run (its record keeps what is finished) and requeue the same call."""
        import submitit

        self._stop()
        log = SweepLog(self.log_root)
        attempt = log.read(self.spec.key)
        if attempt is not None and attempt.status == "started":
            log.finish(attempt, None, time.perf_counter() - self._t0, status="requeued")
        return submitit.helpers.DelayedSubmission(
            RunJob(self.spec, self.log_root, self.gpus, self.threads)
        )

    def _stop(self) -> None:
        """SIGTERM the run's process group, SIGKILL after a grace period.

        This runs inside submitit's signal handler, which interrupted ``Popen.wait`` in
        :meth:`__call__` while it holds the ``Popen`` lock; so the child is reaped here with
        ``os.waitpid`` directly, never through ``Popen`` methods (they would spin on it).
        """
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                try:
                    if os.waitpid(proc.pid, os.WNOHANG)[0]:
                        return
                except ChildProcessError:  # already reaped
                    return
                time.sleep(0.2)


def _job_id() -> str | None:
    """The SLURM (or submitit-local) job id of this process, if it is a job."""
    for name in ("SLURM_ARRAY_JOB_ID", "SLURM_JOB_ID", "SUBMITIT_LOCAL_JOB_ID"):
        if os.environ.get(name):
            if name == "SLURM_ARRAY_JOB_ID":
                return f"{os.environ[name]}_{os.environ.get('SLURM_ARRAY_TASK_ID', '0')}"
            return os.environ[name]
    return None


def job_state(job_id: str) -> str | None:
    """The job's state in ``squeue`` (PENDING, RUNNING, ...), None when it is not queued."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    states = out.stdout.split() if out.returncode == 0 else []
    return states[0] if states else None


def executor(settings: SlurmLauncher, folder: Path, name: str):
    """A submitit executor with the plan's per-job resources."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(
            "the slurm launcher needs submitit: pip install 'biasbench[slurm]' (or submitit)"
        ) from None
    ex = submitit.AutoExecutor(
        folder=folder, cluster=settings.cluster, slurm_max_num_timeout=settings.max_requeues
    )
    params: dict[str, Any] = {
        "name": name,
        "timeout_min": settings.timeout_min(),
        "nodes": 1,
        "tasks_per_node": 1,
        "cpus_per_task": settings.cpus_per_job,
        "slurm_array_parallelism": settings.array_parallelism,
    }
    if settings.gpus_per_job:
        params["gpus_per_node"] = settings.gpus_per_job
    if settings.mem_gb is not None:
        params["mem_gb"] = settings.mem_gb
    for key in ("partition", "account", "qos", "constraint"):
        value = getattr(settings, key)
        if value:
            params[f"slurm_{key}"] = value
    if settings.cluster != "slurm":
        params = {k: v for k, v in params.items() if not k.startswith("slurm_")}
    ex.update_parameters(**params)
    return ex


def submit(
    specs: list[RunSpec], log: SweepLog, settings: SlurmLauncher, name: str
) -> list[tuple[RunSpec, Any]]:
    """Submit one job array (one job per run); each submission is noted in the sweep log."""
    threads = max(1, settings.cpus_per_job // max(1, settings.gpus_per_job))
    ex = executor(settings, log.root / "submitit", name)
    calls = [RunJob(s, str(log.root), settings.gpus_per_job, threads) for s in specs]
    with ex.batch():
        jobs = [ex.submit(c) for c in calls]
    for spec, job in zip(specs, jobs, strict=True):
        log.submitted(spec.key, run_command(spec, settings.gpus_per_job), str(job.job_id))
    return list(zip(specs, jobs, strict=True))


def wait(
    submitted: list[tuple[RunSpec, Any]],
    cluster: str,
    say: Callable[[str], None] = print,
    poll_s: float = POLL_S,
) -> list[Outcome]:
    """Wait for every job; a job that leaves the queue without a result counts as failed."""
    pending = dict(enumerate(submitted))
    gone_since: dict[int, float] = {}
    outcomes: list[Outcome] = []
    t0 = time.perf_counter()
    while pending:
        for i, (spec, job) in list(pending.items()):
            rc = _finished(job, cluster)
            if rc is None and cluster == "slurm" and job_state(str(job.job_id)) is None:
                if time.perf_counter() - gone_since.setdefault(i, time.perf_counter()) > VANISHED_S:
                    rc = 1
            elif rc is None:
                gone_since.pop(i, None)
            if rc is None:
                continue
            del pending[i]
            outcomes.append(Outcome(spec, rc, time.perf_counter() - t0))
            verdict = "done" if rc == 0 else "FAILED"
            say(f"[{len(outcomes)}/{len(submitted)}] {verdict} (job {job.job_id}): {spec.label()}")
        if pending:
            time.sleep(poll_s)
    return outcomes


def _finished(job, cluster: str) -> int | None:
    """0 when the job returned, 1 when it raised, None while it is not done.

    On SLURM a job is done when its result file exists (submitit's own check would also
    call ``sacct``, which clusters without accounting refuse); :func:`wait` catches jobs
    that leave the queue without one.
    """
    done = job.paths.result_pickle.exists() if cluster == "slurm" else job.done()
    if not done:
        return None
    try:
        return 0 if job.exception() is None else 1
    except Exception:  # the job's own error or a missing result file
        return 1
