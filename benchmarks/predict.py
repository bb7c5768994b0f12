"""Prediction throughput (issue 17): polyhead `Predictor.predict` (one backbone pass serves the
intent and the slot head) vs what a user does without polyhead, two `transformers.pipeline`s
("text-classification" for the intent, "token-classification" for the slots, each running the
backbone), on MASSIVE en-US test utterances. Target: polyhead >= 2x.

Speed only: both sides are the packaged MiniLM with freshly initialised heads (60 intents, the
MASSIVE BIO slot tags), same batch size, same thread count, same texts. Timed: the predict
calls alone (models built and one warm-up batch before), median of `--rounds`.

    .venv/bin/python benchmarks/predict.py --texts 3000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine, shared_data, versions, write_json  # noqa: E402
from polyhead.model.backbone import default_model_path  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--texts", type=int, default=3000, help="test utterances (all: 2974, cycled)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1, help="torch threads, both sides")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds; the median is kept")
    p.add_argument("--json", default="predict.json", help="file name under benchmarks/results/")
    return p.parse_args(argv)


def massive_texts_and_labels(n: int) -> tuple[list[str], list[str], list[str]]:
    """n test utterances (cycled if n > 2,974), the intent names and the BIO slot tags."""
    lines = shared_data("massive_en_us", "en-US.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    test = [r["utt"] for r in rows if r["partition"] == "test"]
    intents = sorted({r["intent"] for r in rows})
    slot_types = sorted({s.split(" :")[0].strip("[ ") for r in rows
                         for s in r["annot_utt"].split("[")[1:]})  # fmt: skip
    tags = ["O"] + [f"{p}-{t}" for t in slot_types for p in ("B", "I")]
    return [test[i % len(test)] for i in range(n)], intents, tags


def polyhead_predictor(intents: list[str], tags: list[str], batch_size: int):
    from polyhead.config import validate_config
    from polyhead.model.multitask import MultiTaskModel
    from polyhead.predict import Predictor

    cfg = validate_config(
        {
            "model": {"backbone": "minilm", "max_length": 64},
            "data": {"train": "unused.jsonl"},
            "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        }
    )
    model = MultiTaskModel(cfg.to_spec({"intent": intents, "slots": tags})).eval()
    predictor = Predictor(model, batch_size=batch_size)
    return lambda texts: predictor.predict(texts)


def hf_pipelines(intents: list[str], tags: list[str], batch_size: int):
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        pipeline,
    )

    path = str(default_model_path())
    tok = AutoTokenizer.from_pretrained(path)

    def labelled(cls, names):
        return cls.from_pretrained(path, num_labels=len(names),
                                   id2label=dict(enumerate(names)),
                                   label2id={n: i for i, n in enumerate(names)})  # fmt: skip

    intent = pipeline("text-classification", model=labelled(AutoModelForSequenceClassification,
                      intents), tokenizer=tok, device=-1)  # fmt: skip
    slots = pipeline("token-classification", model=labelled(AutoModelForTokenClassification,
                     tags), tokenizer=tok, device=-1, aggregation_strategy="first")  # fmt: skip

    def run(texts):
        return intent(texts, batch_size=batch_size), slots(texts, batch_size=batch_size)

    return run


def timed_rounds(fn, texts: list[str], rounds: int) -> float:
    fn(texts[:64])  # warm-up: first-call allocations and lazy imports
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(texts)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    texts, intents, tags = massive_texts_and_labels(args.texts)
    systems = {
        "polyhead": polyhead_predictor(intents, tags, args.batch_size),
        "hf-pipelines": hf_pipelines(intents, tags, args.batch_size),
    }
    rows = []
    for name, fn in systems.items():
        seconds = timed_rounds(fn, texts, args.rounds)
        rows.append({"system": name, "seconds": seconds, "texts_per_s": len(texts) / seconds})
        print(rows[-1], flush=True)
    ratio = rows[0]["texts_per_s"] / rows[1]["texts_per_s"]
    print(format_table(rows, ["system", "seconds", "texts_per_s"]))
    verdict = "met" if ratio >= 2 else "not met"
    print(f"polyhead / pipelines: {ratio:.2f}x (target >= 2x: {verdict})")
    info = {"args": vars(args), "machine": machine(), "rows": rows, "ratio": ratio}
    info["versions"] = versions("polyhead", "torch", "transformers")
    print(f"wrote {write_json(args.json, info)}")


if __name__ == "__main__":
    main()
