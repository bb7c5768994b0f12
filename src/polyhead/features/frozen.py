"""`strategy: frozen`: no network weight trains. Features are extracted once (through the
feature cache) and one external linear classifier per task is fitted with scikit-learn
(the run itself: polyhead.engine.frozen).

Sentence tasks fit on the pooled features; token tasks on the features of each word's first
subword (the positions that carry labels, as in training heads).
"""

from __future__ import annotations

import logging

import numpy as np

from polyhead.data.align import IGNORE_INDEX
from polyhead.features.external import fit_classifier
from polyhead.features.source import BackboneCache

log = logging.getLogger("polyhead")


def training_matrix(arrays, rows: list[dict], task: str, kind: str):
    """(X, y): features and label ids of the labelled positions of `task` in `rows`."""
    key = f"labels.{task}"
    if kind == "sentence":
        y = np.array([row[key] for row in rows], dtype=np.int64)  # (N,)
        keep = y != IGNORE_INDEX
        return np.asarray(arrays["pooled"], dtype=np.float32)[keep], y[keep]
    y = np.concatenate([np.asarray(row[key], dtype=np.int64) for row in rows])  # (S,)
    keep = np.flatnonzero(y != IGNORE_INDEX)  # first subword of every labelled word
    return np.asarray(arrays["tokens"][keep], dtype=np.float32), y[keep]


def fit_external_heads(model, plan, data, cfg) -> tuple[dict, BackboneCache]:
    """Fit and install one classifier per task; returns ({task: info}, the cache used)."""
    cache = BackboneCache(model, plan, data, cfg)
    model.eval()
    report = {}
    for src in data.sources:
        arrays = cache.entry(model, cache.n_layers, "train", src.index)
        rows = data.rows("train")[src.index]
        for task in src.tasks:
            kind = data.kinds[task]
            X, y = training_matrix(arrays, rows, task, kind)
            n_labels = len(model.spec.task(task).labels)
            clf, info = fit_classifier(
                kind, X, y, n_labels, cfg.features.classifier, cfg.trainer.seed
            )
            if not info["converged"]:
                log.warning(
                    "%s: %s did not converge in %d iterations; raise features.classifier.max_iter",
                    task,
                    info["estimator"],
                    cfg.features.classifier.max_iter,
                )
            model.external_heads[task] = clf  # saved as the artifact's "external" part
            report[task] = info
    return report, cache
