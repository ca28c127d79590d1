"""Typed result schema: per-set results and metrics with provenance-ready fields."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from biasbench import metrics as M


@dataclass(frozen=True)
class Metric:
    """One reported number: name, value (%), direction, and how many samples it rests on."""

    name: str
    value: float
    higher_is_better: bool = True
    n: int | None = None
    std: float | None = None  # spread over seeds / splits when the value is a mean
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SetResult:
    """Predictions of one evaluation set: per-video ids, labels, aggregated scores."""

    key: str
    ids: list[str]
    labels: np.ndarray  # [N]
    scores: np.ndarray  # [N, K] after view aggregation
    class_names: list[str]
    unreadable: list[dict[str, str]] = field(default_factory=list)
    embeddings: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    def correct(self, k: int = 1) -> np.ndarray:
        return M.topk_correct(self.scores, self.labels, k) if self.n else np.zeros(0, bool)

    def correct_by_id(self, k: int = 1) -> dict[str, bool]:
        return dict(zip(self.ids, self.correct(k).tolist(), strict=True))

    def top1(self) -> float:
        return M.topk_accuracy(self.scores, self.labels, 1)

    def top5(self) -> float:
        return M.topk_accuracy(self.scores, self.labels, 5)

    def summary(self) -> dict[str, Any]:
        """Per-set metrics with denominators (what metrics.json stores for each set)."""
        k = len(self.class_names)
        return {
            "videos_scored": self.n,
            "videos_unreadable": len(self.unreadable),
            "classes": k,
            "chance_top1": 100.0 / k if k else float("nan"),
            "top1": self.top1(),
            "top5": self.top5(),
            "mean_class_top1": M.mean_class_accuracy(self.correct(1), self.labels, k)
            if self.n
            else float("nan"),
        }
