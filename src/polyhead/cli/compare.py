"""polyhead compare: strategies x seeds on one config, with a report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polyhead.cli.app import app, console, load_cli_config, setup_logging


@app.command()
def compare(
    config: Path = typer.Argument(
        ..., help="Run config (YAML); its `compare:` section gives defaults."
    ),
    strategies: str = typer.Option(
        None, "--strategies", help="Comma-separated, e.g. frozen,heads,lora,top-k,gradual,full."
    ),
    seeds: int = typer.Option(
        None, "--seeds", min=1, help="Runs per strategy (seed, seed+1, ...)."
    ),
    out: Path = typer.Option(
        None, "--out", help="Report directory (default runs/compare-<config>)."
    ),
    set_: list[str] = typer.Option(None, "--set", help="Override: key.sub=value (repeatable)."),
    in_process: bool = typer.Option(
        False, "--in-process", help="Train in this process (faster start; peak memory is shared)."
    ),
):
    """Train each strategy for each seed, then write table.csv, plots, report.md and
    report.html. Re-running the same command resumes: finished runs are not redone."""
    from polyhead.api import compare_strategies
    from polyhead.errors import ConfigError

    setup_logging()
    names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None
    # The strategy names are checked once, by the config: as compare.strategies.
    overrides = [*(set_ or []), *([f"compare.strategies=[{','.join(names)}]"] if names else [])]
    try:
        cfg = load_cli_config(config, overrides)
    except ConfigError as e:  # name the flag the user typed, not the config field it fills
        if names and e.field.startswith("compare.strategies"):
            raise ConfigError("--strategies", str(e).split(": ", 1)[1]) from None
        raise
    out = out or Path("runs") / f"compare-{config.stem}"

    def show(o):
        console.print(f"{o.name}: {o.status}" + (f" ({o.reason})" if o.reason else ""))

    n_seeds = seeds or cfg.compare.seeds
    ran = ", ".join(cfg.compare.strategies)
    header = f"config: {config.name}; strategies: {ran}; seeds: {n_seeds}"
    _, report = compare_strategies(
        cfg, out=out, seeds=seeds, isolate=not in_process, header=header, on_event=show
    )
    table = Table(title="strategy comparison (mean ± std over seeds)")
    for h in report.summary[0]:
        table.add_column(h)
    for row in report.summary[1]:
        table.add_row(*row)
    Console().print(table)
    for note in report.notes:
        console.print(note)
    console.print(f"report: {out / 'report.html'}")
