"""Metric tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

# The metrics shown, in this order: sentence, token, embedding (pairs) metrics, then counts.
NAMES = (
    *("accuracy", "macro_f1", "precision", "recall", "f1", "spearman", "pearson"),
    *("mrr@10", "recall@1", "recall@10", "n", "n_unseen"),
)


def metrics_rows(split_metrics: dict) -> list[tuple[str, str, str]]:
    """(task, metric, value) rows for one split's metrics dict; label retrieval by the
    embedding (`retrieval`: task -> metrics) as `<task> retrieval` rows."""
    rows = []
    for task, value in split_metrics.items():
        if task == "retrieval" and isinstance(value, dict):
            for sub, metrics in value.items():
                rows += [(f"{sub} retrieval", n, v) for _, n, v in metrics_rows({"": metrics})]
            continue
        if isinstance(value, dict):
            for name in NAMES:
                if name in value:
                    v = value[name]
                    rows.append((task, name, f"{v:.4f}" if isinstance(v, float) else str(v)))
        elif isinstance(value, float):
            rows.append((task, "", f"{value:.4f}"))
    return rows


def print_metrics(console: Console, metrics: dict) -> None:
    """One table per split found in `metrics` ({"dev": {...}, "test": {...}}), and the
    guard's drift (`drift`: watched task -> start / best / final / drop) as its own."""
    for split, split_metrics in metrics.items():
        if not isinstance(split_metrics, dict):
            continue
        if split == "drift":
            table = Table(title="drift (dev, before training vs the saved model)")
            for col in DRIFT_COLUMNS:
                table.add_column(col, justify="left" if col == "watched" else "right")
            for row in drift_rows(metrics):
                table.add_row(*row)
            console.print(table)
            continue
        table = Table(title=f"{split} metrics")
        for col in ("task", "metric", "value"):
            table.add_column(col, justify="right" if col == "value" else "left")
        for row in metrics_rows(split_metrics):
            table.add_row(*row)
        console.print(table)


DRIFT_COLUMNS = ("watched", "start", "best", "final", "drop (points)")


def drift_rows(metrics: dict) -> list[list[str]]:
    """The guard's `drift` (watched task -> its dev value before training, in the saved model
    (best) and at the last epoch, and the drop in points) as rows of DRIFT_COLUMNS; shared by
    the terminal table and report.md."""
    keys = ("start", "best", "final", "drop")
    return [[name, *(fmt_value(d.get(k)) for k in keys)] for name, d in metrics["drift"].items()]


def fmt_value(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
