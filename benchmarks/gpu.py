"""One GPU (issues 6, 17): training throughput of polyhead `full` vs HF Trainer and vs a plain
compiled PyTorch loop, and `encode` vs sentence-transformers, on a base-size BERT architecture
with random weights (speed only).

    bash benchmarks/gpu.sh                       # on the device; see gpu.sh for set-up
    python benchmarks/gpu.py --smoke             # CPU, tiny sizes: checks the script runs

Training: batches of 64 and 256 (`--batch-sizes`), bf16 (`bf16-mixed` in polyhead, `bf16=True`
in the Trainer, autocast in the loop), gradient clipping 1.0 and AdamW everywhere,
utterance-length inputs (the demo sentences the package ships, repeated). samples/s = batch x
steady steps / their time, steps after `--warmup` only, timed between CUDA-synchronised step
boundaries. Systems:
- `hf_trainer`: AutoModelForSequenceClassification + Trainer, dynamic padding (batch 64 only).
- `compiled_loop`: the issue-17 reference rebuilt here: the same classifier under
  `torch.compile`, inputs padded to a fixed 32 tokens, fused AdamW, no framework.
- `polyhead_intent` (the Trainer's work) and `polyhead_intent_slots` (one backbone pass, two
  heads: what users run), with polyhead's defaults: length-bucketed batches, padding to a
  multiple of 8 / the compiled widths, `trainer.compile: auto` (on, on CUDA).
- `polyhead_intent_cuda_graphs` (smallest batch only): the same with `trainer.compile_mode:
  reduce-overhead` (CUDA graphs, issue 17 item 4); it becomes a default only if it pays here.
Targets (issue 17): polyhead >= 2x HF Trainer at batch 64 and >= the compiled loop at 256.

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
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine, versions  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "src" / "polyhead" / "demo_data"
ENCODE_BATCH = 64


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200, help="timed training steps per system")
    p.add_argument("--warmup", type=int, default=30, help="untimed steps before them")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 256])
    p.add_argument("--compile", default="auto", help="polyhead trainer.compile: auto|true|false")
    p.add_argument("--loop-length", type=int, default=32, help="the compiled loop's fixed padding")
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


def polyhead_throughput(
    backbone: Path, work: Path, args, tasks: list[str], batch: int, mode: str = "default"
) -> float:
    import lightning.pytorch as pl

    from polyhead.config import validate_config
    from polyhead.engine.train import train

    n = batch * (args.warmup + args.steps)
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
                "batch_size": batch,
                "precision": "32-true" if args.smoke else "bf16-mixed",
                "compile": {"true": True, "false": False}.get(args.compile, args.compile),
                "compile_mode": mode,
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

    train(cfg, work / f"run-{'-'.join(tasks)}-{batch}-{mode}", extra_callbacks=[Clock()])
    return clock.samples_per_s(batch)


def trainer_throughput(backbone: Path, work: Path, args, batch: int) -> float:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tok = AutoTokenizer.from_pretrained(str(backbone))
    rows = training_examples(batch * (args.warmup + args.steps))
    labels = sorted({r["intent"] for r in rows})
    enc = tok([r["utt"] for r in rows], truncation=True, max_length=args.max_length)
    dataset = [
        {"input_ids": ids, "attention_mask": am, "labels": labels.index(r["intent"])}
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
        per_device_train_batch_size=batch,
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
    return clock.samples_per_s(batch)


def compiled_loop_throughput(backbone: Path, args, batch: int) -> float:
    """The issue-17 reference: a plain loop, the classifier under torch.compile, every batch
    padded to `--loop-length` tokens (one static shape), fused AdamW on CUDA, bf16 autocast."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    device = "cpu" if args.smoke else "cuda"
    tok = AutoTokenizer.from_pretrained(str(backbone))
    rows = training_examples(batch * (args.warmup + args.steps))
    labels = sorted({r["intent"] for r in rows})
    enc = tok([r["utt"] for r in rows], truncation=True, padding="max_length",
              max_length=args.loop_length, return_tensors="pt")  # fmt: skip
    y = torch.tensor([labels.index(r["intent"]) for r in rows])
    model = AutoModelForSequenceClassification.from_pretrained(
        str(backbone), num_labels=len(labels)
    ).to(device)
    kernel = {"fused": True} if device == "cuda" else {"foreach": True}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **kernel)
    step_fn = torch.compile(model)
    clock = StepClock(args.warmup)
    for i in range(args.warmup + args.steps):
        sl = slice(i * batch, (i + 1) * batch)
        inputs = {k: v[sl].to(device, non_blocking=True) for k, v in enc.items()}
        clock.begin()
        with torch.autocast(device, dtype=torch.bfloat16, enabled=not args.smoke):
            loss = step_fn(**inputs, labels=y[sl].to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        clock.end()
    return clock.samples_per_s(batch)


def encode_throughput(backbone: Path, args) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    from polyhead.model.loading import load_any
    from polyhead.predict import encode as polyhead_encode

    device = "cpu" if args.smoke else "cuda"
    texts = [r["utt"] for r in training_examples(args.encode_texts)]
    poly = load_any(str(backbone), device=device)
    systems = {
        "polyhead": lambda texts, **kw: polyhead_encode(poly, texts, **kw),
        "sentence-transformers": SentenceTransformer(str(backbone), device=device).encode,
    }
    out = {}
    for name, encode in systems.items():
        encode(texts[: ENCODE_BATCH * 4], batch_size=ENCODE_BATCH)  # warm-up
        rounds = []
        for _ in range(3):
            sync()
            start = time.perf_counter()
            encode(texts, batch_size=ENCODE_BATCH)
            sync()
            rounds.append(time.perf_counter() - start)
        out[name] = len(texts) / statistics.median(rounds)
    return out


def ratios(results: dict[str, dict[int, float]]) -> dict[str, float]:
    """polyhead against the Trainer (smallest batch) and the compiled loop (every batch)."""
    out = {}
    for name in ("polyhead_intent", "polyhead_intent_slots", "polyhead_intent_cuda_graphs"):
        for batch, value in results.get(name, {}).items():
            if batch in results.get("hf_trainer", {}):
                out[f"{name}_vs_hf_trainer@{batch}"] = value / results["hf_trainer"][batch]
            if batch in results.get("compiled_loop", {}):
                out[f"{name}_vs_compiled_loop@{batch}"] = value / results["compiled_loop"][batch]
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
        results: dict[str, dict[int, float]] = {}
        for batch in args.batch_sizes:
            runs = {
                "compiled_loop": partial(compiled_loop_throughput, backbone, args, batch),
                "polyhead_intent": partial(
                    polyhead_throughput, backbone, work, args, ["intent"], batch
                ),
                "polyhead_intent_slots": partial(
                    polyhead_throughput, backbone, work, args, ["intent", "slots"], batch
                ),
            }
            if batch == min(args.batch_sizes):  # the Trainer at the small batch only (time)
                trainer = partial(trainer_throughput, backbone, work, args, batch)
                runs = {"hf_trainer": trainer, **runs}
                # item 4: CUDA graphs (compile mode reduce-overhead) where steps are launch-bound
                runs["polyhead_intent_cuda_graphs"] = partial(
                    polyhead_throughput, backbone, work, args, ["intent"], batch, "reduce-overhead"
                )
            for name, run in runs.items():
                results.setdefault(name, {})[batch] = run()
                print(f"{name} batch {batch}: {results[name][batch]:.1f} samples/s", flush=True)
        encode = encode_throughput(backbone, args)
    report = {
        "device": device,
        "args": vars(args),
        "train_samples_per_s": results,
        "ratios": ratios(results),
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
