"""MASSIVE en-US: polyhead's untuned defaults at several epoch counts, on the same seeded
subset benchmarks/tune.py uses (issue 18, part 3: does a small training set need more steps?).

Every field is polyhead's default except `trainer.epochs` (and the data, tasks, backbone and
max length that tune.py's `base_config` sets); test metrics on the full test split.

    PYTHONPATH=$PWD/src .venv/bin/python benchmarks/epochs.py --max-train 2000 --max-dev 500 \\
        --epochs 10 6 --seed 42 --threads 1 --out /tmp/t18/tune
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import massive  # noqa: E402
import tune  # noqa: E402
from common import machine, write_json  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-train", type=int, default=2000)
    p.add_argument("--max-dev", type=int, default=500)
    p.add_argument("--epochs", type=int, nargs="+", default=[3, 6, 10])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default="runs/bench-tune-massive", help="tune.py's --out: same subset")
    p.add_argument("--json", default="epochs-massive.json")
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    targs = tune.parse_args(
        ["--max-train", str(args.max_train), "--max-dev", str(args.max_dev), "--out", args.out,
         "--seeds", str(args.seed)]
    )  # fmt: skip
    Path(args.out).mkdir(parents=True, exist_ok=True)
    source = massive.subset_files(Path(args.out), targs, args.seed)
    rows = {}
    for epochs in args.epochs:
        trainer = {"progress": False, "epochs": epochs, "seed": args.seed}
        rows[epochs] = tune.test_metrics(tune.base_config(targs, source, trainer=trainer))
        print(epochs, rows[epochs], flush=True)
        write_json(args.json, {"machine": machine(), "args": vars(args), "by_epochs": rows})


if __name__ == "__main__":
    main()
