"""Separate datasets per task, the frozen-head guard, and LoRA, on BANKING77 + WNUT-17.

    python benchmarks/multidata.py --train 500 --eval 300 --epochs 2      # what BENCHMARKS.md shows

Runs, each in its own subprocess (peak RSS = resource.getrusage maxrss of that process):

  single-intent / single-entities   one model per task (full fine-tuning)
  joint-proportional / -temperature one model, both tasks, batches of one source each
  freeze-head / +preserve           start from single-intent's model, freeze its intent head,
                                    train entities (intent loss weight 0): the intent drift,
                                    without and with `preserve: [intent]`
  joint-lora / joint-heads          LoRA (r=8 on query,value) and heads-only, vs. joint full

Prints a table (test metrics from the best dev epoch, trainable parameters, peak memory,
training time) and ratios against the baseline measured in the same run (the single-task
models for the joint rows; joint full for LoRA/heads). Data: ../shared/data (read-only);
`--train` / `--eval` subsample each source (seeded), so the numbers are small-budget numbers.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def sources(args) -> dict:
    banking, wnut = DATA / "banking77", DATA / "wnut17"
    sub = {"max_train_examples": args.train, "max_eval_examples": args.eval}
    return {
        "intent": {
            "kind": "sentence",
            "data": {
                "train": str(banking / "train.csv"),
                "test": str(banking / "test.csv"),
                "label_field": "category",
                "dev_fraction": 0.1,
                **sub,
            },
        },
        "entities": {
            "kind": "token",
            "data": {
                "train": str(wnut / "wnut17train.conll"),
                "dev": str(wnut / "emerging.dev.conll"),
                "test": str(wnut / "emerging.test.annotated"),
                "format": "conll",
                **sub,
            },
        },
    }


def base_config(args, tasks: list[str]) -> dict:
    every = sources(args)
    return {
        "model": {"backbone": "minilm", "max_length": args.max_length},
        "tasks": {t: every[t] for t in tasks},
        "plan": {"strategy": "full", "head_lr": args.head_lr, "backbone_lr": args.backbone_lr},
        "trainer": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "patience": None,
            "progress": False,
            "seed": args.seed,
        },
    }


def with_(raw: dict, **sections) -> dict:
    out = json.loads(json.dumps(raw))
    for key, value in sections.items():
        out[key] = {**out.get(key, {}), **value}
    return out


def runs(args, root: Path) -> list[tuple[str, dict]]:
    both = base_config(args, ["intent", "entities"])
    guard_tasks = {
        "intent": {**sources(args)["intent"], "loss_weight": 0.0},
        "entities": sources(args)["entities"],
    }
    freeze = with_(
        both,
        model={"backbone": str(root / "single-intent" / "model"), "max_length": args.max_length},
        tasks=guard_tasks,
        plan={"strategy": "freeze-head", "frozen_heads": ["intent"]},
    )
    cache = {"dir": str(root / "cache")}  # heads: backbone features computed once
    return [
        ("single-intent", base_config(args, ["intent"])),
        ("single-entities", base_config(args, ["entities"])),
        ("joint-proportional", with_(both, trainer={"sampling": "proportional"})),
        ("joint-temperature", with_(both, trainer={"sampling": "temperature", "temperature": 2})),
        ("freeze-head", freeze),
        ("freeze-head+preserve", with_(freeze, trainer={"preserve": ["intent"]})),
        ("joint-lora", with_(both, plan={"strategy": "lora", "lora_lr": args.lora_lr})),
        ("joint-heads", with_(both, plan={"strategy": "heads"}, features={"cache": cache})),
    ]


def run_one(raw: dict, run_dir: str) -> dict:
    """In the child process: train, then report metrics, trainable params and peak RSS."""
    from polyhead.config import validate_config
    from polyhead.engine.train import train

    start = time.perf_counter()
    result = train(validate_config(raw), run_dir)
    plan = json.loads((Path(run_dir) / "plan.json").read_text())
    return {
        "metrics": result.metrics,
        "trainable": max(p["trainable_params"] for p in plan["phases"]),
        "total_params": sum(g["n_params"] for g in plan["groups"]),
        "train_seconds": result.train_seconds,
        "wall_seconds": time.perf_counter() - start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def spawn(name: str, raw: dict, root: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", json.dumps(raw), str(root / name)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_metric(r: dict, task: str) -> float | None:
    m = r["metrics"].get("test", {}).get(task)
    return None if m is None else m["accuracy" if task == "intent" else "f1"]


def fmt(x, spec=".3f") -> str:
    return "-" if x is None else format(x, spec)


def table(results: dict[str, dict]) -> str:
    head = (
        "| run | intent acc (test) | entity F1 (test) | intent drift: start → best (drop, pts) "
        "| trainable params | peak RSS MB | train s |\n|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for name, r in results.items():
        drift = r["metrics"].get("drift", {}).get("intent")
        d = (
            "-"
            if not drift
            else f"{drift['start']:.3f} → {drift['best']:.3f} ({drift['drop']:+.1f})"
        )
        lines.append(
            f"| {name} | {fmt(test_metric(r, 'intent'))} | {fmt(test_metric(r, 'entities'))} | {d} "
            f"| {r['trainable']:,} | {r['peak_rss_mb']:.0f} | {r['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def ratios(results: dict[str, dict]) -> list[str]:
    out = []
    single = results.get("single-intent"), results.get("single-entities")
    if all(single):
        t_single = sum(r["train_seconds"] for r in single)
        for name in ("joint-proportional", "joint-temperature"):
            if name in results:
                r = results[name]
                acc = [fmt(test_metric(x, "intent")) for x in (r, single[0])]
                f1 = [fmt(test_metric(x, "entities")) for x in (r, single[1])]
                out.append(
                    f"{name}: time {r['train_seconds'] / t_single:.2f}x two single-task models; "
                    f"intent {acc[0]} vs {acc[1]}, entities {f1[0]} vs {f1[1]}"
                )
    full = results.get("joint-proportional")
    for name in ("joint-lora", "joint-heads"):
        if full and name in results:
            r = results[name]
            out.append(
                f"{name} vs joint full: trainable {r['trainable'] / full['trainable']:.4f}x, "
                f"peak RSS {r['peak_rss_mb'] / full['peak_rss_mb']:.2f}x, "
                f"time {r['train_seconds'] / full['train_seconds']:.2f}x"
            )
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(run_one(json.loads(sys.argv[2]), sys.argv[3])))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", type=int, default=500, help="training examples per source")
    p.add_argument("--eval", type=int, default=300, help="dev and test examples per source")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=48)
    p.add_argument("--head-lr", type=float, default=3e-3)
    p.add_argument("--backbone-lr", type=float, default=1e-4)
    p.add_argument("--lora-lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--only", default="", help="comma-separated run names")
    p.add_argument("--out", type=Path, default=None, help="keep run directories here")
    p.add_argument("--json", type=Path, default=None, help="write all results as JSON")
    args = p.parse_args()
    root = args.out or Path(tempfile.mkdtemp(prefix="multidata-"))
    wanted = set(filter(None, args.only.split(",")))
    results = {}
    for name, raw in runs(args, root):
        if wanted and name not in wanted:
            continue
        results[name] = spawn(name, raw, root)
        print(f"{name}: done in {results[name]['wall_seconds']:.0f}s", file=sys.stderr, flush=True)
    print(table(results))
    print()
    for line in ratios(results):
        print("- " + line)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
