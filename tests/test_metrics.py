"""Metric functions against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from biasbench import metrics as M


def test_topk_with_ties_broken_by_class_index():
    scores = np.array([[0.2, 0.5, 0.3], [0.4, 0.4, 0.2], [0.1, 0.2, 0.7], [0.3, 0.3, 0.3]])
    labels = np.array([1, 1, 0, 2])
    # row 1 ties 0/1 -> class 0 wins the tie, so top-1 is wrong; row 3 three-way tie -> 0
    assert M.topk_correct(scores, labels, 1).tolist() == [True, False, False, False]
    assert M.topk_accuracy(scores, labels, 1) == pytest.approx(25.0)
    # top-2: rows 0 and 1 hit; row 2 ranks (2, 1) and misses 0; row 3 ranks (0, 1) and misses 2
    assert M.topk_accuracy(scores, labels, 2) == pytest.approx(50.0)
    assert M.topk_accuracy(scores, labels, 5) == pytest.approx(100.0)  # k clipped to K


def test_harmonic_mean_by_hand():
    assert M.harmonic_mean(80.0, 20.0) == pytest.approx(32.0)
    assert M.harmonic_mean(83.9, 33.5, 64.5) == pytest.approx(3 / (1 / 83.9 + 1 / 33.5 + 1 / 64.5))
    assert M.harmonic_mean(50.0, 0.0) == 0.0
    assert math.isnan(M.harmonic_mean(50.0, float("nan")))


def test_per_class_and_mean_class_accuracy():
    correct = np.array([1, 0, 1, 1, 0], bool)
    labels = np.array([0, 0, 1, 1, 1])
    pc = M.per_class_accuracy(correct, labels, 3)
    assert pc[0] == pytest.approx(50.0) and pc[1] == pytest.approx(200 / 3)
    assert math.isnan(pc[2])
    assert M.mean_class_accuracy(correct, labels, 3) == pytest.approx((50 + 200 / 3) / 2)


def test_contrasted_accuracy_pairs_by_id():
    scuba = {"a": True, "b": True, "c": False, "d": True, "only_scuba": True}
    scufo = {"a": False, "b": True, "c": False, "d": False, "only_scufo": False}
    acc, pairs = M.contrasted_accuracy(scuba, scufo)
    assert pairs == 4
    assert acc == pytest.approx(50.0)  # a and d: right on SCUBA, wrong on SCUFO


def test_view_aggregation():
    logits = np.array([[[2.0, 0.0], [0.0, 1.0]]])
    assert M.aggregate_views(logits, "sum_logits").tolist() == [[2.0, 1.0]]
    p = M.aggregate_views(logits, "sum_softmax")[0]
    e = np.exp
    assert p[0] == pytest.approx(e(2) / (e(2) + 1) + 1 / (1 + e(1)))
    with pytest.raises(ValueError):
        M.aggregate_views(logits, "max")


def test_mean_std_sample_std():
    m, s = M.mean_std([1.0, 2.0, 3.0])
    assert (m, s) == (pytest.approx(2.0), pytest.approx(1.0))
    assert M.mean_std([5.0]) == (5.0, 0.0)
