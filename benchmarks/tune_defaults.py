"""Tunes that set polyhead's defaults beyond MASSIVE `full` (issue 18, part 3): per strategy
(`heads`, `lora` on MASSIVE intent + slots) and per dataset (BANKING77 intents + WNUT-17
entities, separate datasets on one backbone, `full`).

1. Tune: `polyhead.tune.run_tune` on the setting's config (minilm, max length 64, every
   other field at today's default; the strategy's default search space) for `--trials`
   finished trials on seeded subsets (`--max-train` / `--max-dev` per source).
2. Retrain the best config and today's defaults (the same config without the tuned fields)
   with every `--seeds`, on the same training subset (MASSIVE: the same examples; per-task
   sources subsample by the seed), scored on the full dev and test split(s).

The tune directory (study.db, report.html, every trial) stays under `--out`; a rerun resumes.

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/tune_defaults.py --setting massive-heads \\
        --max-train 2000 --max-dev 500 --trials 10 --out /tmp/tune-heads --threads 1 \\
        --json tune-defaults-massive-heads.json
    # also --setting massive-lora, --setting banking-wnut (--max-train per source);
    # --space '{plan.head_lr: {low: 1.0e-3, high: 5.0e-2, log: true}}' widens a range;
    # --trials-only writes a stopped tune's trials (same --setting / --out) without training
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import massive  # noqa: E402
import multidata  # noqa: E402
import tune  # noqa: E402
from common import format_table, machine, versions, write_json  # noqa: E402
from polyhead.config import RunConfig, load_config, validate_config  # noqa: E402
from polyhead.engine.train import train  # noqa: E402
from polyhead.tune import run_tune  # noqa: E402
from polyhead.tune.study import STUDY_NAME, storage_url  # noqa: E402

SETTINGS = ("massive-heads", "massive-lora", "massive-full", "banking-wnut")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--setting", choices=SETTINGS, required=True)
    p.add_argument("--max-train", type=int, default=2000, help="per source (0: all)")
    p.add_argument("--max-dev", type=int, default=500, help="per source (0: all)")
    p.add_argument("--trials", type=int, default=10, help="finished trials in the study")
    p.add_argument("--timeout", type=float, default=None, help="tune seconds (between trials)")
    p.add_argument("--space", default="{}", help="YAML mapping merged into tune.space")
    p.add_argument("--seeds", type=int, nargs="+", default=[42], help="the first tunes")
    p.add_argument("--out", required=True, help="tune dir (resumable) and MASSIVE subsets")
    p.add_argument(
        "--trials-only",
        action="store_true",
        help="train nothing: write the trials of the study under --out as they stand "
        "(a stopped tune; the study is read as it is, whatever today's defaults)",
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--json", default="tune-defaults.json", help="file under benchmarks/results/")
    return p.parse_args(argv)


def setting_config(args, out: Path) -> RunConfig:
    """The setting's config with today's defaults: only data, tasks, backbone, strategy."""
    if args.setting != "banking-wnut":
        strategy = args.setting.removeprefix("massive-")
        targs = tune.parse_args(["--out", str(out), "--seeds", str(args.seeds[0])])
        targs.max_train, targs.max_dev = args.max_train or None, args.max_dev or None
        source = massive.subset_files(out, targs, args.seeds[0])
        return tune.base_config(targs, source, plan={"strategy": strategy})
    sizes = argparse.Namespace(train=args.max_train or None, eval=args.max_dev or None)
    raw = {
        "model": {"backbone": "minilm", "max_length": 64},
        "tasks": multidata.sources(sizes),  # intent: BANKING77, entities: WNUT-17
        "plan": {"strategy": "full"},
        "trainer": {"progress": False},
    }
    return validate_config(raw)


def for_test(cfg: RunConfig, seed: int) -> RunConfig:
    """`cfg` with another seed, and the full dev / test splits of per-task sources (their
    `max_eval_examples` subsets the test split too; the tune judged on the subset)."""
    raw = cfg.model_dump()
    raw["trainer"]["seed"] = seed
    for task in raw["tasks"].values():
        if task.get("data"):
            task["data"]["max_eval_examples"] = None
    return validate_config(raw)


def test_scores(cfg: RunConfig) -> dict:
    """Test accuracy of every sentence task, entity F1 of every token task (and MASSIVE's
    exact frame accuracy), x 100."""
    with tempfile.TemporaryDirectory(prefix="polyhead-tune-defaults-") as run_dir:
        result = train(cfg, Path(run_dir) / "run")
    test, row = result.metrics["test"], {}
    for name, task in cfg.tasks.items():
        key = "accuracy" if task.kind == "sentence" else "f1"
        row[f"{name}_{key}"] = 100 * test[name][key]
    if "frame_accuracy" in test:
        row["frame_accuracy"] = 100 * test["frame_accuracy"]
    row.update(epochs_run=result.plan.epochs, best_epoch=result.best_epoch,
               fit_s=result.train_seconds)  # fmt: skip
    return row


def study_trials(out: Path) -> list[dict]:
    """Every trial of the study under `out`: number, state, dev score, sampled values."""
    study = optuna.load_study(study_name=STUDY_NAME, storage=storage_url(out / "study"))
    return [
        {"number": t.number, "state": t.state.name, "value": t.value, "params": t.params}
        for t in study.trials
    ]


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.trials_only:
        trials = study_trials(Path(args.out))
        for t in trials:
            print(t["number"], t["state"], t["value"])
        print(f"wrote {write_json(args.json, {'args': vars(args), 'trials': trials})}")
        return
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tune.quiet_logs()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine(), "args": vars(args)}
    info["versions"] = versions("polyhead", "torch", "transformers", "lightning", "optuna")
    default = setting_config(args, out)
    base = default.model_dump()
    base["trainer"]["seed"] = args.seeds[0]
    base["tune"]["space"] = yaml.safe_load(args.space) or {}
    start = time.perf_counter()
    tuned = run_tune(validate_config(base), out / "study", args.trials, timeout=args.timeout)
    report = tuned.report
    info["tune"] = {
        "wall_s": time.perf_counter() - start,  # this call's (0 work when resumed complete)
        "trial_seconds": report.trial_seconds,
        "counts": report.counts,
        "best_trial": report.best.number if report.best else None,
        "best_dev_score": report.best.value if report.best else None,
        "best_params": report.best.params if report.best else None,
    }
    print(f"tune: {info['tune']}", flush=True)
    if report.best_config is None:
        sys.exit("no trial completed: nothing to retrain")
    best = load_config(report.best_config)
    per_seed: dict = {}
    for seed in args.seeds:
        per_seed[seed] = {
            "tuned": test_scores(for_test(best, seed)),
            "default": test_scores(for_test(default, seed)),
        }
        print(f"[seed {seed}] {per_seed[seed]}", flush=True)
        write_json(args.json, {**info, "per_seed": per_seed})
    rows = []
    for system in ("default", "tuned"):
        runs = [per_seed[s][system] for s in per_seed]
        rows.append({"system": system} | {
            k: round(statistics.mean(r[k] for r in runs), 2) for k in runs[0]})  # fmt: skip
    print(format_table(rows, list(rows[0])))
    info.update(per_seed=per_seed, summary=rows)
    print(f"wrote {write_json(args.json, info)}")


if __name__ == "__main__":
    main()
