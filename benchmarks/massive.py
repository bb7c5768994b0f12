"""MASSIVE en-US: polyhead joint training vs. two separate Hugging Face Trainer models.

The baseline is what a user would do today without polyhead: one
AutoModelForSequenceClassification for the intent and one AutoModelForTokenClassification for
the slots (first-subword labels, -100 elsewhere), each trained with transformers' Trainer.
Both sides use the same backbone folder, learning rate, epochs, batch size, max length, seed,
weight decay (0.01, none on biases/LayerNorm), warmup (6 %, linear decay) and gradient
clipping (1.0), read the same words and tags with polyhead's reader, evaluate the dev split
after every epoch, and are scored on the full test split with polyhead's metric functions
(accuracy; seqeval entity F1 on word-level tags; exact frame accuracy).

Timed: `fit` = the training call only (polyhead: Lightning `trainer.fit` inside `train()`,
which includes the per-epoch dev validation, the best-artifact save and last.ckpt; baseline:
the two `Trainer.train()` calls, which include their per-epoch dev evaluation). Model loading,
data reading and the final test evaluation are outside. `fit excl. val` subtracts the dev
validation time measured inside each fit (polyhead: Lightning's validation loop plus the
best-artifact save; baseline: the Trainer's `eval_runtime`).

polyhead runs with its defaults (issue 17): length-bucketed batches, padded to the longest row
on CPU (to a multiple of 8 on CUDA), `trainer.compile: auto` (off on CPU), no loader workers
on CPU. `--no-bucketing` gives the random-batch run for comparison.

The issue-17 CPU target: full MASSIVE, 2 epochs, one thread per side (the default here),
joint `full` <= 0.50x the two Trainer models' time at quality at least equal. Run it on an
otherwise idle machine (a concurrent process nearly doubles the time of either side):

    .venv/bin/python benchmarks/massive.py --systems baseline polyhead-full --json massive-full.json
    .venv/bin/python benchmarks/massive.py --max-train 3000 --epochs 2     # a shorter check
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine, shared_data, timed, versions, write_json  # noqa: E402
from polyhead import evaluate as M  # noqa: E402
from polyhead.config import validate_config  # noqa: E402
from polyhead.data import IGNORE_INDEX, LabelSet  # noqa: E402
from polyhead.data.sources import load_splits  # noqa: E402
from polyhead.engine.train import train  # noqa: E402
from polyhead.model.backbone import default_model_path  # noqa: E402

SYSTEMS = ("baseline", "polyhead-full", "polyhead-gradual", "polyhead-full-same-lr")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-train", type=int, default=None, help="seeded train subset (all: 11514)")
    p.add_argument("--max-dev", type=int, default=None, help="seeded dev subset (all: 2033)")
    p.add_argument("--max-test", type=int, default=None, help="test subset (smoke runs only)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seeds", type=int, nargs="+", default=[42])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4, help="backbone LR (the baseline's only LR)")
    p.add_argument("--head-lr", type=float, default=1e-3, help="polyhead head LR")
    p.add_argument("--layer-decay", type=float, default=0.8, help="for polyhead-gradual")
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    p.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")
    p.add_argument("--bucketing", action=argparse.BooleanOptionalAction, default=True,
                   help="polyhead trainer.bucketing (length-bucketed batches)")  # fmt: skip
    p.add_argument("--json", default="massive.json", help="file name under benchmarks/results/")
    return p.parse_args(argv)


# ---- polyhead ---------------------------------------------------------------------------------
def polyhead_plan(system: str, args) -> dict:
    if system == "polyhead-gradual":
        # Heads alone in epoch 0, then the 7 encoder groups top-down, spread so that every
        # group trains by the last epoch (a schedule that never reaches the lower layers
        # would not be the recipe a user picks for a short run).
        step = -(-7 // max(1, args.epochs - 1))
        return {
            "strategy": "gradual",
            "unfreeze_every": 1,
            "unfreeze_step": step,
            "head_lr": args.head_lr,
            "backbone_lr": args.lr,
            "layer_decay": args.layer_decay,
        }
    head_lr = args.lr if system == "polyhead-full-same-lr" else args.head_lr
    return {"strategy": "full", "head_lr": head_lr, "backbone_lr": args.lr}


def subset_files(folder: Path, args, seed: int) -> dict:
    """MASSIVE lines split by `partition` into train/dev/test files, train and dev as seeded
    subsets, so both sides read exactly the same examples (and dev costs the same)."""
    lines = shared_data("massive_en_us", "en-US.jsonl").read_text(encoding="utf-8").splitlines()
    parts: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for line in lines:
        if line.strip():
            parts[json.loads(line)["partition"]].append(line)
    rng = random.Random(seed)
    limits = {"train": args.max_train, "dev": args.max_dev, "test": args.max_test}
    source = {"format": "massive"}
    for split, rows in parts.items():
        if limits[split] and limits[split] < len(rows):
            rows = [rows[i] for i in sorted(rng.sample(range(len(rows)), limits[split]))]
        path = folder / f"{split}.jsonl"
        text = "\n".join(rows) + "\n"
        # unchanged files are left alone: another process may be training on them
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        source[split] = str(path)
    return source


def polyhead_config(system: str, args, seed: int, source: dict):
    return validate_config(
        {
            "model": {"backbone": "minilm", "max_length": args.max_length},
            "data": source,
            "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
            "plan": polyhead_plan(system, args),
            "trainer": {
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "eval_batch_size": 128,
                "seed": seed,
                "patience": None,  # fixed epochs on both sides
                "gradient_clip": 1.0,
                "progress": False,
                "bucketing": args.bucketing,
            },
        }
    )


class ValidationTimer(pl.Callback):
    """Seconds spent in Lightning's validation loop (+ the best-artifact save that follows)."""

    def __init__(self):
        self.seconds, self._start = 0.0, 0.0

    def on_validation_start(self, trainer, pl_module):
        self._start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module):
        self.seconds += time.perf_counter() - self._start


def run_polyhead(system: str, args, seed: int, source: dict) -> dict:
    cfg = polyhead_config(system, args, seed, source)
    timer = ValidationTimer()
    with tempfile.TemporaryDirectory(prefix="polyhead-bench-") as run_dir:
        result = train(cfg, Path(run_dir) / "run", extra_callbacks=[timer])
        history = (Path(run_dir) / "run" / "history.jsonl").read_text().splitlines()
        padding = [json.loads(line).get("padding_ratio") for line in history]
    test = result.metrics["test"]
    return {
        "intent_accuracy": test["intent"]["accuracy"],
        "slot_f1": test["slots"]["f1"],
        "frame_accuracy": test["frame_accuracy"],
        "fit_s": result.train_seconds,
        "val_s": timer.seconds,
        "padding_ratio": padding,  # padded / real training tokens, per epoch
    }


# ---- baseline: two Hugging Face Trainer models -------------------------------------------------
class Rows(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]


def intent_rows(tok, examples, intents: LabelSet, max_length: int) -> Rows:
    enc = tok([ex.text for ex in examples], truncation=True, max_length=max_length)
    labels = [intents.encode(ex.label, IGNORE_INDEX) for ex in examples]
    return Rows([{**{k: v[i] for k, v in enc.items()}, "labels": y} for i, y in enumerate(labels)])


def slot_rows(tok, examples, tags: LabelSet, max_length: int) -> tuple[Rows, list]:
    """run_ner's tokenize_and_align_labels: the first subword of a word carries its tag."""
    enc = tok([ex.tokens for ex in examples], is_split_into_words=True, truncation=True,
              max_length=max_length)  # fmt: skip
    rows, word_ids = [], []
    for i, ex in enumerate(examples):
        wids, labels, prev = enc.word_ids(i), [], None
        for w in wids:
            first = w is not None and w != prev
            labels.append(tags.encode(ex.tags[w], IGNORE_INDEX) if first else IGNORE_INDEX)
            prev = w
        rows.append({**{k: v[i] for k, v in enc.items()}, "labels": labels})
        word_ids.append(wids)
    return Rows(rows), word_ids


def word_tags(logits: np.ndarray, word_ids: list, n_words: int, tags: LabelSet) -> list[str]:
    """First-subword predictions per word; words lost to truncation are 'O' (as in polyhead)."""
    pred, out, prev = logits.argmax(-1), [], None
    for t, w in enumerate(word_ids):
        if w is not None and w != prev:
            out.append(tags.name(int(pred[t])))
        prev = w
    return out + ["O"] * (n_words - len(out))


def hf_trainer(model, train_rows, dev_rows, collator, compute_metrics, args, seed, out_dir):
    from transformers import Trainer, TrainingArguments

    targs = TrainingArguments(
        output_dir=out_dir,
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=128,
        learning_rate=args.lr,
        weight_decay=0.01,
        warmup_steps=0.06,  # a float < 1 is a ratio of the total steps in transformers 5
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="epoch",
        report_to="none",
        use_cpu=True,
        seed=seed,
        disable_tqdm=True,
    )
    return Trainer(
        model=model,
        args=targs,
        train_dataset=train_rows,
        eval_dataset=dev_rows,
        data_collator=collator,
        compute_metrics=compute_metrics,
    )


def intent_dev_metrics(p) -> dict:
    return {"accuracy": float((p.predictions.argmax(-1) == p.label_ids).mean())}


def slot_dev_metrics_for(tags: LabelSet):
    def compute(p) -> dict:
        gold, pred = [], []
        for lg, lab in zip(p.predictions.argmax(-1), p.label_ids, strict=True):
            keep = lab != IGNORE_INDEX  # -100 positions are stripped before seqeval
            gold.append([tags.name(int(x)) for x in lab[keep]])
            pred.append([tags.name(int(x)) for x in lg[keep]])
        return {"f1": M.token_metrics(gold, pred)["f1"]}

    return compute


def fit_baseline_model(auto_cls, labels, train_rows, dev_rows, collator, metrics, args, seed):
    """Load, train (timed) and return (trainer, fit seconds, dev-eval seconds)."""
    from transformers import set_seed

    set_seed(seed)  # the new classifier layer is initialised from the seed
    model = auto_cls.from_pretrained(
        default_model_path(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels.names)),
        label2id={n: i for i, n in enumerate(labels.names)},
    )
    with tempfile.TemporaryDirectory(prefix="hf-bench-") as out_dir:
        trainer = hf_trainer(model, train_rows, dev_rows, collator, metrics, args, seed, out_dir)
        t = {}
        with timed(t, "fit"):
            trainer.train()
    val = sum(e.get("eval_runtime", 0.0) for e in trainer.state.log_history)
    return trainer, t["fit"], val


def run_baseline(splits, args, seed: int) -> dict:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
    )

    tok = AutoTokenizer.from_pretrained(default_model_path())
    intents = LabelSet.for_sentences(splits["train"])
    tags = LabelSet.for_tags(splits["train"])
    ir = {s: intent_rows(tok, splits[s], intents, args.max_length) for s in splits}
    sr = {s: slot_rows(tok, splits[s], tags, args.max_length) for s in splits}
    it, i_fit, i_val = fit_baseline_model(
        AutoModelForSequenceClassification, intents, ir["train"], ir["dev"],
        DataCollatorWithPadding(tok), intent_dev_metrics, args, seed,
    )  # fmt: skip
    st, s_fit, s_val = fit_baseline_model(
        AutoModelForTokenClassification, tags, sr["train"][0], sr["dev"][0],
        DataCollatorForTokenClassification(tok), slot_dev_metrics_for(tags), args, seed,
    )  # fmt: skip
    test = splits["test"]
    pred_labels = [intents.name(int(i)) for i in it.predict(ir["test"]).predictions.argmax(-1)]
    logits = st.predict(sr["test"][0]).predictions  # (N, T, L), padded across batches
    pred_tags = [
        word_tags(logits[i], sr["test"][1][i], len(ex.tokens), tags) for i, ex in enumerate(test)
    ]
    gold_labels, gold_tags = [ex.label for ex in test], [ex.tags for ex in test]
    return {
        "intent_accuracy": M.sentence_metrics(gold_labels, pred_labels)["accuracy"],
        "slot_f1": M.token_metrics(gold_tags, pred_tags)["f1"],
        "frame_accuracy": M.frame_accuracy(gold_labels, pred_labels, gold_tags, pred_tags),
        "fit_s": i_fit + s_fit,
        "val_s": i_val + s_val,
        "fit_intent_s": i_fit,
        "fit_slots_s": s_fit,
    }


# ---- driver -------------------------------------------------------------------------------------
METRICS = ("intent_accuracy", "slot_f1", "frame_accuracy")
TARGET_RATIO = 0.50  # issue 17: polyhead full <= 0.50x the two Trainer models' fit time


def run_seed(args, seed: int, index: int, folder: Path, record) -> dict[str, dict]:
    source = subset_files(folder, args, seed)
    cfg = polyhead_config("polyhead-full", args, seed, source)
    splits = load_splits(cfg.source("intent"), seed)  # the very examples polyhead trains on
    # Alternate which side runs first, so slow drift in the shared machine's load does not
    # always fall on the same side.
    order = list(args.systems)
    if index % 2 and "baseline" in order:
        order.remove("baseline")
        order.append("baseline")
    out = {"_sizes": {k: len(v) for k, v in splits.items()}}
    for system in order:
        print(f"[seed {seed}] {system} ...", flush=True)
        if system == "baseline":
            out[system] = run_baseline(splits, args, seed)
        else:
            out[system] = run_polyhead(system, args, seed, source)
        print(f"[seed {seed}] {system}: {out[system]}", flush=True)
        record(seed, out)  # partial results survive an interrupted run
    return out


def summarise(per_seed: dict, systems: list[str]) -> dict[str, dict]:
    """Mean over seeds per system; ratios of time against the baseline."""
    summary = {}
    for system in systems:
        runs = [per_seed[s][system] for s in per_seed]
        keys = (*METRICS, "fit_s", "val_s")
        summary[system] = {k: statistics.mean(r[k] for r in runs) for k in keys}
        summary[system]["fit_excl_val_s"] = summary[system]["fit_s"] - summary[system]["val_s"]
    base = summary.get("baseline")
    if base:
        for system, row in summary.items():
            row["time_ratio"] = row["fit_s"] / base["fit_s"]
            row["time_ratio_excl_val"] = row["fit_excl_val_s"] / base["fit_excl_val_s"]
            if system != "baseline":
                beats = all(row[m] >= base[m] for m in METRICS)
                row["targets_met"] = beats and row["time_ratio"] <= TARGET_RATIO
    return summary


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    info = {"machine": machine(), "args": vars(args)}
    info["versions"] = versions("polyhead", "torch", "transformers", "lightning", "seqeval")
    start = time.perf_counter()
    per_seed: dict = {}

    def record(seed, out):
        per_seed[seed] = out
        write_json(args.json, {**info, "per_seed": {str(k): v for k, v in per_seed.items()}})

    with tempfile.TemporaryDirectory(prefix="massive-bench-") as folder:
        for i, seed in enumerate(args.seeds):
            run_seed(args, seed, i, Path(folder), record)
    summary = summarise(per_seed, args.systems)
    columns = ["system", *METRICS, "fit_s", "fit_excl_val_s", "time_ratio", "time_ratio_excl_val"]
    print(format_table([{"system": k, **v} for k, v in summary.items()], columns))
    for system, row in summary.items():
        if "targets_met" in row:
            print(f"{system}: targets met: {row['targets_met']}")
    info.update(
        per_seed={str(k): v for k, v in per_seed.items()},
        summary=summary,
        wall_s=time.perf_counter() - start,
        load_avg_at_end=list(os.getloadavg()),
    )
    print(f"wrote {write_json(args.json, info)}")


if __name__ == "__main__":
    main()
