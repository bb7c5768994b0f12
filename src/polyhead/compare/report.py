"""The comparison report: table.csv, plots/*.png, report.md and a self-contained report.html
(images embedded as base64 PNG), from the runs of a comparison directory."""

from __future__ import annotations

import base64
import csv
import html
from dataclasses import dataclass, field
from pathlib import Path

from polyhead.compare.collect import StrategyRow, aggregate, best_run
from polyhead.engine.run_report import load_analysis
from polyhead.report import plots
from polyhead.report.runs import TASK_METRICS, load_run, task_kinds

Table = tuple[list[str], list[list[str]]]  # header, rows


@dataclass
class Report:
    rows: list[StrategyRow]
    summary: Table
    full: Table
    notes: list[str] = field(default_factory=list)  # skipped / failed runs, best run
    images: list[tuple[str, Path]] = field(default_factory=list)  # (caption, png)


def mean_std(row: StrategyRow, column: str, digits: int = 4) -> str:
    got = row.mean_std(column)
    if got is None:
        return "-"
    mean, std = got
    if column in ("trainable_params",):
        return f"{mean:,.0f}"
    if column in ("train_seconds", "peak_memory_mb"):
        return f"{mean:.1f} ± {std:.1f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def summary_columns(rows: list[StrategyRow], kinds: dict[str, str]) -> list[tuple[str, str]]:
    """(header, column) pairs of the summary table, present in at least one row."""
    cols = [("dev score", "dev/score"), ("test score", "test/score")]
    for task, kind in kinds.items():
        main = TASK_METRICS[kind][0]
        cols += [(f"{task} {main} dev", f"dev/{task}/{main}")]
        cols += [(f"{task} {main} test", f"test/{task}/{main}")]
    frames = sorted({c for r in rows for c in r.values if "/frame_accuracy" in c})
    cols += [(c.replace("/frame_accuracy", " frame acc"), c) for c in frames]
    cols += [
        ("trainable params", "trainable_params"),
        ("train s", "train_seconds"),
        ("peak MB", "peak_memory_mb"),
    ]
    return [(h, c) for h, c in cols if any(c in r.values for r in rows)]


def build_report(out: Path, outcomes: list) -> Report:
    records = [
        rec
        for o in outcomes
        if o.status in ("done", "reused")
        and (rec := load_run(out / "runs" / o.name, o.strategy, o.seed)) is not None
    ]
    rows = aggregate(records)
    kinds = task_kinds(records)
    cols = summary_columns(rows, kinds)
    planned = {}
    for o in outcomes:
        planned[o.strategy] = planned.get(o.strategy, 0) + 1
    summary = (
        ["strategy", "runs"] + [h for h, _ in cols],
        [
            [r.strategy, f"{len(r.runs)}/{planned.get(r.strategy, len(r.runs))}"]
            + [mean_std(r, c) for _, c in cols]
            for r in rows
        ],
    )
    columns = sorted({c for r in rows for c in r.values})
    full = (["strategy", "column", "mean ± std", "per seed"], [])
    for r in rows:
        for c in columns:
            if c in r.values:
                seeds = ", ".join(f"{v:.4g}" for v in r.values[c])
                full[1].append([r.strategy, c, mean_std(r, c), seeds])
    report = Report(rows, summary, full)
    for o in outcomes:
        if o.status in ("skipped", "failed"):
            report.notes.append(f"{o.name}: {o.status} — {o.reason}")
    _plots(report, out, kinds)
    return report


def _plots(report: Report, out: Path, kinds: dict[str, str]) -> None:
    folder, rows = out / "plots", report.rows
    histories = {r.strategy: [rec.history for rec in r.runs] for r in rows}
    keys = ["score"] + [f"{t}/{TASK_METRICS[k][0]}" for t, k in kinds.items()]
    for key in keys:
        png = plots.strategy_curves(histories, key, folder / f"curves_{key.replace('/', '_')}.png")
        if png:
            report.images.append((f"Validation {key} per epoch (band: seed min-max)", png))
    points = {}
    for r in rows:
        t, s = r.mean_std("train_seconds"), r.mean_std("dev/score")
        if t and s:
            points[r.strategy] = (*t, *s)
    png = plots.score_vs_time(points, folder / "score_vs_time.png")
    if png:
        report.images.append(("Dev combined score vs. training time (mean ± std)", png))
    best = best_run(rows)
    if best is None:
        return
    row, rec = best
    report.notes.append(
        f"best strategy (mean dev score): {row.strategy}; best run: {rec.run_dir.name}"
    )
    for task, kind in kinds.items():
        per_type = ((rec.metrics.get("dev") or {}).get(task) or {}).get("per_type") or {}
        if kind == "token" and per_type:
            png = plots.entity_f1_bars(
                per_type,
                f"{rec.run_dir.name}: {task} dev F1 per type",
                folder / f"entity_f1_{task}.png",
            )
            report.images.append((f"{task}: per-entity-type F1 of the best run (dev)", png))
    for task, pairs in load_analysis(rec.run_dir).get("confusions", {}).items():
        png = plots.confusion_bars(
            pairs, f"{rec.run_dir.name}: {task} dev confusions", folder / f"confusions_{task}.png"
        )
        if png:
            report.images.append((f"{task}: most frequent confusions of the best run (dev)", png))


def markdown_table(table: Table) -> str:
    header, rows = table
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join([*lines, *("| " + " | ".join(r) + " |" for r in rows)])


def html_table(table: Table) -> str:
    header, rows = table
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


TITLE = "polyhead strategy comparison"
INTRO = (
    "Mean ± sample standard deviation over seeds; dev metrics decide the best epoch and the "
    "best strategy, test metrics are reported for that same model. Peak memory: {memory}."
)
STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
    "table{border-collapse:collapse;font-size:13px;margin:1em 0}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)


def write_report(out, outcomes: list, header: str = "") -> Report:
    """Write table.csv, plots/, report.md and report.html into `out`."""
    out = Path(out)
    report = build_report(out, outcomes)
    with (out / "table.csv").open("w", newline="") as f:
        csv.writer(f).writerows([report.summary[0], *report.summary[1]])
    kinds = sorted(
        {o.get("memory_kind", "") for r in report.rows for o in [x.outcome for x in r.runs]}
    )
    intro = INTRO.format(memory=", ".join(k for k in kinds if k) or "not recorded")
    md = [f"# {TITLE}", header, intro, "## Summary", markdown_table(report.summary)]
    md += ["## Notes", *[f"- {n}" for n in report.notes]] if report.notes else []
    md += ["## Plots", *[f"**{c}**\n\n![{p.stem}](plots/{p.name})" for c, p in report.images]]
    md += ["## Every metric", markdown_table(report.full)]
    (out / "report.md").write_text("\n\n".join(s for s in md if s) + "\n")
    (out / "report.html").write_text(_html(report, header, intro))
    return report


def _html(report: Report, header: str, intro: str) -> str:
    parts = [f"<h1>{TITLE}</h1>", f"<p>{html.escape(header)}</p>" if header else ""]
    parts += [f"<p>{html.escape(intro)}</p>", "<h2>Summary</h2>", html_table(report.summary)]
    if report.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in report.notes)
        parts += ["<h2>Notes</h2>", f"<ul>{items}</ul>"]
    parts.append("<h2>Plots</h2>")
    for caption, png in report.images:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts += ["<h2>Every metric</h2>", html_table(report.full)]
    body = "\n".join(p for p in parts if p)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
