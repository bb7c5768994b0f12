"""How often `transformers.pipeline` on a `--format transformers` export agrees with polyhead,
on every MASSIVE en-US test utterance, for a briefly trained MiniLM (not a test: a script).

    PYTHONPATH=src:. python tests/export/measure_transformers_export.py \
        --data ../shared/data/massive_en_us/en-US.jsonl --max-train 3000 --epochs 1 --threads 1

Trains on a seeded train subset, exports, then runs both pipelines and polyhead's Predictor
one text at a time (no padding on either side) and prints: intent labels equal; slot entity
lists equal, for the standard token-classification pipeline (over all utterances and over
those whose whitespace words the tokenizer splits: o'clock, what's; and whether every
difference is one of the latter) and for the folder's polyhead-token-classification pipeline.
Also renders the run's model card into OUT/export/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from tests.export.transformers_helpers import (
    pipe,
    pipeline_entities,
    polyhead_entities,
    predictor,
    splits_words,
)


def split_files(data: Path, folder: Path, max_train: int, seed: int) -> dict:
    parts: dict[str, list[str]] = {"train": [], "dev": [], "test": []}
    for line in data.read_text(encoding="utf-8").splitlines():
        if line.strip():
            parts[json.loads(line)["partition"]].append(line)
    rng = random.Random(seed)
    parts["train"] = rng.sample(parts["train"], min(max_train, len(parts["train"])))
    parts["dev"] = rng.sample(parts["dev"], 300)
    source = {"format": "massive"}
    for split, rows in parts.items():
        (folder / f"{split}.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
        source[split] = str(folder / f"{split}.jsonl")
    return source


def train_run(source: dict, run_dir: Path, args) -> None:
    from polyhead.config import validate_config
    from polyhead.engine.train import train

    cfg = validate_config(
        {
            "model": {"backbone": "minilm", "max_length": 64},
            "data": source,
            "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
            "plan": {"strategy": "full", "head_lr": 3e-3, "backbone_lr": 1e-4},
            "trainer": {"epochs": args.epochs, "batch_size": 32, "progress": False},
        }
    )
    train(cfg, run_dir)


def compare(artifact: Path, export: Path, texts: list[str]) -> dict:
    pred = predictor(artifact)
    token, clf = pipe(export / "slots", "token"), pipe(export / "intent", "sentence", True)
    own = pipe(export / "slots", "polyhead-token")
    counts = {"utterances": len(texts), "intent_equal": 0, "slots_equal": 0, "split_words": 0}
    counts.update(split_words_slots_equal=0, differences_all_split_words=True)
    counts["polyhead_pipeline_slots_equal"] = 0
    for text in texts:
        ours = pred.predict([text])[0]
        counts["intent_equal"] += clf(text)[0]["label"] == ours["intent"]["label"]
        expected = polyhead_entities(ours, "slots")
        counts["polyhead_pipeline_slots_equal"] += pipeline_entities(own, text) == expected
        same = pipeline_entities(token, text) == expected
        counts["slots_equal"] += same
        split = splits_words(pred.model.tokenizer, text)
        counts["split_words"] += split
        counts["split_words_slots_equal"] += split and same
        if not same and not split:
            counts["differences_all_split_words"] = False
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="MASSIVE en-US.jsonl")
    p.add_argument("--max-train", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--out", type=Path, default=None, help="keep the run and export here")
    p.add_argument("--threads", type=int, default=1, help="torch threads (busy shared cores)")
    p.add_argument("--reuse-run", action="store_true", help="OUT/run exists: skip training")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from polyhead.card import render_run_card
    from polyhead.export.formats import export_artifact

    root = args.out or Path(tempfile.mkdtemp(prefix="polyhead-measure-"))
    root.mkdir(parents=True, exist_ok=True)
    source = split_files(args.data, root, args.max_train, seed=0)
    start = time.perf_counter()
    if not args.reuse_run:
        train_run(source, root / "run", args)
    trained = time.perf_counter() - start
    report = export_artifact(str(root / "run" / "model"), "transformers", root / "export")
    provenance = (args.data.parent / "PROVENANCE.md").read_text(encoding="utf-8")
    card = render_run_card(root / "run", datasets=["AmazonScience/massive"], provenance=provenance)
    (root / "export" / "README.md").write_text(card, encoding="utf-8")
    texts = [json.loads(line)["utt"] for line in Path(source["test"]).read_text().splitlines()]
    counts = compare(root / "run" / "model", root / "export", texts)
    dev = json.loads((root / "run" / "metrics.json").read_text())["dev"]
    scores = {"intent_accuracy": dev["intent"]["accuracy"], "slots_f1": dev["slots"]["f1"]}
    print(json.dumps({"train_seconds": round(trained, 1), "dev": scores, **report}, indent=1))
    for key, value in counts.items():
        print(f"{key:32s} {value}")
    print(f"run, export and README.md in {root}")


if __name__ == "__main__":
    main()
