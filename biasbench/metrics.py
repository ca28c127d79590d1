"""Metric functions: public, pure, documented. Inputs are numpy arrays; outputs are floats in %.

All accuracies are percentages in [0, 100], so they print like the papers' tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def topk_correct(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> np.ndarray:
    """Boolean per-video: is the true label among the ``k`` highest scores?

    Ties are broken by class index (stable sort), so the result is deterministic.
    ``scores`` is [N, K]; ``labels`` is [N] with values in 0..K-1.
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"scores {scores.shape} and labels {labels.shape} do not match")
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return (order == labels[:, None]).any(axis=1)


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int = 1) -> float:
    """Top-k accuracy in %: share of videos whose label is among the k best scores."""
    if len(labels) == 0:
        return float("nan")
    return 100.0 * float(topk_correct(scores, labels, k).mean())


def per_class_accuracy(correct: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Accuracy in % of each class (NaN for classes with no videos)."""
    correct = np.asarray(correct, dtype=float)
    labels = np.asarray(labels)
    hits = np.bincount(labels, weights=correct, minlength=num_classes)
    counts = np.bincount(labels, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, 100.0 * hits / np.maximum(counts, 1), np.nan)


def mean_class_accuracy(correct: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
    """Mean over present classes of per-class accuracy, in %."""
    return float(np.nanmean(per_class_accuracy(correct, labels, num_classes)))


def harmonic_mean(*values: float) -> float:
    """Harmonic mean of accuracies (HM of base/novel, of IC/OC, ...). 0 if any value is 0."""
    if not values:
        raise ValueError("harmonic_mean needs at least one value")
    if any(math.isnan(v) for v in values):
        return float("nan")
    if any(v < 0 for v in values):
        raise ValueError(f"harmonic mean of negative values: {values}")
    if any(v == 0 for v in values):
        return 0.0
    return len(values) / sum(1.0 / v for v in values)


def contrasted_accuracy(
    scuba_correct: Mapping[str, bool], scufo_correct: Mapping[str, bool]
) -> tuple[float, int]:
    """StillMix's contrasted accuracy in %, paired by video id.

    The share of videos whose SCUBA version (action on a new background) is classified right
    AND whose SCUFO version (one frame repeated: no motion) is classified wrong: a model that
    relies on motion rather than on the still frame gets both. Only ids present in both sets
    count; returns (accuracy, number of pairs).
    """
    ids = sorted(set(scuba_correct) & set(scufo_correct))
    if not ids:
        return float("nan"), 0
    hits = sum(1 for i in ids if scuba_correct[i] and not scufo_correct[i])
    return 100.0 * hits / len(ids), len(ids)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), NaNs excluded."""
    arr = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return float("nan"), float("nan")
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def aggregate_views(logits: np.ndarray, how: str = "sum_logits") -> np.ndarray:
    """Combine per-view outputs [N, V, K] into [N, K].

    ``sum_logits`` (Open-VCLIP / FROSTER) sums the views' logits; ``sum_softmax`` (ViFi-CLIP)
    sums their softmax probabilities.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if how == "sum_logits":
        return logits.sum(axis=1)
    if how == "sum_softmax":
        z = logits - logits.max(axis=2, keepdims=True)
        p = np.exp(z)
        return (p / p.sum(axis=2, keepdims=True)).sum(axis=1)
    raise ValueError(f"unknown view aggregation {how!r}; use 'sum_logits' or 'sum_softmax'")
