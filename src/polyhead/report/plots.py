"""PNG plots for run and comparison reports (matplotlib, Agg backend: no display needed).

Every function takes plain data and a path, writes one PNG and returns the path, or None
when there is nothing to draw.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curve(history: list[dict], key: str) -> list[tuple[int, float]]:
    """(epoch, value) of one metric from history.jsonl records; `key` is `score` or
    `<task>/<metric>` or `frame_accuracy`."""
    points = []
    for rec in history:
        node = rec.get("metrics", {})
        for part in key.split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, int | float):
            points.append((int(rec["epoch"]), float(node)))
    return points


def run_curves(history: list[dict], keys: list[str], path: Path) -> Path | None:
    """One run: each metric's validation value per epoch."""
    lines = [(k, curve(history, k)) for k in keys]
    lines = [(k, pts) for k, pts in lines if pts]
    if not lines:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, pts in lines:
        ax.plot(*zip(*pts, strict=True), marker="o", label=key)
    ax.set(xlabel="epoch", ylabel="dev", title="validation per epoch")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def strategy_curves(histories: dict[str, list[list[dict]]], key: str, path: Path) -> Path | None:
    """Per strategy: mean over seeds per epoch, with a band from the seeds' min to max."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    drawn = False
    for strategy, runs in histories.items():
        per_epoch: dict[int, list[float]] = {}
        for hist in runs:
            for epoch, value in curve(hist, key):
                per_epoch.setdefault(epoch, []).append(value)
        if not per_epoch:
            continue
        epochs = sorted(per_epoch)
        vals = [np.array(per_epoch[e]) for e in epochs]
        (line,) = ax.plot(epochs, [v.mean() for v in vals], marker="o", label=strategy)
        ax.fill_between(
            epochs,
            [v.min() for v in vals],
            [v.max() for v in vals],
            alpha=0.2,
            color=line.get_color(),
        )
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set(xlabel="epoch", ylabel=f"dev {key}", title=f"validation {key} (band: seed min-max)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def score_vs_time(points: dict[str, tuple[float, float, float, float]], path: Path) -> Path | None:
    """strategy -> (mean seconds, std seconds, mean score, std score), with error bars."""
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, (t, t_std, s, s_std) in points.items():
        ax.errorbar(t, s, xerr=t_std, yerr=s_std, marker="o", capsize=3, label=strategy)
        ax.annotate(strategy, (t, s), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set(xlabel="training time (s)", ylabel="dev combined score", title="score vs. time")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def entity_f1_bars(per_type: dict[str, dict], title: str, path: Path) -> Path | None:
    """Per entity type F1 (support in the label), worst first."""
    if not per_type:
        return None
    items = sorted(per_type.items(), key=lambda kv: kv[1].get("f1", 0.0))
    names = [f"{k} (n={v.get('support', '?')})" for k, v in items]
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(items) + 1.2))
    ax.barh(names, [v.get("f1", 0.0) for _, v in items], color="#4c72b0")
    ax.set(xlim=(0, 1), xlabel="F1", title=title)
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)


def confusion_bars(pairs: list[list], title: str, path: Path, top: int = 15) -> Path | None:
    """The most frequent (gold -> predicted, count) mistakes."""
    pairs = [p for p in pairs if p[0] != p[1]][:top]
    if not pairs:
        return None
    pairs = pairs[::-1]  # largest at the top of a horizontal bar chart
    fig, ax = plt.subplots(figsize=(6.5, 0.3 * len(pairs) + 1.2))
    ax.barh([f"{g} -> {p}" for g, p, _ in pairs], [n for *_, n in pairs], color="#c44e52")
    ax.set(xlabel="dev examples", title=title)
    ax.tick_params(axis="y", labelsize=7)
    return _save(fig, path)
