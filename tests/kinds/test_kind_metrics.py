"""Metrics of the vector task kinds against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from polyhead.evaluate import combined_score
from polyhead.kind_metrics import choose_thresholds, multilabel_metrics, regression_metrics


def test_multilabel_micro_macro_subset():
    gold = np.array([[1, 0, 1], [0, 1, 0]])
    pred = np.array([[1, 0, 0], [0, 1, 0]])
    m = multilabel_metrics(gold, pred, ["a", "b", "c"])
    # micro: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 0.8; macro over a, b, c: (1 + 1 + 0) / 3
    assert m["micro_f1"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx(2 / 3)
    assert m["subset_accuracy"] == pytest.approx(0.5)
    assert m["per_label"]["c"] == {"f1": 0.0, "support": 1}


def test_macro_leaves_out_labels_nobody_has():
    gold = np.array([[1, 0], [1, 0]])
    m = multilabel_metrics(gold, gold, ["a", "never"])
    assert m["macro_f1"] == 1.0 and "never" not in m["per_label"]


def test_thresholds_maximise_each_labels_f1():
    gold = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    probs = np.array([[0.35, 0.9], [0.3, 0.1], [0.2, 0.4], [0.1, 0.2]])
    thr = choose_thresholds(gold, probs)
    # label 0: positives at 0.35 and 0.3, negatives below: the cut is 0.3 (F1 1.0 there,
    # 0.5 would predict none); label 1 has no positive example: the default 0.5
    assert thr == [pytest.approx(0.3), 0.5]
    pred = probs >= np.array(thr)
    assert multilabel_metrics(gold, pred, ["a", "b"])["micro_f1"] == pytest.approx(0.8)


def test_regression_rank_vs_linear():
    gold = np.array([1.0, 2.0, 3.0, 4.0])
    pred = gold**3  # same order, not linear
    m = regression_metrics(gold[:, None], pred[:, None])
    assert m["spearman"] == pytest.approx(1.0)
    assert 0.9 < m["pearson"] < 1.0
    assert m["mae"] == pytest.approx(np.abs(gold - pred).mean())
    assert m["mse"] == pytest.approx(((gold - pred) ** 2).mean())


def test_regression_constant_prediction_scores_zero_not_nan():
    m = regression_metrics(np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [2.0], [2.0]]))
    assert (m["pearson"], m["spearman"]) == (0.0, 0.0)
    assert m["mae"] == pytest.approx(2 / 3)


def test_vector_targets_average_over_dimensions():
    gold = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    pred = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])  # dim 0 right, dim 1 reversed
    assert regression_metrics(gold, pred)["spearman"] == pytest.approx(0.0)


def test_combined_score_reads_each_kinds_main_metric():
    metrics = {"t": {"micro_f1": 0.6}, "r": {"spearman": 0.8}}
    score = combined_score(metrics, {"t": "multilabel", "r": "regression"})
    assert score == pytest.approx(0.7)
