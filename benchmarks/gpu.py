"""One GPU (issue 6): training throughput of polyhead `full` vs HF Trainer, and `encode` vs
sentence-transformers, on a base-size BERT architecture with random weights (speed only).

    bash benchmarks/gpu.sh                       # on the device; see gpu.sh for set-up
    python benchmarks/gpu.py --smoke             # CPU, tiny sizes: checks the script runs

Training: batch 64, bf16 (`bf16-mixed` in polyhead, `bf16=True` in the Trainer), gradient
clipping 1.0 and AdamW on both sides, utterance-length inputs (the demo sentences the package
ships, repeated), dynamic padding. samples/s = batch × steady steps / their time, steps after
`--warmup` only, timed between CUDA-synchronised step boundaries. polyhead runs twice:
intent only (the same work as the Trainer's sequence classifier) and intent + slots (one
backbone pass, two heads: what users run).

Encode: the same random BERT-base folder through `load_any(...).encode` and
`SentenceTransformer(...).encode` (mean pooling on both), batch 64, one warm-up, median of 3.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine, versions  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "src" / "polyhead" / "demo_data"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="timed training steps per system")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps before them")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--encode-texts", type=int, default=50_000)
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the MiniLM's)")
    p.add_argument("--smoke", action="store_true", help="CPU, tiny model, a few steps")
    p.add_argument("--out", default=str(RESULTS_DIR / "gpu.json"))
    return p.parse_args(argv)


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepClock:
    """Seconds of the steps after `warmup`, between synchronised step boundaries."""

    def __init__(self, warmup: int):
        self.warmup, self.times, self._t = warmup, [], 0.0

    def begin(self) -> None:
        sync()
        self._t = time.perf_counter()

    def end(self) -> None:
        sync()
        self.times.append(time.perf_counter() - self._t)

    def samples_per_s(self, batch: int) -> float:
        steady = self.times[self.warmup :]
        return batch * len(steady) / sum(steady)


def make_backbone(folder: Path, args) -> Path:
    """Random BERT-base (12 × 768; vocab 30522 = the MiniLM's BERT-uncased tokenizer)."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok_dir = args.tokenizer
    if tok_dir is None:
        from polyhead.model.backbone import default_model_path

        tok_dir = default_model_path()
    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    config = BertConfig(**(small if args.smoke else {}))
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    AutoTokenizer.from_pretrained(str(tok_dir)).save_pretrained(folder)
    return folder


def training_examples(n: int) -> list[dict]:
    rows = [json.loads(line) for line in (DEMO / "train.jsonl").read_text().splitlines()]
    return [rows[i % len(rows)] for i in range(n)]


def polyhead_throughput(backbone: Path, work: Path, args, tasks: list[str]) -> float:
    import lightning.pytorch as pl

    from polyhead.config import validate_config
    from polyhead.engine.train import train

    n = args.batch_size * (args.warmup + args.steps)
    data = work / "data"
    data.mkdir(exist_ok=True)
    (data / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in training_examples(n)))
    (data / "dev.jsonl").write_text((DEMO / "dev.jsonl").read_text())
    kinds = {"intent": "sentence", "slots": "token"}
    cfg = validate_config(
        {
            "model": {"backbone": str(backbone), "max_length": args.max_length},
            "data": {"train": str(data / "train.jsonl"), "dev": str(data / "dev.jsonl")},
            "tasks": {t: {"kind": kinds[t]} for t in tasks},
            "plan": {"strategy": "full"},
            "trainer": {
                "epochs": 1,
                "batch_size": args.batch_size,
                "precision": "32-true" if args.smoke else "bf16-mixed",
                "patience": None,
                "progress": False,
            },
        }
    )
    clock = StepClock(args.warmup)

    class Clock(pl.Callback):
        def on_train_batch_start(self, *a):
            clock.begin()

        def on_train_batch_end(self, *a):
            clock.end()

    train(cfg, work / f"run-{'-'.join(tasks)}", extra_callbacks=[Clock()])
    return clock.samples_per_s(args.batch_size)


def trainer_throughput(backbone: Path, work: Path, args) -> float:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(str(backbone))
    rows = training_examples(args.batch_size * (args.warmup + args.steps))
    labels = sorted({r["label"] for r in rows})
    enc = tok([" ".join(r["tokens"]) for r in rows], truncation=True, max_length=args.max_length)
    dataset = [
        {"input_ids": ids, "attention_mask": am, "labels": labels.index(r["label"])}
        for ids, am, r in zip(enc["input_ids"], enc["attention_mask"], rows, strict=True)
    ]
    model = AutoModelForSequenceClassification.from_pretrained(
        str(backbone), num_labels=len(labels)
    )
    clock = StepClock(args.warmup)

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            clock.begin()

        def on_step_end(self, *a, **k):
            clock.end()

    targs = TrainingArguments(
        output_dir=str(work / "hf"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        bf16=not args.smoke,
        use_cpu=args.smoke,
        max_grad_norm=1.0,
        save_strategy="no",
        logging_steps=10**6,
        report_to=[],
        disable_tqdm=True,
    )
    Trainer(
        model=model,
        args=targs,
        train_dataset=dataset,
        data_collator=DataCollatorWithPadding(tok),
        callbacks=[Clock()],
    ).train()
    return clock.samples_per_s(args.batch_size)


def encode_throughput(backbone: Path, args) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    from polyhead.model.loading import load_any
    from polyhead.predict import encode as polyhead_encode

    device = "cpu" if args.smoke else "cuda"
    texts = [" ".join(r["tokens"]) for r in training_examples(args.encode_texts)]
    poly = load_any(str(backbone), device=device)
    systems = {
        "polyhead": lambda texts, **kw: polyhead_encode(poly, texts, **kw),
        "sentence-transformers": SentenceTransformer(str(backbone), device=device).encode,
    }
    out = {}
    for name, encode in systems.items():
        encode(texts[: args.batch_size * 4], batch_size=args.batch_size)  # warm-up
        rounds = []
        for _ in range(3):
            sync()
            start = time.perf_counter()
            encode(texts, batch_size=args.batch_size)
            sync()
            rounds.append(time.perf_counter() - start)
        out[name] = len(texts) / statistics.median(rounds)
    return out


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.smoke:
        args.steps, args.warmup, args.encode_texts = 4, 2, 256
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    import torch

    if not args.smoke and not torch.cuda.is_available():
        sys.exit("no GPU: run with --smoke to check the script on CPU")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backbone = make_backbone(work / "bert-base-random", args)
        results = {
            "hf_trainer": trainer_throughput(backbone, work, args),
            "polyhead_intent": polyhead_throughput(backbone, work, args, ["intent"]),
            "polyhead_intent_slots": polyhead_throughput(backbone, work, args, ["intent", "slots"]),
        }
        encode = encode_throughput(backbone, args)
    report = {
        "device": device,
        "args": vars(args),
        "train_samples_per_s": results,
        "train_ratio_vs_hf_trainer": {
            k: v / results["hf_trainer"] for k, v in results.items() if k != "hf_trainer"
        },
        "encode_sentences_per_s": encode,
        "encode_ratio": encode["polyhead"] / encode["sentence-transformers"],
        "machine": machine(),
        "versions": versions(
            "polyhead", "torch", "transformers", "lightning", "sentence-transformers"
        ),
    }
    print(json.dumps(report, indent=2))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    if os.environ.get("OUT"):  # the device tool brings back what is under $OUT
        Path(os.environ["OUT"], Path(args.out).name).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
