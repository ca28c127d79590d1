"""Run records: one folder per run, one writer at a time, complete only with its marker.

Layout of ``<out>/<protocol>/<method>__<learner>/seed<N>-<run id>/`` (schema version 2)::

    config.json        schema_version, run_id, variant_id, identity (what the run id hashes:
                       everything that changes a result), not_in_identity (settings that do
                       not), the run settings, protocol/method settings, every set's source,
                       and the protocol's report declaration
    provenance.json    package version, git commit, seed, library versions, device, host;
                       ``resumed`` lists every later process that continued the run
    train/             training log and checkpoints (methods that train)
    predictions/<episode>/<set>/   predictions.npz (ids, labels, scores [N, K], class names,
                       embeddings), predictions.csv (people), set.json (summary, counts)
    sets.json          per-set summaries with denominators, and unreadable inputs
    metrics.json       the protocol's metrics and its report declaration
    COMPLETE           written last; reports ignore folders without it
    .lock              held (flock) by the one process writing the run

Every file is written to a temporary name and renamed into place; a set's folder is built
under a temporary name and renamed in one step, so a set is either entirely there or not at
all. A killed run leaves readable partial results; rerunning with the same identity resumes.
:func:`read_record` is the one reader of this layout (both schema versions).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import io
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from biasbench import __version__
from biasbench.errors import BiasbenchError, RunEnvironmentError
from biasbench.results import Metric, SetResult

SCHEMA_VERSION = 2
MARKER = "COMPLETE"
LOCK = ".lock"
LIBRARIES = ("torch", "torchvision", "open_clip_torch", "decord", "numpy", "av", "scipy")


class RunLockedError(BiasbenchError):
    """Another live process is writing this run folder."""


class RecordError(BiasbenchError, ValueError):
    """A run record whose files cannot be parsed; the message names the file."""


# -- atomic writes ---------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + rename (never a half-written file).

    A failed write (full disk, read-only folder) removes its temporary file and raises
    :class:`RunEnvironmentError` naming ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _environment_error(path, e) from None


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json_bytes(obj))


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, sort_keys=True, default=str).encode()


def _environment_error(path: Path, e: OSError) -> RunEnvironmentError:
    why = {
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EDQUOT: "disk quota exceeded",
    }.get(e.errno or 0, e.strerror or str(e))
    return RunEnvironmentError(f"cannot write {path}: {why}")


# -- provenance ------------------------------------------------------------------------------


def git_commit(cwd: Path | None = None) -> str | None:
    """The commit of the biasbench checkout (``+dirty`` if modified), or None if not a repo."""
    here = cwd or Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(seed: int, device: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to say where a number came from."""
    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libs[name] = None
    dev = device
    try:
        import torch

        if device.startswith("cuda") and torch.cuda.is_available():
            dev = f"{device} ({torch.cuda.get_device_name()})"
        else:
            dev = f"{device} ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"
    except ImportError:
        pass
    return {
        "biasbench_version": __version__,
        "git_commit": git_commit(),
        "seed": seed,
        "device": dev,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": libs,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv,
        **(extra or {}),
    }


# -- one writer per run ----------------------------------------------------------------------


def _is_main_rank() -> bool:
    """Rank 0 (or not distributed): the process that owns the run folder's lock."""
    return int(os.environ.get("RANK", "0")) == 0


class RunLock:
    """An exclusive ``flock`` on ``<run>/.lock``, held while one process writes the run.

    The kernel drops the lock when its process dies (``kill -9`` included), so a lock left by
    a killed run is stale by construction and the next process simply takes it; the file
    keeps the last holder's pid, host and start time for the message a second writer gets.
    """

    def __init__(self, folder: Path):
        self.path = Path(folder) / LOCK
        self._fd: int | None = None

    def acquire(self, wait: bool = False, poll_s: float = 1.0) -> None:
        import fcntl

        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    holder = self.holder()
                    os.close(fd)
                    raise RunLockedError(
                        f"run {self.path.parent} is being written by another process "
                        f"({holder}); wait for it, or pass --wait to queue behind it"
                    ) from None
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.write(
            fd,
            json_bytes(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                }
            ),
        )
        self._fd = fd

    def holder(self) -> str:
        """``pid N on HOST since T`` of the current holder, as far as the file says."""
        try:
            d = json.loads(self.path.read_text() or "{}")
            return f"pid {d['pid']} on {d['host']} since {d['since']}"
        except (OSError, ValueError, KeyError):
            return "holder unknown"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None


# -- the writer ------------------------------------------------------------------------------


@dataclass
class RunRecord:
    """A run folder being written. Create with :meth:`open`; finish with :meth:`complete`."""

    path: Path
    lock: RunLock | None = None

    @classmethod
    def open(
        cls,
        path: Path,
        config: dict[str, Any],
        prov: dict[str, Any],
        *,
        wait: bool = False,
    ) -> RunRecord:
        """Create (or reopen, to resume) a run folder, take its lock, write config/provenance.

        ``config["run_id"]`` is the run's identity: a folder holding another run id is
        refused. Resuming keeps the first ``config.json`` (only settings outside the identity
        may differ, e.g. ``--out``'s spelling or the number of workers) and appends the new
        process to ``provenance.json``'s ``resumed`` list.
        """
        path = Path(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise _environment_error(path, e) from None
        rec = cls(path)
        if _is_main_rank():
            rec.lock = RunLock(path)
            try:
                rec.lock.acquire(wait=wait)
            except OSError as e:
                raise _environment_error(rec.lock.path, e) from None
        cfg_path = path / "config.json"
        if cfg_path.is_file():
            old = _read_json(cfg_path)
            if old.get("run_id") != config.get("run_id"):
                rec.close()
                raise RecordError(
                    f"{path} holds run {old.get('run_id')!r}, not {config.get('run_id')!r}; "
                    "not resuming into it (move it away or choose another --out)"
                )
            if _is_main_rank() and not rec.is_complete:
                rec._note_resume(prov)
            return rec
        if _is_main_rank():
            atomic_write_json(cfg_path, config)
            atomic_write_json(path / "provenance.json", prov)
        return rec

    def _note_resume(self, prov: dict[str, Any]) -> None:
        p = self.path / "provenance.json"
        old = _read_json(p) if p.is_file() else {}
        keys = ("started", "host", "pid", "device", "git_commit", "argv")
        old.setdefault("resumed", []).append({k: prov.get(k) for k in keys})
        atomic_write_json(p, old)

    def close(self) -> None:
        """Release the writer's lock (also released by the process exiting)."""
        if self.lock is not None:
            self.lock.release()

    @property
    def is_complete(self) -> bool:
        return (self.path / MARKER).is_file()

    def set_dir(self, episode: str, key: str) -> Path:
        return self.path / "predictions" / episode / key

    def save_set(
        self, episode: str, result: SetResult, extra: dict[str, Any] | None = None
    ) -> None:
        """Write one set's predictions, csv and summary, all at once (one directory rename).

        Only rank 0 writes under torchrun (every rank scores the same sets).
        """
        if not _is_main_rank():
            return
        final = self.set_dir(episode, result.key)
        tmp = final.with_name(f".{final.name}.partial{os.getpid()}")
        try:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            (tmp / "predictions.npz").write_bytes(_predictions_npz(result))
            (tmp / "predictions.csv").write_bytes(_predictions_csv(result))
            summary = {**result.summary(), "unreadable": result.unreadable, **(extra or {})}
            (tmp / "set.json").write_bytes(json_bytes(summary))
            _fsync_dir_files(tmp)
            if final.exists():  # an earlier writer's copy of the same set: replace it
                shutil.rmtree(final)
            os.rename(tmp, final)
        except OSError as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _environment_error(final, e) from None

    def load_set(self, episode: str, key: str) -> SetResult | None:
        """A previously saved set (for resuming), or None."""
        p = self.set_dir(episode, key) / "predictions.npz"
        return load_set_file(p, key) if p.is_file() else None

    def complete(
        self,
        metrics: list[Metric],
        sets: dict[str, Any],
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Write metrics and per-set summaries, then the marker that makes the run count."""
        if not _is_main_rank():
            return
        atomic_write_json(self.path / "sets.json", sets)
        atomic_write_json(
            self.path / "metrics.json",
            {
                "schema_version": SCHEMA_VERSION,
                "metrics": [m.to_dict() for m in metrics],
                **(extra or {}),
            },
        )
        atomic_write_bytes(self.path / MARKER, time.strftime("%Y-%m-%dT%H:%M:%S%z").encode())


def _fsync_dir_files(folder: Path) -> None:
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())


def _predictions_npz(result: SetResult) -> bytes:
    arrays: dict[str, Any] = {
        "ids": np.asarray(result.ids, dtype=object).astype(str),
        "labels": result.labels.astype(np.int64),
        "scores": result.scores.astype(np.float32),
        "class_names": np.asarray(result.class_names, dtype=str),
        "unreadable": np.asarray(json.dumps(result.unreadable)),
    }
    if result.embeddings is not None:
        arrays["embeddings"] = result.embeddings.astype(np.float32)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_set_file(path: Path, key: str | None = None) -> SetResult:
    """A set's ``.npz`` (schema 1: ``<set>.npz``; schema 2: ``<set>/predictions.npz``)."""
    path = Path(path)
    name = path.parent.name if path.name == "predictions.npz" else path.stem
    with np.load(path, allow_pickle=False) as z:
        return SetResult(
            key=key or name,
            ids=z["ids"].tolist(),
            labels=z["labels"],
            scores=z["scores"],
            class_names=z["class_names"].tolist(),
            unreadable=json.loads(str(z["unreadable"])),
            embeddings=z["embeddings"] if "embeddings" in z.files else None,
        )


def _predictions_csv(result: SetResult) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["video_id", "label", "label_name", "pred", "pred_name", "top5", "correct"])
    order = np.argsort(-result.scores, axis=1, kind="stable")[:, :5] if result.n else []
    names = result.class_names
    for vid, lab, top in zip(result.ids, result.labels.tolist(), order, strict=True):
        w.writerow(
            [
                csv_safe(vid),
                lab,
                csv_safe(names[lab]),
                int(top[0]),
                csv_safe(names[top[0]]),
                " ".join(map(str, top)),
                int(top[0] == lab),
            ]
        )
    return out.getvalue().encode()


#: first characters that make a spreadsheet read a CSV cell as a formula (OWASP CSV injection)
CSV_TRIGGERS = frozenset("=+-@\t\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_safe(value: Any) -> Any:
    """A CSV cell that no spreadsheet runs as a formula: a string starting with ``=``, ``+``,
    ``-``, ``@``, tab or carriage return gets a leading ``'`` (OWASP); numbers, and strings
    that are plain signed numbers (a gain ``-3.2``), stay as they are."""
    if not isinstance(value, str) or value[:1] not in CSV_TRIGGERS:
        return value
    return value if _NUMBER.fullmatch(value) else "'" + value


# -- the one reader --------------------------------------------------------------------------


def _read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise RecordError(f"{path}: {e}") from None


@dataclass
class RunRecordData:
    """A run folder as read back: typed fields over both schema versions."""

    path: Path
    schema_version: int
    config: dict[str, Any]
    provenance: dict[str, Any]
    metrics: list[Metric]
    sets: dict[str, dict[str, Any]]
    embedded: bool
    report: dict[str, Any]
    run_id: str
    variant_id: str
    complete: bool
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def run(self) -> dict[str, Any]:
        """The run settings (protocol, method, learner, seed, eval, ...)."""
        return self.config.get("run", {})

    def set_keys(self) -> list[tuple[str, str]]:
        """``(episode, set)`` of every stored prediction file."""
        return stored_set_keys(self.path, self.schema_version)

    def set_file(self, episode: str, key: str) -> Path:
        base = self.path / "predictions" / episode
        return base / key / "predictions.npz" if self.schema_version >= 2 else base / f"{key}.npz"

    def load_set(self, episode: str, key: str) -> SetResult:
        return load_set_file(self.set_file(episode, key), key)


def stored_set_keys(path: Path, schema_version: int = SCHEMA_VERSION) -> list[tuple[str, str]]:
    """``(episode, set)`` of every prediction file stored in a run folder, complete or not."""
    root = Path(path) / "predictions"
    if schema_version >= 2:
        return sorted(
            (p.parent.parent.name, p.parent.name) for p in root.glob("*/*/predictions.npz")
        )
    return sorted((p.parent.name, p.stem) for p in root.glob("*/*.npz"))


def read_record(path: Path | str) -> RunRecordData:
    """Parse a run folder (complete or not); raises :class:`RecordError` naming a bad file.

    Schema-1 records (no ``schema_version``) get their run id from the folder name, and as
    identity their result-affecting settings (seed left out), whose hash is their variant id,
    as reports computed it before schema 2.
    """
    path = Path(path)
    config = _read_json(path / "config.json")
    if not isinstance(config, dict):
        raise RecordError(f"{path / 'config.json'}: expected a JSON object")
    complete = (path / MARKER).is_file()
    metrics_doc: dict[str, Any] = {}
    if (path / "metrics.json").is_file() or complete:
        metrics_doc = _read_json(path / "metrics.json")
    try:
        metrics = [Metric(**m) for m in metrics_doc.get("metrics", [])]
    except (TypeError, AttributeError) as e:
        raise RecordError(f"{path / 'metrics.json'}: not a metrics list ({e})") from None
    prov = _read_json(path / "provenance.json") if (path / "provenance.json").is_file() else {}
    sets = _read_json(path / "sets.json") if (path / "sets.json").is_file() else {}
    version = int(config.get("schema_version", 1))
    run_id = config.get("run_id") or path.name.partition("-")[2] or short_hash(config)
    identity = config.get("identity") or _legacy_identity(config.get("run", {}))
    variant_id = config.get("variant_id") or short_hash(identity)
    return RunRecordData(
        path=path,
        schema_version=version,
        config=config,
        provenance=prov,
        metrics=metrics,
        sets=sets,
        embedded=bool(metrics_doc.get("embedded_world", config.get("embedded_world", False))),
        report=dict(metrics_doc.get("report") or config.get("report") or {}),
        run_id=str(run_id),
        variant_id=str(variant_id),
        complete=complete,
        identity=identity,
    )


#: method settings that add outputs (logs, checkpoints, per-epoch evaluations) but never
#: change a result: outside a run's identity (schema 2) and a schema-1 record's variant
OUTPUT_ONLY_METHOD_SETTINGS = ("eval_every", "log_every", "checkpoint_every")
# schema-1 run settings that never changed a result: left out of its identity and variant
_LEGACY_NOT_IDENTITY = ("seed", "out", "num_workers", "data_root", "device")
_LEGACY_NOT_IDENTITY_EVAL = ("batch_size", "store_embeddings")


def _legacy_identity(run: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 record's result-affecting settings, seed left out (its variant's content)."""
    cfg = {k: v for k, v in run.items() if k not in _LEGACY_NOT_IDENTITY}
    for key, ignored in (
        ("eval", _LEGACY_NOT_IDENTITY_EVAL),
        ("method_cfg", OUTPUT_ONLY_METHOD_SETTINGS),
    ):
        if isinstance(cfg.get(key), dict):
            cfg[key] = {k: v for k, v in cfg[key].items() if k not in ignored}
    return cfg


def short_hash(obj: Any, n: int = 10) -> str:
    """A short sha256 of an object's canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:n]


def find_runs(root: Path, complete_only: bool = True) -> list[Path]:
    """Run folders under ``root`` (those with a config.json), complete ones only by default."""
    runs = sorted(p.parent for p in Path(root).rglob("config.json"))
    return [r for r in runs if not complete_only or (r / MARKER).is_file()]
