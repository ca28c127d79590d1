"""The local launcher: N concurrent ``biasbench run`` processes on this machine.

Each child gets ``threads`` CPU threads (``OMP_NUM_THREADS`` and friends, which torch reads at
start), so N runs share the cores instead of oversubscribing them. A failed run is recorded
in the sweep log and the others go on; the caller reports failures at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from .expand import RunSpec
from .logs import SweepLog

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Outcome:
    """How one launched run ended."""

    spec: RunSpec
    rc: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rc == 0


def run_command(spec: RunSpec, gpus: int = 0) -> list[str]:
    """The process that runs ``spec``: ``biasbench run``, under torchrun with several GPUs."""
    if gpus > 1:
        launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}"]
        return [sys.executable, *launcher, "-m", "biasbench.cli", *spec.argv()]
    return [sys.executable, "-m", "biasbench.cli", *spec.argv()]


def threads_per_job(jobs: int, threads: int | None = None) -> int:
    """``threads`` if given, else this machine's cores split evenly over ``jobs``."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, jobs))


def child_env(threads: int) -> dict[str, str]:
    """This process's environment with the thread counts of one child set."""
    return {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}


def run_one(spec: RunSpec, log: SweepLog, threads: int, command: list[str]) -> Outcome:
    """Run ``command`` for ``spec`` to its end, its output appended to the run's log."""
    attempt = log.start(spec.key, command, "local", threads=threads)
    t0 = time.perf_counter()
    with open(log.log_path(spec.key), "ab") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(threads),
        )
        _RUNNING.add(proc)
        try:
            rc = proc.wait()
        finally:
            _RUNNING.discard(proc)
    seconds = time.perf_counter() - t0
    log.finish(attempt, rc, seconds)
    return Outcome(spec, rc, seconds)


class _Running:
    """Child processes alive now, so an interrupted sweep can stop them."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def add(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(p)

    def discard(self, p: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(p)

    def terminate(self) -> None:
        with self._lock:
            for p in self._procs:
                p.terminate()


_RUNNING = _Running()


def launch_local(
    specs: list[RunSpec],
    log: SweepLog,
    jobs: int,
    threads: int | None = None,
    say: Callable[[str], None] = print,
) -> list[Outcome]:
    """Run ``specs`` with ``jobs`` at a time; returns every outcome (failures included)."""
    n = threads_per_job(jobs, threads)
    say(f"local launcher: {len(specs)} run(s), {jobs} at a time, {n} thread(s) each")
    outcomes = []
    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(run_one, s, log, n, run_command(s)): s for s in specs}
        for i, future in enumerate(as_completed(futures), 1):
            o = future.result()
            outcomes.append(o)
            verdict = "done" if o.ok else f"FAILED (exit {o.rc})"
            say(f"[{i}/{len(specs)}] {verdict} in {o.seconds:.0f} s: {o.spec.label()}")
    except KeyboardInterrupt:
        _RUNNING.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return outcomes
