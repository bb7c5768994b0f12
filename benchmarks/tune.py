"""MASSIVE en-US: `polyhead tune`'s best config, retrained over seeds, vs. the two HF Trainer
models and vs. polyhead's untuned defaults.

1. Tune: `polyhead.tune.run_tune` on intent + slots (minilm, max length 64; the strategy's
   default search space, TPE, median pruning) for `--trials` finished trials or `--timeout`
   seconds, on the first seed. Wall time of the whole tune is reported.
2. Retrain `best_config.yaml` with every seed (only the seed changes), and polyhead's untuned
   defaults (the same data and tasks, every other field left at its default) with the same
   seeds.
3. Baseline: benchmarks/massive.py's `run_baseline` (imported, not copied): an
   AutoModelForSequenceClassification and an AutoModelForTokenClassification trained with
   transformers' Trainer at lr 1e-4, 3 epochs, batch 32, the same seeds and examples.
   (massive.py's Trainer arguments set `use_cpu=True`: on a GPU machine the baseline trains
   on the CPU; its quality, which is what this benchmark compares, does not depend on that.)

All three are scored on the test split with polyhead's metric functions. Target (issue 18):
tuned polyhead >= baseline and >= untuned defaults on intent accuracy, slot F1 and exact frame
accuracy, mean over seeds. The script prints the table and whether each target is met for the
sizes it ran; the tune directory (study.db, report.html, every trial) stays under `--out`.

    .venv/bin/python benchmarks/tune.py --trials 20 --seeds 42 43 44          # full data
    .venv/bin/python benchmarks/tune.py --max-train 2000 --max-dev 500 --trials 10 \\
        --retrain-train 0 --retrain-dev 0 --seeds 42         # tune on a subset, judge at full
    .venv/bin/python benchmarks/tune.py --max-train 64 --max-dev 32 --max-test 32 \\
        --trials 3 --space '{trainer.epochs: {choices: [1]}}' --epochs 1 --seeds 42 43 44
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import massive  # noqa: E402  (the baseline and the data files live there)
from common import format_table, machine, versions, write_json  # noqa: E402
from polyhead.config import RunConfig, load_config, validate_config  # noqa: E402
from polyhead.data.sources import load_splits  # noqa: E402
from polyhead.engine.train import train  # noqa: E402
from polyhead.tune import run_tune  # noqa: E402

METRICS = massive.METRICS  # intent_accuracy, slot_f1, frame_accuracy
SYSTEMS = ("baseline", "polyhead-default", "polyhead-tuned")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-train", type=int, default=None, help="seeded subset (all: 11514)")
    p.add_argument("--max-dev", type=int, default=None, help="seeded subset (all: 2033)")
    p.add_argument("--max-test", type=int, default=None, help="test subset (smoke runs only)")
    p.add_argument("--trials", type=int, default=20, help="finished trials in the study")
    p.add_argument("--timeout", type=float, default=None, help="tune seconds (between trials)")
    p.add_argument("--strategy", default="full", help="the tuned config's plan.strategy")
    p.add_argument("--space", default="{}", help="YAML mapping merged into tune.space")
    p.add_argument("--epochs", type=int, default=3, help="baseline epochs and the tune's base")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--out", default="runs/bench-tune-massive", help="tune dir (resumable)")
    p.add_argument(
        "--retrain-train",
        type=int,
        default=None,
        help="retrain / compare on this many training examples (0: all; default: "
        "the tune's --max-train). A tune on a subset, judged at full size.",
    )
    p.add_argument("--retrain-dev", type=int, default=None, help="as --retrain-train, for dev")
    p.add_argument(
        "--systems",
        nargs="+",
        default=list(SYSTEMS),
        choices=SYSTEMS,
        help="what to retrain (several processes can share one --json by parts)",
    )
    p.add_argument(
        "--retrain-seeds",
        type=int,
        nargs="+",
        default=None,
        help="seeds to retrain with (default: --seeds; the first of --seeds still "
        "draws the subsets and seeds the tune)",
    )
    p.add_argument(
        "--tune-plan",
        default="{}",
        help="YAML merged into the tune config's plan: resume a study begun under "
        "other plan defaults (the seventh session's: head_lr 1e-3, backbone_lr 5e-5,"
        " layer_decay 1.0, warmup_ratio 0.06)",
    )
    p.add_argument(
        "--collect",
        nargs="+",
        default=None,
        metavar="RESULTS_JSON",
        help="train nothing: the table over seeds from results files of separate runs "
        "(tune.py's per_seed; an epochs.py file's `auto` row is polyhead-default for its "
        "--seed and replaces a tune.py one: today's defaults)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--json", default="tune.json", help="file name under benchmarks/results/")
    return p.parse_args(argv)


def base_config(args, source: dict, **sections) -> RunConfig:
    """Intent + slots on MASSIVE with minilm; every other field at polyhead's default unless
    `sections` sets it."""
    raw = {
        "model": {"backbone": "minilm", "max_length": args.max_length},
        "data": source,
        "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        "trainer": {"progress": False},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return validate_config(raw)


def tune_config(args, source: dict) -> RunConfig:
    space = yaml.safe_load(args.space) or {}
    return base_config(
        args,
        source,
        plan={"strategy": args.strategy, **(yaml.safe_load(args.tune_plan) or {})},
        trainer={"progress": False, "epochs": args.epochs, "seed": args.seeds[0]},
        tune={"space": space},
    )


def test_metrics(cfg: RunConfig) -> dict:
    with tempfile.TemporaryDirectory(prefix="polyhead-tune-bench-") as run_dir:
        result = train(cfg, Path(run_dir) / "run")
    test = result.metrics["test"]
    return {
        "intent_accuracy": test["intent"]["accuracy"],
        "slot_f1": test["slots"]["f1"],
        "frame_accuracy": test["frame_accuracy"],
        "fit_s": result.train_seconds,
        "epochs_run": result.plan.epochs,  # `auto` resolved
        "best_epoch": result.best_epoch,
    }


def retrain_source(args, out: Path, source: dict) -> dict:
    """The data the systems are retrained and compared on: the tune's own subset, or (with
    --retrain-train / --retrain-dev) another seeded subset or all of it, under OUT/retrain."""
    if args.retrain_train is None and args.retrain_dev is None:
        return source
    sizes = argparse.Namespace(
        max_train=args.max_train if args.retrain_train is None else args.retrain_train or None,
        max_dev=args.max_dev if args.retrain_dev is None else args.retrain_dev or None,
        max_test=args.max_test,
    )
    folder = out / "retrain"
    folder.mkdir(exist_ok=True)
    return massive.subset_files(folder, sizes, args.seeds[0])


def with_source(cfg: RunConfig, source: dict) -> RunConfig:
    raw = cfg.model_dump()
    raw["data"] = {**raw["data"], **source}
    return validate_config(raw)


def with_seed(cfg: RunConfig, seed: int) -> RunConfig:
    raw = cfg.model_dump()
    raw["trainer"]["seed"] = seed
    return validate_config(raw)


def baseline_args(args) -> argparse.Namespace:
    """What massive.run_baseline reads: the issue's recipe (lr 1e-4, batch 32)."""
    return argparse.Namespace(
        epochs=args.epochs, batch_size=32, lr=1e-4, max_length=args.max_length
    )


def summarise(per_seed: dict) -> dict:
    summary = {}
    for system in SYSTEMS:
        runs = [per_seed[s][system] for s in per_seed if system in per_seed[s]]
        if not runs:
            continue
        row = {}
        for key in (*METRICS, "fit_s"):
            values = [r[key] for r in runs]
            row[key] = statistics.mean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        summary[system] = row
    tuned = summary.get("polyhead-tuned")
    for other in ("baseline", "polyhead-default"):
        if tuned and other in summary:
            tuned[f">= {other}"] = all(tuned[m] >= summary[other][m] for m in METRICS)
    return summary


def collect(paths: list[str]) -> dict:
    """{seed: {system: metrics}} merged from results files (see --collect); epochs.py files
    are applied last, so their polyhead-default wins whatever the order given."""
    per_seed: dict = {}
    files = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    for data in sorted(files, key=lambda d: "by_epochs" in d):
        if "by_epochs" in data:  # benchmarks/epochs.py
            row = per_seed.setdefault(int(data["args"]["seed"]), {})
            row["polyhead-default"] = data["by_epochs"]["auto"]
        else:
            for seed, systems in data["per_seed"].items():
                per_seed.setdefault(int(seed), {}).update(systems)
    return per_seed


def print_summary(summary: dict) -> None:
    cols = ["system", *(c for m in METRICS for c in (m, f"{m}_std")), "fit_s"]
    print(format_table([{"system": k, **v} for k, v in summary.items()], cols))
    for key in (">= baseline", ">= polyhead-default"):
        if key in summary.get("polyhead-tuned", {}):
            print(f"tuned {key} on all three metrics: {summary['polyhead-tuned'][key]}")


def quiet_logs() -> None:
    """polyhead's INFO lines (the tune's trials) without Lightning's and transformers'."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.collect:
        per_seed = collect(args.collect)
        summary = summarise(per_seed)
        print(f"seeds: {sorted(per_seed)}")
        print_summary(summary)
        path = write_json(args.json, {"args": vars(args), "per_seed": per_seed, "summary": summary})
        print(f"wrote {path}")
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    quiet_logs()
    info = {"machine": machine(), "args": vars(args)}
    info["versions"] = versions("polyhead", "torch", "transformers", "lightning", "optuna")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # One data subset (by the first seed) for every system and seed: the same examples.
    source = massive.subset_files(out, args, args.seeds[0])
    cfg = tune_config(args, source)

    start = time.perf_counter()
    tuned = run_tune(cfg, out / "study", args.trials, timeout=args.timeout)
    info["tune"] = {
        "wall_s": time.perf_counter() - start,  # this call's (0 work when resumed complete)
        "trial_seconds": tuned.report.trial_seconds,
        "counts": tuned.report.counts,
        "ran_now": tuned.ran,
        "best_trial": tuned.report.best.number if tuned.report.best else None,
        "best_dev_score": tuned.report.best.value if tuned.report.best else None,
        "best_params": tuned.report.best.params if tuned.report.best else None,
    }
    print(f"tune: {info['tune']}", flush=True)
    if tuned.report.best_config is None:
        sys.exit("no trial completed: nothing to retrain")
    source = retrain_source(args, out, source)
    best = with_source(load_config(tuned.report.best_config), source)
    default = base_config(args, source)
    splits = load_splits(default.source("intent"), args.seeds[0])
    info["retrain_sizes"] = {split: len(rows) for split, rows in splits.items()}
    per_seed: dict = {}
    for seed in args.retrain_seeds or args.seeds:
        row = per_seed.setdefault(seed, {})
        if "polyhead-tuned" in args.systems:
            row["polyhead-tuned"] = test_metrics(with_seed(best, seed))
        if "polyhead-default" in args.systems:
            row["polyhead-default"] = test_metrics(with_seed(default, seed))
        if "baseline" in args.systems:
            row["baseline"] = massive.run_baseline(splits, baseline_args(args), seed)
        print(f"[seed {seed}] {row}", flush=True)
        write_json(args.json, {**info, "per_seed": per_seed})
    summary = summarise(per_seed)
    print_summary(summary)
    print(f"tuning wall time: {info['tune']['wall_s']:.1f} s ({info['tune']['counts']})")
    info.update(per_seed=per_seed, summary=summary)
    print(f"wrote {write_json(args.json, info)}")


if __name__ == "__main__":
    main()
