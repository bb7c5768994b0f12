"""Metric tables for the terminal."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table


def metrics_rows(split_metrics: dict) -> list[tuple[str, str, str]]:
    """(task, metric, value) rows for one split's metrics dict."""
    rows = []
    for task, value in split_metrics.items():
        if isinstance(value, dict):
            for name in ("accuracy", "macro_f1", "precision", "recall", "f1", "n", "n_unseen"):
                if name in value:
                    v = value[name]
                    rows.append((task, name, f"{v:.4f}" if isinstance(v, float) else str(v)))
        elif isinstance(value, float):
            rows.append((task, "", f"{value:.4f}"))
    return rows


def print_metrics(console: Console, metrics: dict) -> None:
    """One table per split found in `metrics` ({"dev": {...}, "test": {...}})."""
    for split, split_metrics in metrics.items():
        if not isinstance(split_metrics, dict):
            continue
        table = Table(title=f"{split} metrics")
        for col in ("task", "metric", "value"):
            table.add_column(col, justify="right" if col == "value" else "left")
        for row in metrics_rows(split_metrics):
            table.add_row(*row)
        console.print(table)
