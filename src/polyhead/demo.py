"""`make demo`: train the packaged MiniLM on 2,000 real MASSIVE en-US utterances (an intent head
and a slot head; demo_data/README.md gives the source and license), showing the plan and the
final metrics, predict two sentences, and end with the Python lines that load the model."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.syntax import Syntax

import polyhead
from polyhead.cli.app import setup_logging
from polyhead.config import load_config
from polyhead.engine.train import train
from polyhead.report.tables import print_metrics

EXAMPLES = Path(__file__).parent / "examples"
TEXTS = ["wake me up at seven", "play some jazz by miles davis in the kitchen"]


def main(
    overrides: list[str] | None = None,
    run_dir: Path | None = None,
    console: Console | None = None,
) -> Path:
    """Train per examples/demo.yaml (`overrides`: `key.sub=value`, as `--set` takes them) into
    `run_dir` (default: a new temporary folder); returns the run directory."""
    console = console or Console()
    setup_logging()
    cfg = load_config(EXAMPLES / "demo.yaml", overrides)
    run_dir = Path(run_dir or tempfile.mkdtemp(prefix="polyhead-demo-"))
    console.rule("polyhead demo: one MiniLM backbone, an intent head and a slot head")
    console.print(
        "data: 2,000 train / 300 dev / 300 test utterances of Amazon MASSIVE 1.0 en-US "
        "(60 intents and 54 slot types in train; CC BY 4.0)"
    )
    start = time.perf_counter()
    result = train(cfg, run_dir, show_plan=console)
    print_metrics(console, result.metrics)

    # The same call the printed lines below show a user.
    model = polyhead.load(run_dir / "model")
    for text, item in zip(TEXTS, model.predict(TEXTS), strict=True):
        console.print(f"[bold]{text}[/bold]")
        console.print_json(json.dumps(item))
    console.print(f"done in {time.perf_counter() - start:.0f} s; run directory: {run_dir}")
    console.rule("use the model it just trained, in Python")
    console.print(Syntax(load_lines(run_dir / "model"), "python", theme="ansi_dark"))
    return run_dir


def load_lines(artifact: Path) -> str:
    """The three lines that load a trained model and predict with it."""
    return (
        "import polyhead\n"
        f"model = polyhead.load({json.dumps(str(artifact))})\n"
        f"model.predict([{json.dumps(TEXTS[0])}])"
    )


if __name__ == "__main__":
    main()
