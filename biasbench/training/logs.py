"""Training logs: CSV files and TensorBoard, written by rank 0 only.

- ``steps.csv``: one row per logged update (epoch, step, lr, loss terms, grad norm, samples/s);
- ``epochs.csv``: one row per epoch (mean loss terms, time, samples/s, unreadable inputs);
- ``epoch_eval.csv``: ``epoch,set,top1,top5,n`` from the optional per-epoch evaluation;
- ``tb/``: the same scalars for TensorBoard.

On resume, rows after the resumed position are dropped (they belong to work that is redone)
and TensorBoard events from later steps are purged, so the logs of a killed-and-resumed run
read like those of an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Any

STEPS, EPOCHS, EPOCH_EVAL = "steps.csv", "epochs.csv", "epoch_eval.csv"
EVAL_COLUMNS = ["epoch", "set", "top1", "top5", "n"]


class CsvLog:
    """An append-only CSV whose columns are fixed by the first row written."""

    def __init__(self, path: Path, columns: list[str] | None = None):
        self.path, self.columns = Path(path), columns

    def truncate(self, keep) -> None:
        """Keep only rows for which ``keep(row)`` is true (used when resuming)."""
        if not self.path.is_file():
            return
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            columns, rows = reader.fieldnames, [r for r in reader if keep(r)]
        if columns is None:
            return
        self.columns = list(columns)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.path)

    def write(self, row: dict[str, Any]) -> None:
        new = not self.path.is_file()
        if self.columns is None:
            self.columns = list(row)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow({k: _fmt(row.get(k)) for k in self.columns})


class TrainLogger:
    """CSV + TensorBoard logs of one training run; does nothing on ranks other than 0."""

    def __init__(self, run_dir: Path, enabled: bool, resume_step: int = 0, resume_epoch: int = 0):
        self.enabled = enabled
        self.run_dir = Path(run_dir)
        self.steps = CsvLog(self.run_dir / STEPS)
        self.epochs = CsvLog(self.run_dir / EPOCHS)
        self.evals = CsvLog(self.run_dir / EPOCH_EVAL, EVAL_COLUMNS)
        self._tb = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.steps.truncate(lambda r: int(r["step"]) < resume_step)
        self.epochs.truncate(lambda r: int(r["epoch"]) <= resume_epoch)
        self.evals.truncate(lambda r: int(r["epoch"]) <= resume_epoch)
        self.evals.columns = EVAL_COLUMNS
        try:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=resume_step or None)
        except ImportError:  # tensorboard is a dependency, but logs must never stop training
            self._tb = None

    def step(self, row: dict[str, Any]) -> None:
        """Log one update; ``row`` has ``epoch`` and ``step`` plus scalar values."""
        if not self.enabled:
            return
        self.steps.write(row)
        self._scalars("train", row, int(row["step"]))

    def epoch(self, row: dict[str, Any], global_step: int) -> None:
        if not self.enabled:
            return
        self.epochs.write(row)
        self._scalars("epoch", row, global_step)

    def epoch_eval(
        self, epoch: int, results: dict[str, dict[str, float]], global_step: int
    ) -> None:
        """Per-epoch evaluation: ``results[set] = {"top1", "top5", "n"}``."""
        if not self.enabled:
            return
        for name, r in sorted(results.items()):
            self.evals.write(
                {
                    "epoch": epoch,
                    "set": name,
                    "top1": r.get("top1"),
                    "top5": r.get("top5"),
                    "n": r.get("n"),
                }
            )
            if self._tb is not None:
                for k in ("top1", "top5"):
                    if r.get(k) is not None:
                        self._tb.add_scalar(f"eval/{name}/{k}", float(r[k]), global_step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.flush()
            self._tb.close()
            self._tb = None

    def _scalars(self, prefix: str, row: dict[str, Any], step: int) -> None:
        if self._tb is None:
            return
        for k, v in row.items():
            if k not in ("epoch", "step") and isinstance(v, (int, float)) and math.isfinite(v):
                self._tb.add_scalar(f"{prefix}/{k}", v, step)


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v
