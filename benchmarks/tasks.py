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
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("task", choices=["wnut"])
    p.add_argument("--max-length", type=int, default=32)
    p.add_argument("--stride", type=int, default=WINDOW_STRIDE, help="words shared by windows")
    p.add_argument("--max-train", type=int, default=None, help="seeded train subset (all: 3394)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5, help="backbone LR")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--modes", nargs="+", choices=["truncate", "windows"], default=["truncate", "windows"]
    )
    p.add_argument("--out", default="tasks-wnut.json", help="results file in benchmarks/results")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning").setLevel(logging.ERROR)
    out = run_wnut(args)
    d = out["drops"]
    print(f"\nWNUT-17, minilm, max_length {args.max_length}: what truncation drops")
    print(format_table([{"split": k, **v} for k, v in d.items()], ["split", *d["train"]]))
    print(f"\n{args.epochs} epochs, seed {args.seed}, train subset {args.max_train or 'all'}")
    print(format_table(out["runs"], list(out["runs"][0])))
    path = write_json(
        args.out,
        {
            "args": vars(args),
            **out,
            "machine": machine(),
            "versions": versions("torch", "transformers"),
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
