"""`python -m polyhead.compare.worker CONFIG RUN_DIR [--resume] STRATEGY SEED`: one run of a
comparison in its own process, so its peak memory is its own (see runner.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from polyhead.compare.runner import train_one
from polyhead.config import validate_config


def main(argv: list[str]) -> int:
    resume = "--resume" in argv
    config, run_dir, strategy, seed = [a for a in argv if a != "--resume"]
    cfg = validate_config(yaml.safe_load(Path(config).read_text()))
    outcome = train_one(cfg, Path(run_dir), resume, strategy, int(seed), scope="run")
    return 0 if outcome.status != "failed" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
