"""polyhead plan / train / evaluate / predict."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from polyhead.cli.app import app, console, load_cli_config, read_lines, setup_logging


@app.command()
def plan(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key.sub=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable plan on stdout."),
):
    """Show what trains when, at which learning rate, before anything trains."""
    import json

    from polyhead.api import training_plan as build_plan
    from polyhead.plan import plan_json, plan_table

    setup_logging()
    training_plan = build_plan(load_cli_config(config, set_))
    if as_json:
        print(json.dumps(plan_json(training_plan), indent=2))
    else:
        Console().print(plan_table(training_plan))


@app.command()
def train(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key.sub=value (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/<config>-<time>)."),
    resume: Path = typer.Option(None, "--resume", help="Continue a killed run in this directory."),
    devices: str = typer.Option(None, "--devices", help="trainer.devices: N, 'auto', or '0,1'."),
    strategy: str = typer.Option(None, "--strategy", help="trainer.strategy: ddp, fsdp, ..."),
    num_nodes: int = typer.Option(None, "--num-nodes", min=1, help="trainer.num_nodes."),
):
    """Train a multi-task model; writes the best artifact, metrics.json, the plan and logs."""
    setup_logging()
    flags = {"devices": devices, "strategy": strategy, "num_nodes": num_nodes}
    extra = [f"trainer.{k}={v}" for k, v in flags.items() if v is not None]
    # a bad config fails here, before the heavy imports below
    cfg = load_cli_config(config, [*(set_ or []), *extra])

    from polyhead.api import train as run_training
    from polyhead.engine.faults import is_main_process
    from polyhead.report.tables import print_metrics

    result = run_training(cfg, out=_run_dir(config, out, resume), resume=resume is not None)
    if is_main_process():
        print_metrics(Console(), result.metrics)
        console.print(f"run directory: {result.run_dir}")


def _run_dir(config: Path, out: Path | None, resume: Path | None) -> Path:
    """--resume, --out, or runs/<config>-<time>. The processes Lightning's DDP launcher starts
    re-run this command later: they inherit the main process's choice (POLYHEAD_RUN_DIR)."""
    import os
    import time

    from polyhead.engine.faults import is_main_process

    inherited = os.environ.get("POLYHEAD_RUN_DIR")
    if inherited and not is_main_process():
        return Path(inherited)
    run_dir = resume or out or Path("runs") / f"{config.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    os.environ["POLYHEAD_RUN_DIR"] = str(run_dir)
    return run_dir


MODEL_HELP = "A trained polyhead model: its folder, or a Hub id (org/name)."
REVISION_HELP = "With a Hub id: a branch, tag or commit."


@app.command()
def evaluate(
    artifact: str = typer.Argument(..., help=MODEL_HELP),
    data: Path = typer.Option(..., "--data", help="Labelled data in any supported format."),
    fmt: str = typer.Option(None, "--format", help="conll|massive|jsonl|csv|seqio"),
    split: str = typer.Option(None, "--split", help="Only examples of this split."),
    revision: str = typer.Option(None, "--revision", help=REVISION_HELP),
    as_json: bool = typer.Option(False, "--json"),
):
    """Score a trained model on labelled data (unseen labels are counted as errors)."""
    import json

    from polyhead.data import read_examples

    examples = read_examples(data, format=fmt)  # bad data fails before the heavy imports
    if split:
        examples = [ex for ex in examples if ex.split == split]

    from polyhead.api import load
    from polyhead.engine.evaluation import evaluate_examples
    from polyhead.report.tables import print_metrics

    metrics = evaluate_examples(load(artifact, revision).module, examples, where=str(data))
    if as_json:
        print(json.dumps(metrics, indent=2))
    else:
        print_metrics(Console(), {"eval": metrics})


@app.command()
def predict(
    artifact: str = typer.Argument(..., help=MODEL_HELP),
    source: str = typer.Argument("-", help="Text file (one per line) or '-' for stdin."),
    embeddings: bool = typer.Option(False, "--embeddings", help="Include the sentence vector."),
    batch_size: int = typer.Option(32, min=1),
    onnx: bool = typer.Option(False, "--onnx", help="ARTIFACT is an ONNX export: onnxruntime."),
    revision: str = typer.Option(None, "--revision", help=REVISION_HELP),
):
    """JSON lines: per sentence task {label, score}; per token task its entities."""
    import json

    from polyhead.hub import resolve_model
    from polyhead.predict import Predictor

    texts = read_lines(source)
    if onnx:
        from polyhead.export.runtime import load_predictor

        folder = resolve_model(artifact, revision)
        predictor = load_predictor(folder, onnx=True, batch_size=batch_size)
    else:
        from polyhead.api import load

        predictor = Predictor(load(artifact, revision).module, batch_size=batch_size)
    for item in predictor.predict(texts, embeddings=embeddings):
        print(json.dumps(item, ensure_ascii=False))
