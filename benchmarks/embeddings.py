"""Issue 16: training and guarding the sentence embedding, on the packaged MiniLM.

(a) sts:     STS-B dev Spearman of the untouched MiniLM vs after a CoSENT embedding task
             trained on STS-B train (target: +2 points).
(b) guard:   `full` on MASSIVE intent + slots (the shipped demo data: real MASSIVE en-US
             utterances), without and with `trainer.preserve: [embedding]`: STS-B dev Spearman
             before / after, intent accuracy and slot F1 of both (target: drop <= 1 point with
             preserve, heads within 0.5 points).
(c) fewshot: BANKING77 at K examples per class: polyhead's recipe (examples/
             banking77_fewshot.yaml: a sentence head + an embedding task `pairs_from` its
             labels, trained together; then logistic regression on that embedding,
             `strategy: frozen`) vs the `setfit` package (same MiniLM folder, its defaults
             but `num_iterations`), test accuracy and training seconds.

Everything runs in this process, on the same model folder, so the differences are the
training. Sizes are arguments: on a shared CPU keep them small and say so; each part writes
its numbers to benchmarks/results/ as soon as it finishes.

    .venv/bin/python benchmarks/embeddings.py --parts sts guard fewshot
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import polyhead  # noqa: E402
from common import REPO_ROOT, RESULTS_DIR, format_table, machine, shared_data, versions, write_json  # noqa: E402
from polyhead.data.pairs import read_pairs  # noqa: E402
from polyhead.engine.embedding_eval import evaluate_pairs  # noqa: E402
from polyhead.model.backbone import default_model_path  # noqa: E402
from polyhead.model.multitask import MultiTaskModel  # noqa: E402
from polyhead.model.spec import ModelSpec  # noqa: E402

MINILM = str(default_model_path())
DEMO = REPO_ROOT / "src" / "polyhead" / "demo_data"
FEWSHOT_RECIPE = REPO_ROOT / "examples" / "banking77_fewshot.yaml"
QUIET = {"progress": False, "loggers": ["csv"]}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", nargs="+", default=["sts", "guard", "fewshot"])
    p.add_argument("--sts-dev", type=int, default=0, help="seeded STS-B dev pairs (0: all 1,500)")
    p.add_argument("--sts-train", type=int, default=0, help="STS-B train pairs (0: all 5,749)")
    p.add_argument("--sts-epochs", type=int, nargs="+", default=[1], help="one run for each")
    p.add_argument(
        "--sts-lr", type=float, default=2e-5, help="backbone lr (sentence-transformers' STS recipe)"
    )
    p.add_argument(
        "--sts-watch", action="store_true", help="also score STS-B dev after every epoch"
    )
    p.add_argument(
        "--sts-loss",
        choices=["cosent", "cosine"],
        default="cosent",
        help="sts: the embedding task's loss (cosine: MSE on the cosine, as "
        "sentence-transformers' CosineSimilarityLoss)",
    )
    p.add_argument(
        "--sts-plan",
        choices=["recipe", "today"],
        default="recipe",
        help="sts: recipe = sentence-transformers' (--sts-lr, warmup 0.1, batch 16); today = "
        "polyhead's plan and batch defaults (what a config that sets nothing gets)",
    )
    p.add_argument(
        "--sts-seed", type=int, default=None, help="sts: trainer.seed (default: the config's)"
    )
    p.add_argument(
        "--sts-sides",
        nargs="+",
        default=["polyhead"],
        choices=["polyhead", "sentence-transformers"],
        help="sts: who trains (sentence-transformers: its own trainer, same pairs and recipe)",
    )
    p.add_argument(
        "--massive",
        choices=["demo", "full"],
        default="demo",
        help="demo: the shipped 2,000 / 300 / 300 utterances; full: all of MASSIVE en-US "
        "(../shared/data/massive_en_us: 11,514 / 2,033 / 2,974)",
    )
    p.add_argument("--massive-train", type=int, default=0, help="train utterances (0: all)")
    p.add_argument("--massive-eval", type=int, default=0, help="dev / test utterances (0: all)")
    p.add_argument("--massive-epochs", type=int, default=3, help="3: today's default")
    p.add_argument(
        "--preserve-weights",
        type=float,
        nargs="+",
        default=[1.0],
        help="one preserve: [embedding] run for each preserve_embedding_weight",
    )
    p.add_argument("--guard-seeds", type=int, default=1, help="seeds 42, 43, ... per setting")
    p.add_argument(
        "--guard-first-seed", type=int, default=42, help="guard: the first of --guard-seeds"
    )
    p.add_argument(
        "--guard-plan",
        choices=["recorded", "today"],
        default="recorded",
        help="recorded: the plan the recorded sweeps ran with (head lr 1e-3, backbone 1e-4, "
        "no layer decay, warmup 0.06); today: the current plan defaults (issue 18's)",
    )
    p.add_argument(
        "--guard-sts-task",
        type=int,
        default=0,
        help="guard: also a run without preserve that co-trains an STS-B embedding task on "
        "this many STS-B train pairs (0: none)",
    )
    p.add_argument(
        "--guard-only",
        choices=["plain", "preserve", "sts"],
        default=None,
        help="guard: only the plain run, the preserve runs or the STS-task run (processes "
        "sharing --work; a last run without it collects them from the cache)",
    )
    p.add_argument(
        "--guard-collect",
        nargs="+",
        default=None,
        metavar="RESULTS_JSON",
        help="guard: no training; summarise the guard runs of these files under "
        "benchmarks/results/ together (seeds from several sessions)",
    )
    p.add_argument("--shots", type=int, nargs="+", default=[8, 16])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--banking-test", type=int, default=0, help="test utterances per class (0: all)")
    p.add_argument("--fewshot-epochs", type=int, default=1)
    p.add_argument("--setfit-iterations", type=int, default=1, help="setfit num_iterations")
    p.add_argument(
        "--sides", nargs="+", default=["polyhead", "setfit"], help="fewshot: which to run"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--work", default=None, help="folder for runs and subsets (default: temp)")
    p.add_argument("--json", default="embeddings.json", help="file name under benchmarks/results/")
    return p.parse_args(argv)


def sample(items: list, n: int, seed: int) -> list:
    """A seeded subset of n items in their original order (all when n is 0 or too big)."""
    if not n or n >= len(items):
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def write_pairs(path: Path, pairs) -> Path:
    """Scored pairs as polyhead's pairs JSONL."""
    return write_jsonl(
        path, [{"text": p.text, "text_pair": p.text_pair, "score": p.score} for p in pairs]
    )


def sts_score(model, pairs) -> float:
    """STS-B dev Spearman x 100 through polyhead's inference path."""
    return 100 * evaluate_pairs(model, pairs)["spearman"]


def untouched() -> MultiTaskModel:
    return MultiTaskModel(ModelSpec(backbone=MINILM, max_length=128))


def load_model(run) -> MultiTaskModel:
    return MultiTaskModel.load(run.model_dir)


def cached_row(work: Path, name: str, make) -> dict:
    """A finished run's row, kept under `work/rows/` so that a stopped benchmark rerun with
    the same --work trains only what is missing."""
    path = work / "rows" / f"{name}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    row = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return row


def watched(run) -> list[float]:
    """STS-B dev Spearman x 100 after each epoch (`trainer.watch_embedding`, history.jsonl)."""
    lines = (run.run_dir / "history.jsonl").read_text(encoding="utf-8").splitlines()
    epochs = [json.loads(line) for line in lines if line.strip()]
    return [100 * e["drift"]["embedding"]["current"] for e in epochs if "drift" in e]


# ---- (a) STS-B CoSENT ------------------------------------------------------------------------
def part_sts(args, work: Path, sts_dev, baseline: float, dev_file: Path) -> list[dict]:
    train = sample(read_pairs(shared_data("stsb_en", "stsb-en-train.csv")), args.sts_train, 0)
    train_file = write_pairs(work / "sts-train.jsonl", train)
    rows = []
    for epochs in args.sts_epochs:
        config = {
            "model": {"backbone": MINILM, "max_length": 128},
            # dev: a seeded 10 % of the training pairs (model selection); STS-B dev stays unseen
            "tasks": {
                "sts": {
                    "kind": "embedding",
                    "loss": args.sts_loss,
                    "data": {"train": str(train_file)},
                }
            },
            # sentence-transformers' STS recipe: lr 2e-5, warmup 10 %, batch 16 (polyhead's
            # defaults, --sts-plan today, were tuned for heads that start from scratch)
            "plan": {"strategy": "full", "backbone_lr": args.sts_lr, "warmup_ratio": 0.1},
            "trainer": {"epochs": epochs, "batch_size": 16, "patience": None, **QUIET},
        }
        if args.sts_plan == "today":
            config["plan"] = {"strategy": "full"}
            del config["trainer"]["batch_size"]
        if args.sts_watch:
            config["trainer"]["watch_embedding"] = str(dev_file)
        name = f"sts-e{epochs}-lr{args.sts_lr:g}-n{len(train)}"
        if args.sts_loss != "cosent":  # the recorded CoSENT rows' names unchanged
            name += f"-{args.sts_loss}"
        if args.sts_plan == "today":
            name += "-today"
        if args.sts_seed is not None:  # also draws the 10 % carve
            config["trainer"]["seed"] = args.sts_seed
            name += f"-s{args.sts_seed}"

        def make(config=config, name=name, epochs=epochs):
            run = polyhead.train(config, out=work / name, show_plan=False)
            after = sts_score(load_model(run), sts_dev)
            return {
                "model": f"minilm + {args.sts_loss} on STS-B train",
                "train_pairs": len(train),
                "epochs": epochs,
                "plan": args.sts_plan,
                "backbone_lr": args.sts_lr if args.sts_plan == "recipe" else None,
                "best_epoch": run.best_epoch,
                "spearman_before": baseline,
                "spearman_after": after,
                "difference": after - baseline,
                "per_epoch": watched(run) if args.sts_watch else None,
                "train_seconds": run.train_seconds,
                "load_avg": list(os.getloadavg()),
            }

        if "polyhead" in args.sts_sides:
            rows.append(cached_row(work, name, make))
            print(format_table(rows[-1:], list(rows[-1])), flush=True)
        if "sentence-transformers" in args.sts_sides:
            st_name = f"st-{name}"
            rows.append(
                cached_row(
                    work,
                    st_name,
                    partial(
                        st_reference, args, work / st_name, train_file, epochs, sts_dev, baseline
                    ),
                )
            )
            print(format_table(rows[-1:], list(rows[-1])), flush=True)
    return rows


def st_reference(args, out: Path, train_file: Path, epochs: int, sts_dev, baseline: float) -> dict:
    """The reference: sentence-transformers' own trainer and its CoSENTLoss (or, for
    `--sts-loss cosine`, CosineSimilarityLoss on scores / 5) on the very pairs the polyhead run
    trains on (its seeded 10 % dev carve removed), same lr, warmup, batch, seed."""
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, losses
    from sentence_transformers.trainer import SentenceTransformerTrainer
    from sentence_transformers.training_args import SentenceTransformerTrainingArguments

    from polyhead.data.pair_rows import load_pair_splits
    from polyhead.data.sources import DataSource
    from polyhead.engine.embedding_eval import pair_metrics

    seed = 42 if args.sts_seed is None else args.sts_seed
    train = load_pair_splits(DataSource(train=str(train_file)), seed, "sts")["train"]
    cosine = args.sts_loss == "cosine"
    data = Dataset.from_dict(
        {
            "sentence1": [p.text for p in train],
            "sentence2": [p.text_pair for p in train],
            "score": [p.score / 5 if cosine else p.score for p in train],
        }
    )
    model = SentenceTransformer(MINILM, device="cpu")
    loss = losses.CosineSimilarityLoss(model) if cosine else losses.CoSENTLoss(model)
    targs = SentenceTransformerTrainingArguments(
        output_dir=str(out),
        num_train_epochs=epochs,
        per_device_train_batch_size=16,
        learning_rate=args.sts_lr,
        warmup_ratio=0.1,
        weight_decay=0.01,  # polyhead's default (the HF default is 0)
        seed=seed,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    trainer = SentenceTransformerTrainer(model=model, args=targs, train_dataset=data, loss=loss)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    a = model.encode([p.text for p in sts_dev], batch_size=64)
    b = model.encode([p.text_pair for p in sts_dev], batch_size=64)
    after = 100 * pair_metrics(a, b, [p.score for p in sts_dev])["spearman"]
    return {
        "model": f"minilm + sentence-transformers {type(loss).__name__} (reference)",
        "train_pairs": len(train),
        "epochs": epochs,
        "backbone_lr": args.sts_lr,
        "spearman_before": baseline,
        "spearman_after": after,
        "difference": after - baseline,
        "train_seconds": seconds,
        "load_avg": list(os.getloadavg()),
    }


# ---- (b) the embedding guard on MASSIVE intent + slots ----------------------------------------
def massive_data(args) -> dict:
    if args.massive == "full":  # one file, split by its `partition` field
        data = {"path": str(shared_data("massive_en_us", "en-US.jsonl")), "format": "massive"}
    else:
        data = {s: str(DEMO / f"{s}.jsonl") for s in ("train", "dev", "test")}
        data["format"] = "massive"
    if args.massive_train:
        data["max_train_examples"] = args.massive_train
    if args.massive_eval:
        data["max_eval_examples"] = args.massive_eval
    return data


def guard_run(args, work: Path, sts_dev, baseline: float, weight: float | str | None, seed: int):
    """One `full` run on MASSIVE; weight None: no preserve, a number: preserve: [embedding]
    at that weight, "sts": no preserve, an STS-B embedding task trained alongside."""
    # examples/massive_full.yaml: today's defaults for `full` (--guard-plan today)
    trainer = {"epochs": args.massive_epochs, "batch_size": 32, "seed": seed, **QUIET}
    if isinstance(weight, float):
        trainer |= {"preserve": ["embedding"], "preserve_embedding_weight": weight}
    config = {
        "model": {"backbone": MINILM, "max_length": 64},
        "data": massive_data(args),
        "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        "plan": {"strategy": "full"},
        "trainer": trainer,
    }
    if args.guard_plan == "recorded":  # the recorded sweeps' settings (issue 18 changed these)
        config["plan"] |= {
            "head_lr": 1e-3,
            "backbone_lr": 1e-4,
            "layer_decay": 1.0,
            "warmup_ratio": 0.06,
        }
    setting = f"preserve-w{weight:g}" if isinstance(weight, float) else "plain"
    if weight == "sts":  # hold the embedding by training it: STS-B pairs, the default loss
        pairs = sample(
            read_pairs(shared_data("stsb_en", "stsb-en-train.csv")), args.guard_sts_task, 0
        )
        sts_file = write_pairs(work / f"sts-train-{len(pairs)}.jsonl", pairs)
        config["tasks"]["sts"] = {"kind": "embedding", "data": {"train": str(sts_file)}}
        setting = f"sts-task-n{len(pairs)}"
    plan = "" if args.guard_plan == "recorded" else "-today"
    name = (
        f"guard-{args.massive}-n{args.massive_train}-e{args.massive_epochs}{plan}-{setting}-s{seed}"
    )

    def make():
        run = polyhead.train(config, out=work / name, show_plan=False)
        after = sts_score(load_model(run), sts_dev)
        test = run.metrics["test"]
        return {
            "setting": setting,
            "seed": seed,
            "spearman_after": after,
            "drop": baseline - after,
            "intent_accuracy": 100 * test["intent"]["accuracy"],
            "slot_f1": 100 * test["slots"]["f1"],
            "best_epoch": run.best_epoch,
            "train_seconds": run.train_seconds,
            "load_avg": list(os.getloadavg()),
        }

    row = cached_row(work, name, make)
    print(format_table([row], list(row)), flush=True)
    return row


def mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def part_guard(args, work: Path, sts_dev, baseline: float) -> dict:
    seeds = [args.guard_first_seed + i for i in range(args.guard_seeds)]
    sts = ["sts"] if args.guard_sts_task else []
    weights = {"plain": [None], "preserve": args.preserve_weights, "sts": sts}.get(
        args.guard_only, [None, *args.preserve_weights, *sts]
    )
    runs = [guard_run(args, work, sts_dev, baseline, w, seed) for w in weights for seed in seeds]
    if args.guard_only:
        return {"runs": runs}  # one side: the collecting run summarises
    return {"runs": runs, "summary": summarize_guard(runs)}


def collect_guard(names: list[str]) -> dict:
    """The guard runs of earlier result files, summarised together (a run is one setting and
    seed; a later file's row replaces an earlier one)."""
    rows = {}
    for name in names:
        path = RESULTS_DIR / name
        if not path.is_file():
            sys.exit(f"--guard-collect: {path} not found (a file name under benchmarks/results/)")
        runs = json.loads(path.read_text()).get("guard", {}).get("runs")
        if not runs:
            sys.exit(f"--guard-collect: {path} holds no guard runs (made with --parts guard?)")
        for r in runs:
            rows[r["setting"], r["seed"]] = r
    runs = sorted(rows.values(), key=lambda r: (r["setting"] != "plain", r["setting"], r["seed"]))
    return {"collected_from": names, "runs": runs, "summary": summarize_guard(runs)}


def summarize_guard(runs: list[dict]) -> list[dict]:
    """Per setting: mean ± sd over seeds, and the heads' difference to plain paired by seed."""
    plain = {r["seed"]: r for r in runs if r["setting"] == "plain"}
    summary = []
    for setting in dict.fromkeys(r["setting"] for r in runs):
        mine = [r for r in runs if r["setting"] == setting]
        row = {"setting": setting, "seeds": len(mine)}
        for key in ("drop", "intent_accuracy", "slot_f1"):
            row[key] = mean_sd([r[key] for r in mine])
        if setting != "plain":  # paired by seed: the same data order and start
            for key in ("intent_accuracy", "slot_f1"):
                row[f"{key} - plain"] = mean_sd([r[key] - plain[r["seed"]][key] for r in mine])
        row["train_s"] = mean_sd([r["train_seconds"] for r in mine])
        summary.append(row)
    print(format_table(summary, list(summary[-1])), flush=True)
    return summary


# ---- (c) few-shot BANKING77: polyhead's recipe vs setfit --------------------------------------
def read_banking(name: str) -> dict[str, list[str]]:
    by_label: dict[str, list[str]] = defaultdict(list)
    with open(shared_data("banking77", name), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_label[row["category"]].append(row["text"])
    return by_label


def few_shot(by_label: dict[str, list[str]], k: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"text": text, "label": label}
        for label in sorted(by_label)
        for text in rng.sample(by_label[label], min(k, len(by_label[label])))
    ]


def polyhead_fewshot(args, work: Path, train: list[dict], test: list[dict], seed: int) -> dict:
    """examples/banking77_fewshot.yaml (head + pairs from its labels, trained together), then
    logistic regression on the trained embedding (`strategy: frozen` from that model)."""
    folder = work / f"fewshot-{len(train)}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    train_file = write_jsonl(folder / "train.jsonl", train)
    test_file = write_jsonl(folder / "test.jsonl", test)
    config = yaml.safe_load(FEWSHOT_RECIPE.read_text(encoding="utf-8"))
    config["model"]["backbone"] = MINILM
    # few-shot has no dev set: the training file doubles as one (no extra labels are used)
    config["data"] = {"train": str(train_file), "dev": str(train_file), "test": str(test_file)}
    config["trainer"].update(epochs=args.fewshot_epochs, seed=seed, **QUIET)
    run = polyhead.train(config, out=folder / "run", show_plan=False)
    head = 100 * run.metrics["test"]["intent"]["accuracy"]
    # stage 2: SetFit's second step, a logistic regression on the (now trained) embedding
    config["model"]["backbone"] = str(run.model_dir)
    config["tasks"] = {"intent": {"kind": "sentence"}}
    config["plan"] = {"strategy": "frozen"}
    config["features"] = {"cache": {"enabled": False}}
    lr = polyhead.train(config, out=folder / "lr", show_plan=False)
    return {
        "head_accuracy": head,
        "accuracy": 100 * lr.metrics["test"]["intent"]["accuracy"],
        "seconds": run.train_seconds + lr.train_seconds,
    }


def setfit_fewshot(args, work: Path, train: list[dict], test: list[dict], seed: int) -> dict:
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(MINILM)
    # setfit's defaults, but num_iterations: its default (oversampling) draws every negative
    # pair, ~375k pairs at 8 x 77 (hours on a CPU); report_to only silences trackers.
    targs = TrainingArguments(
        output_dir=str(work / f"setfit-{len(train)}-{seed}"),  # its default: ./checkpoints
        num_iterations=args.setfit_iterations,
        seed=seed,
        report_to="none",
    )
    trainer = Trainer(model=model, args=targs, train_dataset=Dataset.from_list(train))
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    pred = model.predict([r["text"] for r in test])
    correct = sum(str(p) == r["label"] for p, r in zip(pred, test, strict=True))
    return {"accuracy": 100 * correct / len(test), "seconds": seconds}


def part_fewshot(args, work: Path) -> list[dict]:
    train_pool, test_pool = read_banking("train.csv"), read_banking("test.csv")
    test = few_shot(test_pool, args.banking_test or 10**9, seed=12345)
    rows = []
    for k in args.shots:
        for seed in range(args.seeds):
            train = few_shot(train_pool, k, seed)
            row = {"shots": k, "seed": seed, "train": len(train), "test": len(test)}
            if "polyhead" in args.sides:
                ours = polyhead_fewshot(args, work, train, test, seed)
                row |= {
                    "polyhead_head_accuracy": ours["head_accuracy"],
                    "polyhead_accuracy": ours["accuracy"],
                    "polyhead_seconds": ours["seconds"],
                }
            if "setfit" in args.sides:
                theirs = setfit_fewshot(args, work, train, test, seed)
                row |= {"setfit_accuracy": theirs["accuracy"], "setfit_seconds": theirs["seconds"]}
            if len(args.sides) == 2:
                row["time_ratio"] = row["polyhead_seconds"] / row["setfit_seconds"]
            print(format_table([row], list(row)), flush=True)
            rows.append(row)
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.guard_collect:
        path = write_json(args.json, collect_guard(args.guard_collect))
        print(f"numbers in {path}")
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work or tempfile.mkdtemp(prefix="embeddings-"))
    work.mkdir(parents=True, exist_ok=True)
    payload = {
        "args": vars(args),
        "machine": machine(),
        "versions": versions("torch", "transformers", "setfit", "sentence-transformers"),
    }
    sts_dev = sample(read_pairs(shared_data("stsb_en", "stsb-en-dev.csv")), args.sts_dev, 0)
    dev_file = write_pairs(work / "sts-dev.jsonl", sts_dev)
    if {"sts", "guard"} & set(args.parts):
        start = time.perf_counter()
        payload["sts_dev_pairs"] = len(sts_dev)
        payload["untouched_spearman"] = baseline = sts_score(untouched(), sts_dev)
        print(f"untouched minilm, STS-B dev ({len(sts_dev)} pairs): {baseline:.2f}", flush=True)
        payload["untouched_seconds"] = time.perf_counter() - start
    for part, run_part in (
        ("sts", lambda: part_sts(args, work, sts_dev, baseline, dev_file)),
        ("guard", lambda: part_guard(args, work, sts_dev, baseline)),
        ("fewshot", lambda: part_fewshot(args, work)),
    ):
        if part in args.parts:
            payload[part] = run_part()
            payload["load_avg_now"] = list(os.getloadavg())
            write_json(args.json, payload)
    print(f"runs in {work}; numbers in benchmarks/results/{args.json}")


if __name__ == "__main__":
    main()
