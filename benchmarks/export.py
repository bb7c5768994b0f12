"""CPU predict throughput: onnxruntime (exported graph) vs PyTorch, same texts, same threads.

    python benchmarks/export.py                      # minilm + random heads, 512 texts
    python benchmarks/export.py --artifact runs/demo/model --texts 1000 --threads 2

Both run `Predictor.predict` (same tokenisation, windows and post-processing); only the
forward pass differs. Each is timed `--repeats` times after a warm-up and the best time kept
(the least disturbed by other processes). Prints texts/s, the ratio, and how far the two
disagree (intent labels, slot entities, max embedding difference).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from polyhead.export.formats import export_artifact
from polyhead.export.runtime import load_predictor
from serve import benchmark_texts, random_head_artifact


def best_time(predictor, texts, repeats: int) -> tuple[float, list[dict]]:
    predictor.predict(texts[:64])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = predictor.predict(texts, embeddings=True)
        times.append(time.perf_counter() - start)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--artifact", type=Path, help="default: minilm with random heads")
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = benchmark_texts(args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        artifact = args.artifact or random_head_artifact(Path(tmp) / "minilm-random-heads")
        report = export_artifact(str(artifact), "onnx", Path(tmp) / "onnx")
        runs = {
            "pytorch": load_predictor(str(artifact), batch_size=args.batch_size),
            "onnxruntime": load_predictor(
                str(Path(tmp) / "onnx"), onnx=True, batch_size=args.batch_size, threads=args.threads
            ),
        }
        results = {name: best_time(p, texts, args.repeats) for name, p in runs.items()}
    (t_pt, pt), (t_ort, ort) = results["pytorch"], results["onnxruntime"]
    print(
        f"\n{len(texts)} texts, batch {args.batch_size}, {args.threads} thread(s), best of "
        f"{args.repeats}; export parity max abs diff {report['parity_max_abs_diff']:.1e}"
    )
    print("runtime        seconds  texts/s")
    for name, (t, _) in results.items():
        print(f"{name:<14} {t:>7.2f} {len(texts) / t:>8.1f}")
    print(f"onnxruntime / pytorch throughput: {t_pt / t_ort:.2f}x")
    pairs = list(zip(pt, ort, strict=True))
    intent = np.mean([a["intent"]["label"] == b["intent"]["label"] for a, b in pairs])
    slots = np.mean([a["slots"] == b["slots"] for a, b in pairs])
    emb = max(np.abs(np.array(a["embedding"]) - b["embedding"]).max() for a, b in pairs)
    print(f"agreement: intent {intent:.1%}, slots {slots:.1%}, max embedding diff {emb:.1e}")


if __name__ == "__main__":
    main()
