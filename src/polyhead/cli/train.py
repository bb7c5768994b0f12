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

    from polyhead.engine.train import prepare
    from polyhead.plan import plan_json, plan_table

    setup_logging()
    _, _, training_plan = prepare(load_cli_config(config, set_))
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

    from polyhead.engine.faults import is_main_process
    from polyhead.engine.rundir import prepare_run_dir
    from polyhead.engine.train import train as run_training
    from polyhead.report.tables import print_metrics

    run_dir = _run_dir(config, out, resume)
    prepare_run_dir(run_dir, resume=resume is not None)
    result = run_training(cfg, run_dir, resume=resume is not None, show_plan=Console())
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


@app.command()
def evaluate(
    artifact: Path = typer.Argument(..., help="A trained polyhead artifact."),
    data: Path = typer.Option(None, "--data", help="Labelled data in any supported format."),
    fmt: str = typer.Option(None, "--format", help="conll|massive|jsonl|csv|seqio"),
    split: str = typer.Option(None, "--split", help="Only examples of this split."),
    pairs: Path = typer.Option(
        None, "--pairs", help="Sentence pairs (JSONL/CSV): the embedding's Spearman or MRR@10."
    ),
    as_json: bool = typer.Option(False, "--json"),
):
    """Score a trained model on labelled data (unseen labels are counted as errors; label
    retrieval by the embedding per sentence task) and/or its embedding on sentence pairs."""
    import json

    from polyhead.data import read_examples
    from polyhead.data.pairs import read_pairs
    from polyhead.errors import PolyheadError

    if data is None and pairs is None:
        raise PolyheadError("evaluate needs --data (labelled sentences) or --pairs (or both)")
    # bad data fails before the heavy imports
    examples = read_examples(data, format=fmt) if data is not None else None
    if examples is not None and split:
        examples = [ex for ex in examples if ex.split == split]
    pair_list = read_pairs(pairs) if pairs is not None else None

    from polyhead.engine.embedding_eval import evaluate_pairs, examples_retrieval
    from polyhead.engine.evaluation import evaluate_examples
    from polyhead.model.multitask import MultiTaskModel
    from polyhead.report.tables import print_metrics

    model = MultiTaskModel.load(artifact)
    metrics = {}
    if examples is not None:
        labelled = bool(examples) and all(ex.label is not None for ex in examples)
        # an embedding-only model (no head): label retrieval by the embedding only
        out = evaluate_examples(model, examples, where=str(data)) if model.spec.tasks else {}
        if not out and not labelled:
            raise PolyheadError(
                f"{data}: the model has no head and the data no sentence labels to retrieve"
            )
        if labelled and "retrieval" not in out:
            out["retrieval"] = {"label": examples_retrieval(model, examples)}
        metrics["eval"] = out
    if pair_list is not None:
        metrics["pairs"] = {"embedding": evaluate_pairs(model, pair_list)}
    if as_json:
        print(json.dumps(metrics if pair_list is not None else metrics["eval"], indent=2))
    else:
        print_metrics(Console(), metrics)


@app.command()
def predict(
    artifact: Path = typer.Argument(..., help="A trained polyhead artifact."),
    source: str = typer.Argument("-", help="Text file (one per line) or '-' for stdin."),
    embeddings: bool = typer.Option(False, "--embeddings", help="Include the sentence vector."),
    batch_size: int = typer.Option(32, min=1),
    onnx: bool = typer.Option(False, "--onnx", help="ARTIFACT is an ONNX export: onnxruntime."),
):
    """JSON lines: per sentence task {label, score}; per token task its entities."""
    import json

    from polyhead.model.multitask import MultiTaskModel
    from polyhead.predict import Predictor

    texts = read_lines(source)
    if onnx:
        from polyhead.export.runtime import load_predictor

        predictor = load_predictor(str(artifact), onnx=True, batch_size=batch_size)
    else:
        predictor = Predictor(MultiTaskModel.load(artifact), batch_size=batch_size)
    for item in predictor.predict(texts, embeddings=embeddings):
        print(json.dumps(item, ensure_ascii=False))
