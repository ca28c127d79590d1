"""The sweep log: per-run output and the last attempt of every run, under
``<out>/.sweep/<plan name>/``::

    logs/<run key>.log        stdout and stderr of every attempt, appended, one header each
    attempts/<run key>.json   the last attempt: command, launcher, host, pid or job id,
                              started / ended, exit code, status (started, submitted,
                              requeued, finished)
    report.log                output of the report step
    submitit/                 submitit's own job files (SLURM launcher)

Run records stay the truth about results (``COMPLETE``, the ``.lock``); the sweep log only
says what the sweep tried, so ``sweep status`` can show a failure's last lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True)
class Attempt:
    """One try at a run, as the sweep recorded it."""

    key: str
    command: tuple[str, ...]
    launcher: str
    status: str  # submitted | started | requeued | finished
    started: str
    host: str = ""
    pid: int | None = None
    job_id: str | None = None
    ended: str | None = None
    rc: int | None = None
    seconds: float | None = None
    threads: int | None = None  # CPU threads the run was given

    @property
    def failed(self) -> bool:
        return self.status == "finished" and self.rc not in (None, 0)

    def describe(self) -> str:
        """``exit 2 at T on HOST`` / ``started T on HOST (pid N)`` / ``submitted as job J``."""
        where = f" on {self.host}" if self.host else ""
        job = (
            f" (SLURM job {self.job_id})"
            if self.job_id
            else f" (pid {self.pid})"
            if self.pid
            else ""
        )
        if self.status == "finished":
            return f"exit {self.rc} at {self.ended}{where}{job}"
        if self.status == "submitted":
            return f"submitted {self.started} as job {self.job_id}"
        if self.status == "requeued":
            return f"requeued at {self.ended}{where}{job}"
        return f"started {self.started}{where}{job}"


class SweepLog:
    """The log folder of one plan's sweep."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    @classmethod
    def of(cls, out: Path | str, plan_name: str) -> SweepLog:
        return cls(Path(out) / ".sweep" / plan_name)

    def log_path(self, key: str) -> Path:
        return self.root / "logs" / f"{key}.log"

    def attempt_path(self, key: str) -> Path:
        return self.root / "attempts" / f"{key}.json"

    def read(self, key: str) -> Attempt | None:
        """The last attempt of run ``key`` (None when never tried or unreadable)."""
        try:
            d = json.loads(self.attempt_path(key).read_text(encoding="utf-8"))
            return Attempt(**{**d, "command": tuple(d["command"])})
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def write(self, attempt: Attempt) -> Attempt:
        _atomic_json(self.attempt_path(attempt.key), asdict(attempt))
        return attempt

    def submitted(self, key: str, command: list[str], job_id: str) -> Attempt:
        return self.write(Attempt(key, tuple(command), "slurm", "submitted", now(), job_id=job_id))

    def start(
        self,
        key: str,
        command: list[str],
        launcher: str,
        job_id: str | None = None,
        threads: int | None = None,
    ) -> Attempt:
        """Record a starting attempt and write its header into the run's log."""
        attempt = Attempt(
            key,
            tuple(command),
            launcher,
            "started",
            now(),
            socket.gethostname(),
            os.getpid(),
            job_id,
            threads=threads,
        )
        path = self.log_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        job = f", SLURM job {job_id}" if job_id else ""
        with open(path, "a", encoding="utf-8") as f:
            f.write(
                f"=== {attempt.started} on {attempt.host} ({launcher}{job}): {shlex.join(command)}\n"
            )
        return self.write(attempt)

    def finish(
        self, attempt: Attempt, rc: int | None, seconds: float, status: str = "finished"
    ) -> Attempt:
        """Record how an attempt ended (``requeued``: stopped to be continued by a requeue)."""
        return self.write(
            replace(attempt, status=status, rc=rc, ended=now(), seconds=round(seconds, 1))
        )

    def tail(self, key: str, lines: int = 10) -> list[str]:
        """The last ``lines`` non-empty lines of run ``key``'s log (progress bars folded)."""
        try:
            with open(self.log_path(key), encoding="utf-8", errors="replace") as f:
                last: deque[str] = deque(maxlen=lines)
                for line in f:
                    text = line.rstrip("\n").rsplit("\r", 1)[-1].rstrip()
                    if text:
                        last.append(text)
                return list(last)
        except OSError:
            return []


def _atomic_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
