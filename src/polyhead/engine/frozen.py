"""The run of `strategy: frozen`: features once, one external classifier per task, and the run
directory every run gets: the artifact (classifiers as its "external" part), metrics.json from
the reloaded artifact, history.jsonl, the config and plan."""

from __future__ import annotations

import time
from pathlib import Path

from polyhead.engine.evaluation import final_metrics
from polyhead.engine.rundir import RunResult, json_line, write_metrics, write_setup
from polyhead.features.frozen import fit_external_heads
from polyhead.plan import plan_json


def train_frozen(cfg, run_dir, data, model, plan) -> RunResult:
    run_dir = Path(run_dir)
    write_setup(run_dir, cfg, plan)
    start = time.perf_counter()
    report, cache = fit_external_heads(model, plan, data, cfg)
    seconds = time.perf_counter() - start
    model.save(run_dir / "model", extra={"plan": plan_json(plan), "classifiers": report})
    metrics = final_metrics(run_dir / "model", cfg, data)
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
    (run_dir / "history.jsonl").write_text(json_line(record))
    write_metrics(run_dir, metrics)
    return RunResult(run_dir, metrics, plan, None, seconds)
