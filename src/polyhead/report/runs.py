"""Finished runs read back from their run directories (metrics.json, history.jsonl,
outcome.json, plan.json), and the markdown/plots that show one run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from polyhead.report import plots
from polyhead.report.tables import DRIFT_COLUMNS, drift_rows, fmt_value

# Per task kind, the metrics tables report (the first is the task's main metric). Embedding
# tasks are read as "embedding" (scored pairs: Spearman of cosine vs gold) or "pairs"
# ((anchor, positive) pairs: retrieval of the partner).
TASK_METRICS = {
    "sentence": ("accuracy", "macro_f1"),
    "token": ("f1", "precision", "recall"),
    "multilabel": ("micro_f1", "macro_f1", "subset_accuracy"),
    "regression": ("spearman", "pearson", "mae"),
    "embedding": ("spearman", "pearson"),
    "pairs": ("mrr@10", "recall@1", "recall@10"),
}
# Label retrieval by the embedding, per sentence task (metrics[split]["retrieval"][task]).
RETRIEVAL_METRICS = ("mrr@10", "recall@1", "recall@10")


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
            if isinstance(m, dict) and task != "retrieval":
                kinds[task] = _kind(m)
    return kinds


def _kind(m: dict) -> str:
    if "per_type" in m or "n_tokens" in m:
        return "token"
    if "micro_f1" in m:
        return "multilabel"
    if "mae" in m:  # regression heads; an embedding task reports correlations only
        return "regression"
    if "spearman" in m:
        return "embedding"
    return "pairs" if "mrr@10" in m else "sentence"


def curve_keys(kinds: dict[str, str], history: list[dict]) -> list[str]:
    keys = ["score"] + [f"{t}/{TASK_METRICS[k][0]}" for t, k in kinds.items()]
    last = history[-1].get("metrics", {}) if history else {}
    keys += [f"retrieval/{t}/mrr@10" for t in sorted(last.get("retrieval") or {})]
    return keys + sorted(k for k in last if k.startswith("frame_accuracy"))


def run_plots(record, analysis: dict, folder: Path, kinds: dict[str, str]) -> list[Path]:
    """Curves, per-type F1 bars (dev) and confusion bars of one run."""
    out = [
        plots.run_curves(record.history, curve_keys(kinds, record.history), folder / "curves.png")
    ]
    dev = record.metrics.get("dev", {})
    for task, kind in kinds.items():
        if kind == "token":
            per_type = (dev.get(task) or {}).get("per_type") or {}
            out.append(
                plots.entity_f1_bars(
                    per_type, f"{task}: dev F1 per entity type", folder / f"entity_f1_{task}.png"
                )
            )
    for task, pairs in analysis.get("confusions", {}).items():
        out.append(
            plots.confusion_bars(
                pairs, f"{task}: most frequent dev confusions", folder / f"confusions_{task}.png"
            )
        )
    return [p for p in out if p is not None]


def metrics_markdown(metrics: dict, kinds: dict[str, str]) -> str:
    """| task | metric | dev | test | for every task metric, frame accuracy and score."""
    splits = [s for s in ("dev", "test") if s in metrics]
    lines = ["| task | metric | " + " | ".join(splits) + " |", "|---|---|" + "---|" * len(splits)]
    for task, kind in kinds.items():
        for name in TASK_METRICS[kind]:
            vals = [fmt_value((metrics[s].get(task) or {}).get(name)) for s in splits]
            lines.append(f"| {task} | {name} | " + " | ".join(vals) + " |")
    retrieval = sorted({t for s in splits for t in metrics[s].get("retrieval") or {}})
    for task in retrieval:
        for name in RETRIEVAL_METRICS:
            got = [((metrics[s].get("retrieval") or {}).get(task) or {}) for s in splits]
            vals = [fmt_value(m.get(name)) for m in got]
            lines.append(f"| {task} | retrieval {name} | " + " | ".join(vals) + " |")
    keys = sorted({k for s in splits for k in metrics[s] if k.startswith("frame_accuracy")})
    for key in [*keys, "score"]:
        lines.append(
            f"| all | {key} | " + " | ".join(fmt_value(metrics[s].get(key)) for s in splits) + " |"
        )
    return "\n".join(lines)


def drift_markdown(metrics: dict) -> str:
    """| watched | start | best | final | drop (points) | from the guard's `drift`, or ""."""
    if not metrics.get("drift"):
        return ""
    lines = ["| " + " | ".join(DRIFT_COLUMNS) + " |", "|---" * len(DRIFT_COLUMNS) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in drift_rows(metrics)]
    return "\n".join(lines)
