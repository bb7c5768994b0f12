"""The tune report, from the study and the trials' run directories:

DIR/best_config.yaml   the best trial's config.yaml (what it trained with), minus `tune:`
DIR/trials.csv         one row per trial: state, dev/test score, epochs, seconds, values
DIR/plots/*.png        optimisation history, per-epoch dev scores, parameter importances
DIR/report.md, DIR/report.html (self-contained: images embedded as base64 PNG)
"""

from __future__ import annotations

import base64
import csv
import html
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import optuna  # noqa: E402
import yaml  # noqa: E402
from optuna.trial import FrozenTrial, TrialState  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from polyhead.compare.report import STYLE, Table, html_table, markdown_table  # noqa: E402
from polyhead.report.tables import metrics_rows  # noqa: E402
from polyhead.tune.study import retried  # noqa: E402

TITLE = "polyhead tune"
# Fewer finished trials than this give importances that are noise (fANOVA fits a forest).
MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass
class TuneReport:
    trials: Table
    best: FrozenTrial | None
    best_config: Path | None
    best_metrics: Table | None
    importances: dict[str, float]
    counts: dict[str, int]
    trial_seconds: float
    notes: list[str] = field(default_factory=list)
    images: list[tuple[str, Path]] = field(default_factory=list)


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-2 and value else f"{value:.4f}"
    return str(value)


def _seconds(t: FrozenTrial) -> float | None:
    if t.datetime_start and t.datetime_complete:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return None


def _state(t: FrozenTrial, again: set[int]) -> str:
    state = t.state.name.lower()
    if t.number in again:
        return f"{state} (run again)"
    if t.state == TrialState.PRUNED and t.intermediate_values:
        return f"pruned @ epoch {max(t.intermediate_values)}"
    return state


def trials_table(trials: list[FrozenTrial]) -> Table:
    """One row per trial; a pruned trial's score is its last reported epoch's."""
    params = list(dict.fromkeys(p for t in trials for p in t.params))
    header = ["trial", "state", "dev score", "test score", "epochs", "seconds", *params]
    again = retried(trials)
    rows = []
    for t in trials:
        score = t.value
        if score is None and t.intermediate_values:
            score = t.intermediate_values[max(t.intermediate_values)]
        seconds = _seconds(t)
        rows.append(
            [str(t.number), _state(t, again), _fmt(score), _fmt(t.user_attrs.get("test_score"))]
            + [str(len(t.intermediate_values) or "-"), f"{seconds:.1f}" if seconds else "-"]
            + [_fmt(t.params.get(p)) for p in params]
        )
    return header, rows


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: t.value) if complete else None


def write_best_config(best: FrozenTrial, out: Path) -> Path | None:
    """The config the best trial trained with (its run dir's config.yaml), ready for
    `polyhead train`; the `tune:` section is dropped (it only steers the search)."""
    source = out / "trials" / str(best.number) / "config.yaml"
    if not source.exists():
        return None
    raw = yaml.safe_load(source.read_text())
    raw.pop("tune", None)
    header = (
        f"# best of the tune in {out}: trial {best.number}, dev score {best.value:.4f}\n"
        f"# train it with: polyhead train {out / 'best_config.yaml'} --out RUN_DIR\n"
    )
    path = out / "best_config.yaml"
    path.write_text(header + yaml.safe_dump(raw, sort_keys=False))
    return path


def best_metrics(best: FrozenTrial, out: Path) -> Table | None:
    path = out / "trials" / str(best.number) / "metrics.json"
    if not path.exists():
        return None
    metrics = json.loads(path.read_text())
    rows = [
        [split, *row]
        for split in ("dev", "test")
        if isinstance(metrics.get(split), dict)
        for row in metrics_rows(metrics[split])
    ]
    return ["split", "task", "metric", "value"], rows


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances over the trials that completed (seeded: the same study gives the
    same numbers); empty when too few completed or nothing varied."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
    try:
        return optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError):  # no parameter common to every completed trial
        return {}


def _plot(draw, path: Path, **labels) -> Path | None:
    """One Optuna matplotlib plot to PNG (axis `labels` in polyhead's words), with its style
    change kept inside."""
    with matplotlib.rc_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = draw()
        if ax is None or not ax.has_data():
            plt.close("all")
            return None
        ax.set(**labels)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig = ax.figure
        fig.set_size_inches(7, 4)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
    return path


def _importance_bars(importances: dict[str, float]):
    _, ax = plt.subplots()
    names = list(importances)[::-1]  # most important at the top
    ax.barh(names, [importances[n] for n in names], color="#4c72b0")
    ax.set(xlabel="importance (share of dev-score variance)", title="parameter importances")
    ax.tick_params(axis="y", labelsize=8)
    return ax


def _plots(report: TuneReport, study: optuna.Study, out: Path) -> None:
    folder = out / "plots"
    drawn = [
        (
            "Optimisation history: each trial's dev score and the best so far",
            _plot(
                lambda: optuna_plots.plot_optimization_history(study),
                folder / "history.png",
                ylabel="dev score",
            ),
        ),
        (
            "Dev score per epoch of every trial (pruned trials stop early)",
            _plot(
                lambda: optuna_plots.plot_intermediate_values(study),
                folder / "intermediate.png",
                xlabel="epoch",
                ylabel="dev score",
            ),
        ),
    ]
    if report.importances:
        drawn.append(
            (
                "Parameter importances (fANOVA over completed trials)",
                _plot(lambda: _importance_bars(report.importances), folder / "importances.png"),
            )
        )
    report.images = [(caption, png) for caption, png in drawn if png is not None]


def build_report(study: optuna.Study, out: Path) -> TuneReport:
    trials = study.get_trials(deepcopy=False)
    counts = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    best = best_trial(study)
    seconds = sum(s for t in trials if (s := _seconds(t)))
    report = TuneReport(
        trials=trials_table(trials),
        best=best,
        best_config=write_best_config(best, out) if best else None,
        best_metrics=best_metrics(best, out) if best else None,
        importances=importances(study),
        counts={k: v for k, v in counts.items() if v},
        trial_seconds=seconds,
    )
    if best is None:
        report.notes.append("no trial completed: no best config")
    if not report.importances:
        report.notes.append(
            f"parameter importances need {MIN_TRIALS_FOR_IMPORTANCE} completed trials "
            "with a common parameter"
        )
    for t in trials:
        if "error" in t.user_attrs:
            report.notes.append(f"trial {t.number} failed: {t.user_attrs['error']}")
    _plots(report, study, out)
    return report


def write_tune_report(study: optuna.Study, out, limit: int) -> TuneReport:
    """Write best_config.yaml, trials.csv, plots/, report.md and report.html into `out`."""
    out = Path(out)
    report = build_report(study, out)
    with (out / "trials.csv").open("w", newline="") as f:
        csv.writer(f).writerows([report.trials[0], *report.trials[1]])
    summary = _summary(report, limit)
    sections = _sections(report)
    md = [f"# {TITLE}", "\n".join(f"- {line}" for line in summary)]
    for title, body in sections:
        md += [f"## {title}", body if isinstance(body, str) else markdown_table(body)]
    md += ["## Plots", *[f"**{c}**\n\n![{p.stem}](plots/{p.name})" for c, p in report.images]]
    (out / "report.md").write_text("\n\n".join(md) + "\n")
    (out / "report.html").write_text(_html(report, summary, sections))
    return report


def _summary(report: TuneReport, limit: int) -> list[str]:
    counts = ", ".join(f"{n} {state}" for state, n in report.counts.items())
    lines = [
        f"trials: {counts} (target {limit} finished)",
        f"time in trials: {report.trial_seconds:.1f} s",
    ]
    if report.best is not None:
        lines.append(f"best: trial {report.best.number}, dev score {report.best.value:.4f}")
    if report.best_config is not None:
        lines.append(f"best config: {report.best_config.name} (ready for `polyhead train`)")
    return lines


def _sections(report: TuneReport) -> list[tuple[str, Table | str]]:
    sections: list[tuple[str, Table | str]] = []
    if report.best is not None:
        best = (["field", "value"], [[k, _fmt(v)] for k, v in report.best.params.items()])
        sections.append(("Best values", best))
    if report.best_metrics:
        sections.append(("Best run's metrics", report.best_metrics))
    sections.append(("Trials", report.trials))
    if report.importances:
        rows = [[k, f"{v:.3f}"] for k, v in report.importances.items()]
        sections.append(("Parameter importances", (["field", "importance"], rows)))
    if report.notes:
        sections.append(("Notes", "\n".join(f"- {n}" for n in report.notes)))
    return sections


def _html(report: TuneReport, summary: list[str], sections) -> str:
    items = "".join(f"<li>{html.escape(s)}</li>" for s in summary)
    parts = [f"<h1>{TITLE}</h1>", f"<ul>{items}</ul>"]
    for title, body in sections:
        parts.append(f"<h2>{html.escape(title)}</h2>")
        if isinstance(body, str):
            lines = "".join(f"<li>{html.escape(s[2:])}</li>" for s in body.splitlines())
            parts.append(f"<ul>{lines}</ul>")
        else:
            parts.append(html_table(body))
    parts.append("<h2>Plots</h2>")
    for caption, png in report.images:
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        parts.append(
            f"<figure><img alt='{html.escape(png.stem)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    body = "\n".join(parts)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{TITLE}</title>"
        f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n"
    )
