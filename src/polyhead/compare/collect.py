"""Read finished runs back and aggregate them per strategy: mean +- std over seeds."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from polyhead.report.runs import TASK_METRICS, RunRecord, task_kinds

SPLITS = ("dev", "test")


@dataclass
class StrategyRow:
    """One table row: `values` maps a column name to the per-seed values."""

    strategy: str
    runs: list[RunRecord]
    values: dict[str, list[float]] = field(default_factory=dict)

    def mean_std(self, column: str) -> tuple[float, float] | None:
        vals = self.values.get(column)
        if not vals:
            return None
        std = statistics.stdev(vals) if len(vals) > 1 else 0.0
        return statistics.fmean(vals), std


def aggregate(records: list[RunRecord]) -> list[StrategyRow]:
    """One row per strategy (first-seen order) with every table column's per-seed values."""
    kinds = task_kinds(records)
    rows: dict[str, StrategyRow] = {}
    for rec in records:
        row = rows.setdefault(rec.strategy, StrategyRow(rec.strategy, []))
        row.runs.append(rec)
        for column, value in _columns(rec, kinds).items():
            if value is not None:
                row.values.setdefault(column, []).append(float(value))
    return list(rows.values())


def _columns(rec: RunRecord, kinds: dict[str, str]) -> dict[str, float | None]:
    cols: dict[str, float | None] = {}
    for split in SPLITS:
        m = rec.metrics.get(split) or {}
        cols[f"{split}/score"] = m.get("score")
        for task, kind in kinds.items():
            for name in TASK_METRICS[kind]:
                cols[f"{split}/{task}/{name}"] = (m.get(task) or {}).get(name)
        for key, value in m.items():
            if key.startswith("frame_accuracy"):
                cols[f"{split}/{key}"] = value
    cols["trainable_params"] = rec.trainable_params
    cols["train_seconds"] = rec.metrics.get("train_seconds")
    cols["peak_memory_mb"] = rec.outcome.get("peak_memory_mb")
    return cols


def best_run(rows: list[StrategyRow]) -> tuple[StrategyRow, RunRecord] | None:
    """The strategy with the best mean dev score, and its best seed's run."""
    scored = [r for r in rows if r.mean_std("dev/score")]
    if not scored:
        return None
    row = max(scored, key=lambda r: r.mean_std("dev/score")[0])
    return row, max(row.runs, key=lambda rec: rec.dev_score)
