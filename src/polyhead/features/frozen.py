"""`strategy: frozen`: no network weight trains. Features are extracted once (through the
feature cache), one external linear classifier per task is fitted with scikit-learn, and the
run directory gets what every run gets: the artifact (with the classifiers under
`external/`), metrics.json from the reloaded artifact, history.jsonl, the config and plan.

Sentence tasks fit on the pooled features; token tasks on the features of each word's first
subword (the positions that carry labels, as in training heads).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from polyhead.features.external import fit_classifier, install
from polyhead.features.source import BackboneCache
from polyhead.model.multitask import IGNORE_INDEX

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
            install(model, task, clf)
            report[task] = info
    return report, cache


def train_frozen(cfg, run_dir, data, model, plan):
    """The frozen run: features once, external classifiers, the usual run directory."""
    from polyhead.engine.train import RunResult, _write_setup, final_metrics
    from polyhead.model.artifact import save_artifact

    run_dir = Path(run_dir)
    _write_setup(run_dir, cfg, plan)
    start = time.perf_counter()
    report, cache = fit_external_heads(model, plan, data, cfg)
    seconds = time.perf_counter() - start
    save_artifact(model, run_dir / "model", extra={"plan": plan.to_json(), "classifiers": report})
    metrics = final_metrics(None, run_dir / "model", cfg, data)
    metrics.update(
        train_seconds=seconds,
        best_epoch=None,
        truncated_train_examples=data.train_stats.n_truncated_examples,
        classifiers=report,
        feature_cache={
            "hits": cache.store.hits,
            "built": cache.store.misses,
            "seconds": cache.build_seconds,
        },
    )
    record = {"epoch": 0, "metrics": metrics.get("dev", {}), "trainable": [], "classifiers": report}
    (run_dir / "history.jsonl").write_text(json.dumps(record) + "\n")
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return RunResult(run_dir, metrics, plan, None, seconds)
