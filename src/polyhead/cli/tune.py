"""polyhead tune: hyperparameter search over one config, resumable, with a report."""

from __future__ import annotations

import re
from pathlib import Path

import typer

from polyhead.cli.app import app, console, load_cli_config, setup_logging
from polyhead.errors import ConfigError, PolyheadError

_UNITS = {"h": 3600, "m": 60, "s": 1}


def parse_duration(text: str | None) -> float | None:
    """`2h`, `90m`, `1h30m`, `45s` or plain seconds -> seconds."""
    if text is None:
        return None
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ConfigError("--timeout", f"got {text!r}; use e.g. 2h, 90m, 1h30m, 45s or seconds")
    return sum(float(n) * _UNITS[u] for n, u in parts)


@app.command()
def tune(
    config: Path = typer.Argument(..., help="Run config (YAML); `tune:` overrides the space."),
    trials: int = typer.Option(..., "--trials", min=1, help="Finished trials the study holds."),
    timeout: str = typer.Option(
        None, "--timeout", help="Start no trial after this long, e.g. 2h, 90m, 1h30m."
    ),
    out: Path = typer.Option(None, "--out", help="Tune directory (default runs/tune-<config>)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key.sub=value (repeatable)."),
):
    """Search learning rates, epochs, warmup, dropout, CRF, ... with Optuna (TPE, median
    pruning); every trial is a run directory under OUT/trials/. Re-running the same command
    resumes: finished trials are kept, a trial cut off by a kill runs again."""
    seconds = parse_duration(timeout)
    setup_logging()
    cfg = load_cli_config(config, set_)  # a bad config fails here, before torch loads

    try:
        from polyhead.tune import run_tune
    except ModuleNotFoundError as e:
        if e.name != "optuna":
            raise
        raise PolyheadError("polyhead tune needs Optuna: pip install 'polyhead[tune]'") from None

    out = out or Path("runs") / f"tune-{config.stem}"
    result = run_tune(cfg, out, trials, timeout=seconds)
    report = result.report
    counts = ", ".join(f"{n} {state}" for state, n in report.counts.items())
    console.print(f"trials: {counts} ({result.ran} run now)", soft_wrap=True)
    if report.best is not None:
        console.print(
            f"best: trial {report.best.number}, dev score {report.best.value:.4f}", soft_wrap=True
        )
    if report.best_config is not None:
        console.print(f"best config: {report.best_config}", soft_wrap=True)
    console.print(f"report: {out / 'report.html'}", soft_wrap=True)
    console.print(f"dashboard: {result.dashboard}  (pip install optuna-dashboard)", soft_wrap=True)
