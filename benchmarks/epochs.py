"""polyhead's untuned defaults at several epoch counts, `auto` among them (issue 18, part 3:
does a small training set need more steps, and does `trainer.epochs: auto` give them?).

Every field is polyhead's default except `trainer.epochs` (and the data, tasks, backbone and
max length). `--dataset massive`: intent + slots on tune.py's seeded MASSIVE subset (the same
examples), full test split. `--dataset wnut`: WNUT-17 entities alone, `--dataset banking`:
BANKING77 intents alone (multidata.py's sources: WNUT-17 dev / test files, BANKING77's test
file and a seeded 10 % dev carve), `--max-train` training examples (0: all).

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/epochs.py --max-train 2000 --max-dev 500 \\
        --epochs 10 6 --seed 42 --threads 1 --out /tmp/t18/tune
    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/epochs.py --dataset wnut --max-train 0 \\
        --max-dev 0 --epochs 3 auto --threads 1 --json epochs-wnut.json
    # the same with other plan settings (e.g. the MASSIVE tune's learning rates)
    ... --plan '{head_lr: 8.0e-3, backbone_lr: 2.0e-4, layer_decay: 0.85, warmup_ratio: 0.2}'
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import massive  # noqa: E402
import multidata  # noqa: E402
import tune  # noqa: E402
from common import machine, write_json  # noqa: E402
from polyhead.config import validate_config  # noqa: E402
from polyhead.engine.train import train  # noqa: E402

TASKS = {"wnut": "entities", "banking": "intent"}


def epochs_value(text: str) -> int | str:
    return text if text == "auto" else int(text)


def single_task(args, epochs) -> dict:
    """One task of multidata.py's sources at every default but epochs, with its test scores."""
    task = TASKS[args.dataset]
    sizes = argparse.Namespace(train=args.max_train or None, eval=args.max_dev or None)
    raw = {
        "model": {"backbone": "minilm", "max_length": 64},
        "tasks": {task: multidata.sources(sizes)[task]},
        "trainer": {"progress": False, "epochs": epochs, "seed": args.seed},
        "plan": yaml.safe_load(args.plan) or {},
    }
    with tempfile.TemporaryDirectory(prefix="polyhead-epochs-") as run_dir:
        result = train(validate_config(raw), Path(run_dir) / "run")
    test = result.metrics["test"][task]
    return {**{k: test[k] for k in ("accuracy", "macro_f1", "f1") if k in test},
            "epochs_run": result.plan.epochs, "best_epoch": result.best_epoch,
            "fit_s": result.train_seconds}  # fmt: skip


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["massive", *TASKS], default="massive")
    p.add_argument("--max-train", type=int, default=2000, help="0: every training example")
    p.add_argument("--max-dev", type=int, default=500, help="0: every dev example")
    p.add_argument("--epochs", type=epochs_value, nargs="+", default=[3, 6, 10])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--plan", default="{}", help="YAML mapping merged into every run's plan")
    p.add_argument(
        "--tasks",
        default="{}",
        help="massive: YAML mapping of task entries that replace the defaults, e.g. "
        "'{slots: {kind: token, crf: true}}'",
    )
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="runs/bench-tune-massive", help="tune.py's --out: same subset")
    p.add_argument("--json", default="epochs-massive.json")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.dataset == "massive":
        targs = tune.parse_args(
            ["--max-train", str(args.max_train), "--max-dev", str(args.max_dev), "--out",
             args.out, "--seeds", str(args.seed)]
        )  # fmt: skip
        Path(args.out).mkdir(parents=True, exist_ok=True)
        source = massive.subset_files(Path(args.out), targs, args.seed)
    rows = {}
    for epochs in args.epochs:
        if args.dataset == "massive":
            trainer = {"progress": False, "epochs": epochs, "seed": args.seed}
            plan = yaml.safe_load(args.plan) or {}
            tasks = yaml.safe_load(args.tasks) or {}
            cfg = tune.base_config(targs, source, trainer=trainer, plan=plan, tasks=tasks)
            rows[epochs] = tune.test_metrics(cfg)
        else:
            rows[epochs] = single_task(args, epochs)
        print(epochs, rows[epochs], flush=True)
        write_json(args.json, {"machine": machine(), "args": vars(args), "by_epochs": rows})


if __name__ == "__main__":
    main()
