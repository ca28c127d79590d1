"""Run records: one folder per run, written atomically, complete only with its marker.

Layout of ``<out>/<protocol>/<method>__<learner>/<run_id>/``::

    config.json        resolved RunConfig (+ protocol/method/learner settings)
    provenance.json    package version, git commit, seeds, library versions, device, host
    train/             training log and checkpoints (methods that train)
    predictions/<episode>/<set>.npz   ids, labels, scores [N, K], class names (+ embeddings)
    predictions/<episode>/<set>.csv   the same, human-readable (id, label, top-5, correct)
    sets.json          per-set summaries with denominators, and unreadable inputs
    metrics.json       the protocol's metrics
    COMPLETE           written last; reports ignore folders without it

Every file is written to a temporary name and renamed into place, so a killed run leaves
readable partial results and never a half-written file; a rerun with the same config resumes
(finished sets are loaded, not recomputed).
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from biasbench import __version__
from biasbench.results import Metric, SetResult

MARKER = "COMPLETE"
LIBRARIES = ("torch", "torchvision", "open_clip_torch", "decord", "numpy", "av", "scipy")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


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
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": libs,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "argv": sys.argv,
        **(extra or {}),
    }


@dataclass
class RunRecord:
    """A run folder. Create with :meth:`open`; finish with :meth:`complete`."""

    path: Path

    @classmethod
    def open(cls, path: Path, config: dict[str, Any], prov: dict[str, Any]) -> RunRecord:
        """Create (or reopen, to resume) a run folder and write its config and provenance."""
        path.mkdir(parents=True, exist_ok=True)
        rec = cls(path)
        cfg_path = path / "config.json"
        if cfg_path.is_file():
            old = json.loads(cfg_path.read_text())
            if old != json.loads(json.dumps(config, sort_keys=True, default=str)):
                raise RuntimeError(f"{path} holds a run with a different config; not resuming")
        atomic_write_json(cfg_path, config)
        if not (path / "provenance.json").is_file():
            atomic_write_json(path / "provenance.json", prov)
        return rec

    @property
    def is_complete(self) -> bool:
        return (self.path / MARKER).is_file()

    def set_path(self, episode: str, key: str) -> Path:
        return self.path / "predictions" / episode / f"{key}.npz"

    def save_set(self, episode: str, result: SetResult) -> None:
        """Write one evaluation set's predictions (npz for machines, csv for people)."""
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
        atomic_write_bytes(self.set_path(episode, result.key), buf.getvalue())
        atomic_write_bytes(
            self.set_path(episode, result.key).with_suffix(".csv"), _predictions_csv(result)
        )

    def load_set(self, episode: str, key: str) -> SetResult | None:
        """A previously saved set (for resuming and for reports), or None."""
        p = self.set_path(episode, key)
        if not p.is_file():
            return None
        return load_set_file(p, key)

    def complete(self, metrics: list[Metric], sets: dict[str, Any], extra: dict | None = None):
        """Write metrics and per-set summaries, then the marker that makes the run count."""
        atomic_write_json(self.path / "sets.json", sets)
        atomic_write_json(
            self.path / "metrics.json",
            {"metrics": [m.to_dict() for m in metrics], **(extra or {})},
        )
        atomic_write_bytes(self.path / MARKER, time.strftime("%Y-%m-%dT%H:%M:%S%z").encode())


def load_set_file(path: Path, key: str | None = None) -> SetResult:
    with np.load(path, allow_pickle=False) as z:
        return SetResult(
            key=key or path.stem,
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
                vid,
                lab,
                names[lab],
                int(top[0]),
                names[top[0]],
                " ".join(map(str, top)),
                int(top[0] == lab),
            ]
        )
    return out.getvalue().encode()


def find_runs(root: Path, complete_only: bool = True) -> list[Path]:
    """Run folders under ``root`` (those with a config.json), complete ones only by default."""
    runs = sorted(p.parent for p in Path(root).rglob("config.json"))
    return [r for r in runs if not complete_only or (r / MARKER).is_file()]
