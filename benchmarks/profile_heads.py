"""Where a cached `heads` epoch spends its time: cProfile over epochs 2-4 of a 5-epoch MASSIVE
run with the feature cache on (the per-epoch costs behind the issue-4 speedup).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/profile_heads.py --max-train 1000 --max-eval 300

Prints each epoch's seconds (train start to validation end), then the top functions by
cumulative and by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import frozen  # noqa: E402  (data subsets and file writing live there)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--max-train", type=int, default=1000)
    p.add_argument("--max-eval", type=int, default=300)
    p.add_argument("--top", type=int, default=30)
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    import lightning.pytorch as pl
    import torch

    from polyhead.config import validate_config
    from polyhead.engine.train import train

    torch.set_num_threads(1)

    class Profile(pl.Callback):
        def __init__(self):
            self.profile, self.seconds, self._t = cProfile.Profile(), [], 0.0

        def on_train_epoch_start(self, trainer, pl_module):
            self._t = time.perf_counter()
            if trainer.current_epoch == 2:  # 0 builds the cache, 1 warms up
                self.profile.enable()

        def on_validation_end(self, trainer, pl_module):
            self.seconds.append(time.perf_counter() - self._t)
            if trainer.current_epoch == 4:
                self.profile.disable()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        splits = frozen.load_dataset("massive", args.max_train, args.max_eval, 42)
        files = frozen.write_jsonl(splits, work / "data", True)
        cfg = validate_config(
            {
                "model": {"backbone": "minilm", "max_length": 64},
                "data": files,
                "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
                "plan": {"strategy": "heads"},
                "trainer": {"epochs": 5, "batch_size": 32, "patience": None, "progress": False},
                "features": {"cache": {"dir": str(work / "cache")}},
            }
        )
        prof = Profile()
        train(cfg, work / "run", extra_callbacks=[prof])
    print("epoch seconds:", [round(s, 3) for s in prof.seconds])
    stats = pstats.Stats(prof.profile)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
