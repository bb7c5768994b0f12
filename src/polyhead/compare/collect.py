"""Read finished runs back and aggregate them per strategy: mean +- std over seeds."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path

SPLITS = ("dev", "test")
# Per task kind, the metrics the table reports (the first is the task's main metric).
TASK_METRICS = {"sentence": ("accuracy", "macro_f1"), "token": ("f1", "precision", "recall")}


@dataclass
class RunRecord:
    strategy: str
    seed: int
    run_dir: Path
    metrics: dict
    history: list[dict]
    outcome: dict
    trainable_params: int | None

    @property
    def dev_score(self) -> float:
        return float(self.metrics.get("dev", {}).get("score", float("nan")))


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


def load_run(run_dir: Path, strategy: str, seed: int) -> RunRecord | None:
    """A finished run (metrics.json present), or None."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.json").exists():
        return None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    history = []
    if (run_dir / "history.jsonl").exists():
        lines = (run_dir / "history.jsonl").read_text().splitlines()
        history = [json.loads(line) for line in lines if line.strip()]
    outcome = {}
    if (run_dir / "outcome.json").exists():
        outcome = json.loads((run_dir / "outcome.json").read_text())
    return RunRecord(strategy, seed, run_dir, metrics, history, outcome, _trainable(run_dir))


def _trainable(run_dir: Path) -> int | None:
    """Most weights trained at once, from plan.json's phases."""
    path = run_dir / "plan.json"
    if not path.exists():
        return None
    phases = json.loads(path.read_text()).get("phases") or []
    counts = [p.get("trainable_params") for p in phases if p.get("trainable_params") is not None]
    return max(counts) if counts else None


def task_kinds(records: list[RunRecord]) -> dict[str, str]:
    """task -> kind, read from the metrics (token tasks report entity F1)."""
    kinds: dict[str, str] = {}
    for rec in records:
        for task, m in rec.metrics.get("dev", {}).items():
            if isinstance(m, dict):
                kinds[task] = "token" if "per_type" in m or "n_tokens" in m else "sentence"
    return kinds


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
