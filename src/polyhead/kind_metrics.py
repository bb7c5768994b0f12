"""Metrics of the vector task kinds, as pure functions of gold and predicted values.

multilabel: micro / macro F1 over labels and subset accuracy (every label of a text right),
with sklearn on label-indicator matrices; per-label thresholds chosen to maximise each
label's F1 on dev. regression: Pearson, Spearman (scipy), MAE and MSE, averaged over target
dimensions.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import ConstantInputWarning, pearsonr, spearmanr
from sklearn.metrics import f1_score, precision_recall_curve

DEFAULT_THRESHOLD = 0.5


def multilabel_metrics(gold: np.ndarray, pred: np.ndarray, names: list[str]) -> dict:
    """`gold`, `pred`: (N, L) 0/1 indicator matrices over `names`."""
    gold, pred = np.asarray(gold, dtype=int), np.asarray(pred, dtype=int)
    n = len(gold)
    if n == 0:
        return {"micro_f1": 0.0, "macro_f1": 0.0, "subset_accuracy": 0.0, "n": 0}
    per_label = f1_score(gold, pred, average=None, zero_division=0)
    # macro over the labels that occur (gold or predicted): absent ones would add free zeros
    present = (gold.sum(0) + pred.sum(0)) > 0
    return {
        "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
        "macro_f1": float(per_label[present].mean()) if present.any() else 0.0,
        "subset_accuracy": float((gold == pred).all(axis=1).mean()),
        "n": n,
        "per_label": {
            name: {"f1": float(f1), "support": int(s)}
            for name, f1, s in zip(names, per_label, gold.sum(0), strict=True)
            if s or present[names.index(name)]
        },
    }


def choose_thresholds(gold: np.ndarray, probs: np.ndarray) -> list[float]:
    """Per label, the probability cut that maximises that label's F1 on (dev) data; 0.5
    for a label with no positive example."""
    gold, probs = np.asarray(gold, dtype=int), np.asarray(probs, dtype=np.float64)
    out = []
    for j in range(gold.shape[1]):
        if gold[:, j].sum() == 0:
            out.append(DEFAULT_THRESHOLD)
            continue
        precision, recall, cuts = precision_recall_curve(gold[:, j], probs[:, j])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1])) if len(cuts) else 0
        out.append(float(cuts[best]) if len(cuts) else DEFAULT_THRESHOLD)
    return out


def regression_metrics(gold: np.ndarray, pred: np.ndarray) -> dict:
    """`gold`, `pred`: (N, D). Correlations are 0 where undefined (a constant column), so a
    combined score stays a number."""
    gold = np.asarray(gold, dtype=np.float64).reshape(len(gold), -1)
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    n = len(gold)
    if n < 2:
        return {"pearson": 0.0, "spearman": 0.0, "mae": 0.0, "mse": 0.0, "n": n}
    pearson, spearman = [], []
    for j in range(gold.shape[1]):
        pearson.append(_corr(pearsonr, gold[:, j], pred[:, j]))
        spearman.append(_corr(spearmanr, gold[:, j], pred[:, j]))
    return {
        "pearson": float(np.mean(pearson)),
        "spearman": float(np.mean(spearman)),
        "mae": float(np.abs(gold - pred).mean()),
        "mse": float(((gold - pred) ** 2).mean()),
        "n": n,
    }


def _corr(fn, a: np.ndarray, b: np.ndarray) -> float:
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        value = float(fn(a, b)[0])
    return value if np.isfinite(value) else 0.0
