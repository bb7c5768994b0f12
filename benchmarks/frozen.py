"""Frozen backbones: what the feature cache buys, against what a user does today.

    python benchmarks/frozen.py                      # MASSIVE en-US + BANKING77, all parts
    python benchmarks/frozen.py --max-train 2000 --max-eval 500 --parts frozen,heads

Parts (each on the same examples, default model minilm, both sides in this process):
  frozen   polyhead `strategy: frozen` (features + logistic regression, a full run with the
           artifact and metrics) vs sentence-transformers `encode` + scikit-learn
           LogisticRegression: test accuracy and wall time. "fit" is features of the
           training set (cold cache) + classifier (ST: model load + encode + fit); "total"
           adds, for polyhead, saving the artifact and scoring dev and test with the reloaded
           artifact, and for ST, encoding and predicting the test set.
  heads    `strategy: heads` for --epochs epochs, feature cache off vs on (a fresh cache
           folder, so the cached run pays for building it in epoch 0): seconds per epoch
           (training + validation), total, and metrics.
  gradual  `strategy: gradual` (heads first, then one block per --unfreeze-every epochs)
           with the whole cache off vs on (final features while only heads train, then the
           hidden states at the frozen/trainable boundary): total time and metrics.

`--max-train` / `--max-eval` take seeded random subsets (the same for both sides) so a run
fits a slow shared machine; the command and sizes are printed with the results.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"


# ---- data -------------------------------------------------------------------------------
def _sample(items: list, n: int | None, seed: int) -> list:
    if n is None or len(items) <= n:
        return items
    idx = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in idx]


def load_dataset(name: str, max_train, max_eval, seed: int) -> dict[str, list]:
    """train / dev / test Examples; BANKING77 has no dev split: 10% of train, seeded."""
    from polyhead.data import read_examples

    if name == "massive":
        examples = read_examples(DATA / "massive_en_us" / "en-US.jsonl", format="massive")
        splits = {s: [ex for ex in examples if ex.split == s] for s in ("train", "dev", "test")}
    else:
        train = read_examples(DATA / "banking77" / "train.csv")
        test = read_examples(DATA / "banking77" / "test.csv")
        random.Random(seed).shuffle(train)
        n_dev = len(train) // 10
        splits = {"train": train[n_dev:], "dev": train[:n_dev], "test": test}
    return {
        "train": _sample(splits["train"], max_train, seed),
        "dev": _sample(splits["dev"], max_eval, seed),
        "test": _sample(splits["test"], max_eval, seed),
    }


def text_of(ex) -> str:
    return ex.text or " ".join(ex.tokens)


def write_jsonl(splits: dict, folder: Path, with_tags: bool) -> dict[str, str]:
    """The chosen examples as generic JSONL files, so polyhead reads exactly these."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, examples in splits.items():
        path = folder / f"{split}.jsonl"
        with path.open("w") as f:
            for ex in examples:
                row = {"tokens": ex.tokens, "label": ex.label}
                if with_tags:
                    row["tags"] = ex.tags
                f.write(json.dumps(row) + "\n")
        paths[split] = str(path)
    return paths


# ---- polyhead runs ----------------------------------------------------------------------
class EpochTimer:
    """Seconds per epoch, from training start to the end of that epoch's validation."""

    def __new__(cls):
        import lightning.pytorch as pl

        class _Timer(pl.Callback):
            def __init__(self):
                self.seconds: list[float] = []
                self._start = 0.0

            def on_train_epoch_start(self, trainer, pl_module):
                self._start = time.perf_counter()

            def on_validation_end(self, trainer, pl_module):
                if not trainer.sanity_checking:
                    self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def run_polyhead(args, files, tasks, plan, epochs, cache, out_dir: Path) -> dict:
    from polyhead.config import validate_config
    from polyhead.engine.train import train

    cfg = validate_config(
        {
            "model": {"backbone": "minilm", "max_length": args.max_length},
            "data": files,
            "tasks": tasks,
            "plan": plan,
            "trainer": {
                "epochs": epochs,
                "batch_size": args.batch_size,
                "eval_batch_size": 128,
                "patience": None,
                "progress": False,
                "seed": args.seed,
            },
            "features": {"cache": cache},
        }
    )
    timer = EpochTimer()
    start = time.perf_counter()
    result = train(cfg, out_dir, extra_callbacks=[timer])
    total = time.perf_counter() - start
    return {
        "total_s": total,
        "fit_s": result.train_seconds,
        "epoch_s": timer.seconds,
        "metrics": {k: result.metrics.get(k) for k in ("dev", "test")},
    }


def _main_metric(metrics: dict, split: str = "test") -> dict:
    m = metrics.get(split) or {}
    out = {"intent_acc": m.get("intent", {}).get("accuracy")}
    if "slots" in m:
        out["slots_f1"] = m["slots"]["f1"]
    return out


# ---- parts --------------------------------------------------------------------------------
def part_frozen(args, name, splits, work: Path) -> dict:
    """polyhead frozen + LR vs sentence-transformers encode + LR on the intent task."""
    import numpy as np
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression

    from polyhead.model.backbone import default_model_path

    files = write_jsonl(splits, work / "data-intent", with_tags=False)
    ours = run_polyhead(
        args,
        files,
        {"intent": {"kind": "sentence"}},
        {"strategy": "frozen"},
        1,
        {"dir": str(work / "cache-frozen")},
        work / "run-frozen",
    )
    start = time.perf_counter()
    st = SentenceTransformer(str(default_model_path()), device="cpu")
    st.max_seq_length = args.max_length
    X = st.encode([text_of(ex) for ex in splits["train"]], batch_size=64)
    y = [ex.label for ex in splits["train"]]
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    base_fit_s = time.perf_counter() - start
    Xt = st.encode([text_of(ex) for ex in splits["test"]], batch_size=64)
    pred = clf.predict(Xt)
    base_s = time.perf_counter() - start
    gold = np.array([ex.label for ex in splits["test"]])
    base_acc = float((pred == gold).mean())
    return {
        "dataset": name,
        "polyhead_fit_s": ours["fit_s"],
        "polyhead_total_s": ours["total_s"],
        "polyhead_frozen_test_acc": _main_metric(ours["metrics"])["intent_acc"],
        "st_lr_fit_s": base_fit_s,
        "st_lr_total_s": base_s,
        "st_lr_test_acc": base_acc,
        "fit_time_ratio": ours["fit_s"] / base_fit_s,
    }


def part_heads(args, name, splits, work: Path) -> dict:
    with_tags = name == "massive"
    files = write_jsonl(splits, work / "data", with_tags=with_tags)
    tasks = {"intent": {"kind": "sentence"}}
    if with_tags:
        tasks["slots"] = {"kind": "token"}
    plan = {"strategy": "heads", "head_lr": 3e-3}
    runs = {}
    for mode, cache in (("uncached", {"enabled": False}), ("cached", {"dir": str(work / "c")})):
        runs[mode] = run_polyhead(
            args, files, tasks, plan, args.epochs, cache, work / f"heads-{mode}"
        )
    u, c = runs["uncached"], runs["cached"]
    u_later = sum(u["epoch_s"][1:]) / max(1, len(u["epoch_s"]) - 1)
    c_later = sum(c["epoch_s"][1:]) / max(1, len(c["epoch_s"]) - 1)
    return {
        "dataset": name,
        "epochs": len(c["epoch_s"]),
        "uncached_epoch0_s": u["epoch_s"][0],
        "uncached_later_epoch_s": u_later,
        "cached_epoch0_s": c["epoch_s"][0],
        "cached_later_epoch_s": c_later,
        "later_epoch_speedup": u_later / c_later,
        "uncached_fit_s": u["fit_s"],
        "cached_fit_s": c["fit_s"],
        "cached_fit_over_one_uncached_epoch": c["fit_s"] / u["epoch_s"][0],
        "uncached": _main_metric(u["metrics"]),
        "cached": _main_metric(c["metrics"]),
        "runs": runs,
    }


def part_gradual(args, name, splits, work: Path) -> dict:
    files = write_jsonl(splits, work / "data-gradual", with_tags=name == "massive")
    tasks = {"intent": {"kind": "sentence"}}
    if name == "massive":
        tasks["slots"] = {"kind": "token"}
    plan = {
        "strategy": "gradual",
        "head_lr": 3e-3,
        "backbone_lr": 1e-4,
        "layer_decay": 0.8,
        "unfreeze_every": args.unfreeze_every,
    }
    runs = {}
    for mode, cache in (("uncached", {"enabled": False}), ("cached", {"dir": str(work / "g")})):
        runs[mode] = run_polyhead(
            args, files, tasks, plan, args.gradual_epochs, cache, work / f"gradual-{mode}"
        )
    u, c = runs["uncached"], runs["cached"]
    return {
        "dataset": name,
        "epochs": len(c["epoch_s"]),
        "uncached_fit_s": u["fit_s"],
        "cached_fit_s": c["fit_s"],
        "speedup": u["fit_s"] / c["fit_s"],
        "uncached_epoch_s": u["epoch_s"],
        "cached_epoch_s": c["epoch_s"],
        "uncached": _main_metric(u["metrics"]),
        "cached": _main_metric(c["metrics"]),
    }


# ---- main ---------------------------------------------------------------------------------
def table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        if isinstance(v, dict):
            return " ".join(f"{k}={cell(x)}" for k, x in v.items())
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", default="massive,banking77")
    p.add_argument("--parts", default="frozen,heads,gradual")
    p.add_argument("--max-train", type=int, default=None, help="seeded subset of train")
    p.add_argument("--max-eval", type=int, default=None, help="seeded subset of dev and test")
    p.add_argument("--epochs", type=int, default=10, help="heads part")
    p.add_argument("--gradual-epochs", type=int, default=6)
    p.add_argument("--gradual-datasets", default="massive")
    p.add_argument("--unfreeze-every", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--out", default=str(RESULTS / "frozen.json"))
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    parts = args.parts.split(",")
    results = {
        "command": " ".join(["python benchmarks/frozen.py", *sys.argv[1:]]),
        "args": vars(args),
    }
    results["machine"] = {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="polyhead-bench-") as tmp:
        for name in args.datasets.split(","):
            splits = load_dataset(name, args.max_train, args.max_eval, args.seed)
            sizes = {k: len(v) for k, v in splits.items()}
            print(f"\n## {name}: {sizes}", flush=True)
            work = Path(tmp) / name
            if "frozen" in parts:
                results.setdefault("frozen", []).append(part_frozen(args, name, splits, work))
                print(json.dumps(results["frozen"][-1]), flush=True)
            if "heads" in parts:
                results.setdefault("heads", []).append(part_heads(args, name, splits, work))
                print(json.dumps({k: v for k, v in results["heads"][-1].items() if k != "runs"}))
            if "gradual" in parts and name in args.gradual_datasets.split(","):
                results.setdefault("gradual", []).append(part_gradual(args, name, splits, work))
                print(json.dumps(results["gradual"][-1]), flush=True)
            results.setdefault("sizes", {})[name] = sizes
    results["machine"]["load_avg_end"] = os.getloadavg()
    report(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nwrote {args.out}")


def report(results: dict) -> None:
    print(f"\n{results['command']}\nsizes: {results.get('sizes')}\nmachine: {results['machine']}")
    if "frozen" in results:
        print("\n### frozen + LR vs sentence-transformers encode + LR (test accuracy)\n")
        cols = ["dataset", "polyhead_frozen_test_acc", "st_lr_test_acc", "polyhead_fit_s"]
        cols += ["st_lr_fit_s", "fit_time_ratio", "polyhead_total_s", "st_lr_total_s"]
        print(table(results["frozen"], cols))
    if "heads" in results:
        print("\n### heads, feature cache off vs on (seconds include validation)\n")
        cols = ["dataset", "epochs", "uncached_epoch0_s", "uncached_later_epoch_s"]
        cols += ["cached_epoch0_s", "cached_later_epoch_s", "later_epoch_speedup"]
        cols += ["uncached_fit_s", "cached_fit_s", "cached_fit_over_one_uncached_epoch"]
        cols += ["uncached", "cached"]
        print(table(results["heads"], cols))
    if "gradual" in results:
        print("\n### gradual, cache off vs on (features, then boundary states)\n")
        cols = ["dataset", "epochs", "uncached_fit_s", "cached_fit_s", "speedup"]
        cols += ["uncached", "cached"]
        print(table(results["gradual"], cols))


if __name__ == "__main__":
    main()
