"""Embedding throughput: polyhead `load_any("minilm").encode` vs sentence-transformers
`SentenceTransformer(default_model_path()).encode`, on the MASSIVE en-US test utterances.

Same process, same model folder, same batch size and max length (256, the model's
sentence-transformers setting). Each side encodes once to warm up; then `--repeats` rounds,
alternating which side goes first, and the median seconds per side are reported. The
embeddings are checked to agree (max |difference|) so the speed is for the same output.

    .venv/bin/python benchmarks/embed.py --batch-size 64 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import format_table, machine, shared_data, versions, write_json  # noqa: E402
from polyhead.data import read_examples  # noqa: E402
from polyhead.model.backbone import default_model_path  # noqa: E402
from polyhead.model.loading import load_any  # noqa: E402
from polyhead.predict import encode  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--limit", type=int, default=None, help="first N test utterances (smoke)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--json", default="embed.json", help="file name under benchmarks/results/")
    return p.parse_args(argv)


def test_utterances(limit: int | None) -> list[str]:
    path = shared_data("massive_en_us", "en-US.jsonl")
    texts = [ex.text for ex in read_examples(path, format="massive") if ex.split == "test"]
    return texts[:limit] if limit else texts


def encoders(batch_size: int) -> dict:
    from sentence_transformers import SentenceTransformer

    poly = load_any("minilm")
    st = SentenceTransformer(str(default_model_path()), device="cpu")
    return {
        "polyhead": lambda texts: encode(poly, texts, batch_size=batch_size),
        "sentence-transformers": lambda texts: st.encode(
            texts, batch_size=batch_size, convert_to_numpy=True
        ),
    }


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    texts = test_utterances(args.limit)
    enc = encoders(args.batch_size)
    names = list(enc)
    outputs = {name: enc[name](texts[: args.batch_size]) for name in names}  # warm-up
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            outputs[name] = enc[name](texts)
            seconds[name].append(time.perf_counter() - start)
    max_diff = float(np.abs(outputs["polyhead"] - outputs["sentence-transformers"]).max())
    rows = []
    for name in names:
        median = statistics.median(seconds[name])
        rows.append({"system": name, "median_s": median, "sentences_per_s": len(texts) / median})
    ratio = rows[0]["sentences_per_s"] / rows[1]["sentences_per_s"]
    print(format_table(rows, ["system", "median_s", "sentences_per_s"]))
    print(f"ratio polyhead / sentence-transformers (sentences/s): {ratio:.3f} (target >= 1.0)")
    print(f"max |embedding difference|: {max_diff:.2e}")
    payload = {
        "args": vars(args),
        "n_sentences": len(texts),
        "machine": machine(),
        "versions": versions("polyhead", "torch", "transformers", "sentence-transformers"),
        "seconds": seconds,
        "rows": rows,
        "ratio": ratio,
        "max_abs_diff": max_diff,
    }
    print(f"wrote {write_json(args.json, payload)}")


if __name__ == "__main__":
    main()
