"""polyhead plan / train / evaluate / predict."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console

from polyhead.cli.app import VERIFY_HELP, app, console, line_chunks, load_cli_config, setup_logging
from polyhead.errors import PolyheadError

PREDICT_CHUNK = 1024  # lines read, predicted and written at a time


@app.command()
def plan(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key.sub=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable plan on stdout."),
):
    """Show what trains when, at which learning rate, before anything trains."""
    import json

    from polyhead.api import training_plan as build_plan
    from polyhead.engine.rundir import json_safe
    from polyhead.plan import plan_json, plan_table

    setup_logging()
    training_plan = build_plan(load_cli_config(config, set_))
    if as_json:
        print(json.dumps(json_safe(plan_json(training_plan)), indent=2, allow_nan=False))
    else:
        Console().print(plan_table(training_plan))


@app.command()
def train(
    config: Path = typer.Argument(..., help="Run config (YAML)."),
    set_: list[str] = typer.Option(None, "--set", help="Override: key.sub=value (repeatable)."),
    out: Path = typer.Option(None, "--out", help="Run directory (default runs/<config>-<time>)."),
    resume: Path = typer.Option(None, "--resume", help="Continue a stopped run in this directory."),
    allow_changes: bool = typer.Option(
        False, "--allow-changes", help="With --resume: accept a new trainer.epochs."
    ),
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

    if allow_changes and resume is None:
        raise PolyheadError("--allow-changes goes with --resume RUN")

    from polyhead.engine.faults import Interrupted, is_main_process
    from polyhead.engine.rundir import prepare_run_dir, resume_hint
    from polyhead.engine.train import train as run_training
    from polyhead.report.tables import print_metrics

    run_dir = _run_dir(config, out, resume)
    created = not run_dir.exists()
    prepare_run_dir(run_dir, resume=resume is not None)
    try:
        result = run_training(
            cfg,
            run_dir,
            resume=resume is not None,
            show_plan=Console(),
            allow_changes=allow_changes,
        )
    except KeyboardInterrupt:  # outside training (loading, final scoring): still one line
        _drop_if_empty(run_dir, created)
        raise Interrupted(f"interrupted (Ctrl-C); {resume_hint(run_dir)}") from None
    except BaseException:
        _drop_if_empty(run_dir, created)
        raise
    if is_main_process():
        print_metrics(Console(), result.metrics)
        console.print(f"run directory: {result.run_dir}")


def _drop_if_empty(run_dir: Path, created: bool) -> None:
    if created and run_dir.is_dir() and not any(run_dir.iterdir()):
        run_dir.rmdir()  # refused before writing: leave no trace of the attempt


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
    data: Path = typer.Option(None, "--data", help="Labelled data in any supported format."),
    fmt: str = typer.Option(None, "--format", help="conll|massive|jsonl|csv|seqio"),
    split: str = typer.Option(None, "--split", help="Only examples of this split."),
    pairs: Path = typer.Option(
        None, "--pairs", help="Sentence pairs (JSONL/CSV): the embedding's Spearman or MRR@10."
    ),
    revision: str = typer.Option(None, "--revision", help=REVISION_HELP),
    as_json: bool = typer.Option(False, "--json"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help=VERIFY_HELP),
):
    """Score a trained model on labelled data: each of its tasks on the rows that label it
    (`n` says how many; labels the model never saw count as errors; label retrieval by the
    embedding per sentence task) and/or its embedding on sentence pairs (--pairs)."""
    import json

    from polyhead.data import read_examples
    from polyhead.data.pairs import read_pairs
    from polyhead.errors import DataError

    if data is None and pairs is None:
        raise PolyheadError("evaluate needs --data (labelled sentences) or --pairs (or both)")
    # bad data fails before the heavy imports
    examples = None
    if data is not None:
        examples = read_examples(data, format=fmt, split=split)
        if split and all(ex.split is None for ex in examples):
            raise DataError(data, None, f"no split information to select --split {split!r} from")
        if not examples:
            raise DataError(data, None, "no examples to evaluate")
        if all(ex.label is None and ex.tags is None for ex in examples):
            raise DataError(
                data, None, "no labels or tags on any row; evaluate needs labelled data"
            )
    pair_list = read_pairs(pairs) if pairs is not None else None

    from polyhead.engine.embedding_eval import evaluate_pairs, examples_retrieval
    from polyhead.engine.evaluation import evaluate_examples
    from polyhead.engine.rundir import json_safe
    from polyhead.hub import resolve_model
    from polyhead.model.multitask import MultiTaskModel
    from polyhead.report.tables import print_metrics

    model = MultiTaskModel.load(resolve_model(artifact, revision), verify=verify)
    if examples is not None and model.spec.words != "whitespace":
        # a JSONL `text` split into the model's own words
        examples = read_examples(data, format=fmt, split=split, words_mode=model.spec.words)
    metrics = {}
    if examples is not None:
        if model.spec.tasks:  # its heads, and label retrieval per sentence task
            metrics["eval"] = evaluate_examples(model, examples, where=str(data))
        elif all(ex.label is not None for ex in examples):
            # an embedding-only model (no head): label retrieval by the embedding only
            metrics["eval"] = {"retrieval": {"label": examples_retrieval(model, examples)}}
        else:
            raise DataError(data, None, "the model has no head and the data no sentence labels")
    if pair_list is not None:
        metrics["pairs"] = {"embedding": evaluate_pairs(model, pair_list)}
    if as_json:
        shown = metrics if pair_list is not None else metrics["eval"]
        print(json.dumps(json_safe(shown), indent=2, allow_nan=False))
    else:
        print_metrics(Console(), metrics)


@app.command()
def predict(
    artifact: str = typer.Argument(..., help=MODEL_HELP),
    source: str = typer.Argument("-", help="Text file (one per line) or '-' for stdin."),
    embeddings: bool = typer.Option(False, "--embeddings", help="Include the sentence vector."),
    batch_size: int = typer.Option(32, min=1),
    onnx: bool = typer.Option(False, "--onnx", help="ARTIFACT is an ONNX export: onnxruntime."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help=VERIFY_HELP),
    revision: str = typer.Option(None, "--revision", help=REVISION_HELP),
):
    """JSON lines: per sentence task {label, score}; per token task its entities (a value
    that is not a number, NaN, is null)."""
    import json

    from rich.progress import Progress

    from polyhead.engine.rundir import json_safe
    from polyhead.hub import resolve_model
    from polyhead.model.multitask import MultiTaskModel
    from polyhead.predict import Predictor

    if onnx:
        from polyhead.export.runtime import load_predictor

        folder = resolve_model(artifact, revision)
        predictor = load_predictor(folder, onnx=True, batch_size=batch_size)
    else:
        model = MultiTaskModel.load(resolve_model(artifact, revision), verify=verify)
        predictor = Predictor(model, batch_size=batch_size)
    # Streamed: chunks of lines in, JSON lines out as each chunk is done; a progress bar on
    # stderr (the terminal only), so stdout stays pure JSON lines.
    with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("predicting", total=None)
        for texts in line_chunks(source, PREDICT_CHUNK):
            for item in predictor.predict(texts, embeddings=embeddings):
                print(json.dumps(json_safe(item), ensure_ascii=False, allow_nan=False))
            sys.stdout.flush()
            bar.advance(task, len(texts))
