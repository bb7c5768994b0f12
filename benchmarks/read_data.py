"""What reading data given in Python costs: a synthetic `datasets.Dataset` (10 words, 10
Sequence(ClassLabel) tags and a ClassLabel label per row) -> polyhead Examples per split,
with the content fingerprint (polyhead.data.frames.read_table_data).

    .venv/bin/python benchmarks/read_data.py --rows 10000 100000

Prints rows, seconds, rows per second and the growth of peak resident memory.
"""

from __future__ import annotations

import argparse
import resource
import time

import datasets

from polyhead.data.frames import read_table_data

WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "again"]
TAGS = ["O", "B-x", "I-x"]


def synthetic(n: int) -> datasets.Dataset:
    features = datasets.Features(
        tokens=datasets.Sequence(datasets.Value("string")),
        tags=datasets.Sequence(datasets.ClassLabel(names=TAGS)),
        label=datasets.ClassLabel(names=["a", "b", "c"]),
    )
    rows = {"tokens": [WORDS] * n, "tags": [[i % 3 for i in range(10)]] * n}
    rows["label"] = [i % 3 for i in range(n)]
    return datasets.Dataset.from_dict(rows, features=features)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    args = p.parse_args(argv)
    print(f"{'rows':>9} {'seconds':>8} {'rows/s':>8} {'peak RSS +MB':>13}")
    for n in sorted(args.rows):  # ascending: peak RSS only grows
        ds = synthetic(n)
        before, start = peak_mb(), time.perf_counter()
        read_table_data(ds)
        seconds = time.perf_counter() - start
        print(f"{n:>9,} {seconds:>8.2f} {n / seconds:>8,.0f} {peak_mb() - before:>13.0f}")


if __name__ == "__main__":
    main()
