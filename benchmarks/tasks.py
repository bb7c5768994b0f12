"""Task benchmarks on real data (issue 15). One section per task; run one with its name.

`wnut`: WNUT-17 entities at `model.max_length: 32`, where truncation bites (a third of the
emerging-entity test sentences are longer than 32 subwords). Two runs, identical but for
`data.windows`: `truncate` (what polyhead did before: a sentence's tail has no label in
training and is predicted O in evaluation) and `windows` (overlapping windows sharing
`data.stride` words; every word trains and is scored once, from the window that owns it).
Each trained model is also scored on test the other way (`evaluate_examples(stride=...)`),
which separates what windows change in training from what they change in scoring.
Reported: labelled words (and gold test entities) truncation drops, dev/test entity F1
(seqeval, conlleval rules: WNUT-17 is BIO), training seconds.

    .venv/bin/python benchmarks/tasks.py wnut --epochs 2
    .venv/bin/python benchmarks/tasks.py wnut --epochs 1 --max-train 300   # smoke run

`stsb-pair`: STS Benchmark (../shared/data/stsb_en, train + dev; no test split is shipped)
as a `pair` task with a regression head: both sentences in one input ([CLS] a [SEP] b
[SEP]), standardised scores, MSE. Reports dev Spearman / Pearson of the best dev epoch (the
model is selected on dev, so this is the usual STS-B dev number, not a held-out one).

`massive-multilabel`: the slot types present in each MASSIVE en-US utterance as a
multilabel task (sigmoid + BCE), written as JSON label lists to a temporary folder; with
`--joint`, one model also learns intent + slots from the MASSIVE file itself (its own source,
batches of one source each). Per-label thresholds are chosen on dev each epoch, so dev
micro-F1 is tuned on dev; test micro-F1 uses the stored (dev) thresholds.

    .venv/bin/python benchmarks/tasks.py stsb-pair --epochs 4
    .venv/bin/python benchmarks/tasks.py massive-multilabel --epochs 3 --train 3000

Each run prints its table or JSON line and writes benchmarks/results/tasks-<name>.json
(metrics, settings, seed, machine, versions).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from seqeval.metrics.sequence_labeling import get_entities

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine, shared_data, versions, write_json  # noqa: E402
from polyhead.config import validate_config  # noqa: E402
from polyhead.data.align import encode_words  # noqa: E402
from polyhead.data.readers import read_examples  # noqa: E402
from polyhead.data.sources import WINDOW_STRIDE  # noqa: E402
from polyhead.engine.evaluation import evaluate_examples  # noqa: E402
from polyhead.engine.train import train  # noqa: E402
from polyhead.model.backbone import default_model_path, load_tokenizer_for  # noqa: E402
from polyhead.model.multitask import MultiTaskModel  # noqa: E402

WNUT_FILES = {
    "train": "wnut17train.conll",
    "dev": "emerging.dev.conll",
    "test": "emerging.test.conll",
}


# ---- wnut: truncation vs windows -----------------------------------------------------------
def dropped_by_truncation(tokenizer, examples, max_length: int) -> dict:
    """Labelled words with no subword inside max_length, and gold entities that lose a word."""
    enc = encode_words(tokenizer, [ex.tokens for ex in examples], max_length)
    kept = [0] * len(examples)
    for ids, ex in zip(enc.word_ids, enc.row_example, strict=True):
        kept[ex] = max([kept[ex]] + [w + 1 for w in ids if w is not None])
    entities = [get_entities(ex.tags) for ex in examples]
    return {
        "sentences": len(examples),
        "words": sum(len(ex.tokens) for ex in examples),
        "words_dropped": enc.n_truncated_words,
        "sentences_cut": enc.n_truncated_examples,
        "entities": sum(len(e) for e in entities),
        "entities_cut": sum(end >= k for e, k in zip(entities, kept, strict=True) for *_, end in e),
    }


def wnut_config(folder: Path, args, windows: bool) -> dict:
    return {
        "model": {"backbone": str(default_model_path()), "max_length": args.max_length},
        "data": {
            **{split: str(folder / name) for split, name in WNUT_FILES.items()},
            "windows": windows,
            "stride": args.stride,
            "max_train_examples": args.max_train,
        },
        "tasks": {"entities": {"kind": "token"}},
        "plan": {"strategy": "full", "backbone_lr": args.lr, "head_lr": 1e-3},
        "trainer": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "progress": False,
            "patience": None,
            "accelerator": "cpu",
        },
    }


def run_wnut(args) -> dict:
    folder = shared_data("wnut17")
    tokenizer = load_tokenizer_for(str(default_model_path()))
    test = read_examples(folder / WNUT_FILES["test"])
    train_examples = read_examples(folder / WNUT_FILES["train"])
    drops = {
        "train": dropped_by_truncation(tokenizer, train_examples, args.max_length),
        "test": dropped_by_truncation(tokenizer, test, args.max_length),
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mode in args.modes:
            cfg = validate_config(wnut_config(folder, args, windows=mode == "windows"))
            result = train(cfg, Path(tmp) / mode)
            model = MultiTaskModel.load(result.run_dir / "model")
            test_f1 = result.metrics["test"]["entities"]["f1"]
            # the run's own test score is one of the two ways; only the other one is computed
            other = ("truncated", 0) if mode == "windows" else ("windowed", args.stride)
            cross = evaluate_examples(model, test, stride=other[1])["entities"]["f1"]
            own = "windowed" if mode == "windows" else "truncated"
            rows.append(
                {
                    "training": mode,
                    "dev F1": result.metrics["dev"]["entities"]["f1"],
                    "test F1": test_f1,
                    "test F1 (truncated eval)": test_f1 if own == "truncated" else cross,
                    "test F1 (windowed eval)": test_f1 if own == "windowed" else cross,
                    "train s": result.metrics["train_seconds"],
                }
            )
            print(format_table(rows[-1:], list(rows[-1])), flush=True)
    return {"drops": drops, "runs": rows}


def main_wnut(args) -> None:
    out = run_wnut(args)
    d = out["drops"]
    print(f"\nWNUT-17, minilm, max_length {args.max_length}: what truncation drops")
    print(format_table([{"split": k, **v} for k, v in d.items()], ["split", *d["train"]]))
    print(f"\n{args.epochs} epochs, seed {args.seed}, train subset {args.max_train or 'all'}")
    print(format_table(out["runs"], list(out["runs"][0])))
    _write(args, out)


# ---- stsb-pair, massive-multilabel: the other task kinds -----------------------------------
def stsb_config(args) -> dict:
    folder = shared_data("stsb_en")
    return {
        "model": {"backbone": str(default_model_path()), "max_length": args.max_length},
        "tasks": {
            "sts": {
                "kind": "pair",
                "head": "regression",
                "regression_loss": args.loss,
                "data": {
                    "train": str(folder / "stsb-en-train.csv"),
                    "dev": str(folder / "stsb-en-dev.csv"),
                    "format": "pairs",
                    "max_train_examples": args.train,
                },
            }
        },
        "plan": {
            "strategy": "full",
            "backbone_lr": args.lr,
            "head_lr": args.head_lr,
            "warmup_ratio": 0.1,
        },
        "trainer": _trainer(args),
    }


def massive_files(folder: Path) -> dict[str, str]:
    """MASSIVE en-US -> JSONL per split of {"text", "label": [slot types present]}."""
    from polyhead.data.jsonl import read_massive
    from polyhead.data.labels import split_tag

    out = {}
    examples = read_massive(shared_data("massive_en_us", "en-US.jsonl"))
    for split in ("train", "dev", "test"):
        path = folder / f"slot-types-{split}.jsonl"
        with path.open("w") as f:
            for ex in examples:
                if ex.split == split:
                    types = sorted({split_tag(t)[1] for t in ex.tags if t != "O"})
                    f.write(json.dumps({"text": ex.text, "label": types}) + "\n")
        out[split] = str(path)
    return out


def massive_config(args, folder: Path) -> dict:
    limits = {"max_train_examples": args.train, "max_eval_examples": args.eval}
    tasks = {"slot_types": {"kind": "multilabel", "data": {**massive_files(folder), **limits}}}
    if args.joint:
        source = {"path": str(shared_data("massive_en_us", "en-US.jsonl")), **limits}
        tasks["intent"] = {"kind": "sentence", "data": source}
        tasks["slots"] = {"kind": "token", "data": source}
    return {
        "model": {"backbone": str(default_model_path()), "max_length": args.max_length},
        "tasks": tasks,
        "plan": {"strategy": "full", "backbone_lr": args.lr, "head_lr": args.head_lr},
        "trainer": _trainer(args),
    }


def _trainer(args) -> dict:
    return {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "patience": None,
        "progress": False,
        "loggers": ["csv"],
        "accelerator": "cpu",
    }


def run_kind(raw: dict, out: Path, keep: list[str]) -> dict:
    start = time.perf_counter()
    result = train(validate_config(raw), out)
    seconds = time.perf_counter() - start
    metrics = result.metrics
    pick = {
        s: {t: _short(metrics[s][t]) for t in keep if t in metrics.get(s, {})}
        for s in ("dev", "test")
        if s in metrics
    }
    return {"metrics": pick, "best_epoch": result.best_epoch, "seconds": round(seconds, 1)}


def _short(m: dict) -> dict:
    return {k: round(v, 4) for k, v in m.items() if isinstance(v, float)} | {"n": m.get("n")}


def main_kind(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = args.run_dir or Path(tmp) / "run"
        if args.task == "stsb-pair":
            result = run_kind(stsb_config(args), out, ["sts"])
        else:
            keep = ["slot_types", "intent", "slots"]
            result = run_kind(massive_config(args, Path(tmp)), out, keep)
    print(json.dumps(result))
    _write(args, result)


# ---- command line ----------------------------------------------------------------------------
def _write(args, payload: dict) -> None:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    body = {"args": settings, **payload, "machine": machine()}
    path = write_json(args.out, body | {"versions": versions("torch", "transformers")})
    print(f"\nwrote {path}")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="task", required=True)
    wnut = sub.add_parser("wnut", help="WNUT-17 at max_length 32: truncation vs windows")
    wnut.add_argument("--max-length", type=int, default=32)
    wnut.add_argument("--stride", type=int, default=WINDOW_STRIDE, help="words shared by windows")
    wnut.add_argument("--max-train", type=int, default=None, help="seeded subset (all: 3394)")
    wnut.add_argument("--epochs", type=int, default=2)
    wnut.add_argument("--batch-size", type=int, default=32)
    wnut.add_argument("--lr", type=float, default=5e-5, help="backbone LR")
    wnut.add_argument(
        "--modes", nargs="+", choices=["truncate", "windows"], default=["truncate", "windows"]
    )
    for name in ("stsb-pair", "massive-multilabel"):
        kind = sub.add_parser(name, help="STS-B cross-encoder / MASSIVE slot-type multilabel")
        kind.add_argument("--epochs", type=int, default=4)
        kind.add_argument("--batch-size", type=int, default=16)
        kind.add_argument("--lr", type=float, default=4e-5, help="backbone LR")
        kind.add_argument("--head-lr", type=float, default=1e-3)
        kind.add_argument("--max-length", type=int, default=128)
        kind.add_argument("--loss", choices=["mse", "huber"], default="mse", help="stsb-pair")
        kind.add_argument("--train", type=int, default=None, help="subsample training examples")
        kind.add_argument("--eval", type=int, default=None, help="massive: subsample dev / test")
        kind.add_argument("--joint", action="store_true", help="massive: + intent and slots")
        kind.add_argument("--run-dir", type=Path, default=None, help="keep the run here")
    for parser in sub.choices.values():
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--threads", type=int, default=2)
        parser.add_argument("--out", default=None, help="results file in benchmarks/results")
    args = p.parse_args(argv)
    args.out = args.out or f"tasks-{args.task}.json"
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    (main_wnut if args.task == "wnut" else main_kind)(args)


if __name__ == "__main__":
    main()
