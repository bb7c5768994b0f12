"""`make demo`: train the default model with `gradual` on the shipped intent + slot data,
show the plan, per-epoch progress and final metrics, then predict two sentences."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

EXAMPLES = Path(__file__).parent / "examples"


def main() -> None:
    from polyhead.cli.app import setup_logging
    from polyhead.config import load_config
    from polyhead.engine.train import train
    from polyhead.predict import Predictor
    from polyhead.report.tables import print_metrics

    console = Console()
    setup_logging()
    cfg = load_config(EXAMPLES / "demo.yaml")
    run_dir = Path(tempfile.mkdtemp(prefix="polyhead-demo-"))
    console.rule("polyhead demo: one MiniLM backbone, an intent head and a slot head")
    start = time.perf_counter()
    result = train(cfg, run_dir, show_plan=console)
    print_metrics(console, result.metrics)
    from polyhead.model.multitask import MultiTaskModel

    predictor = Predictor(MultiTaskModel.load(run_dir / "model"))
    for item in predictor.predict(["wake me up at seven am tomorrow", "play jazz by adele"]):
        console.print_json(json.dumps(item))
    console.print(f"done in {time.perf_counter() - start:.0f} s; run directory: {run_dir}")


if __name__ == "__main__":
    main()
