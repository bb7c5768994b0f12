"""`polyhead train CONFIG --devices 2 --strategy ddp`: two processes on CPU (gloo), started
by Lightning's DDP launcher re-running the command, train the same config to the same result
as one process.

trainer.batch_size is the global batch: each process takes 4 of the 8 rows of the very batch
the single process trains on (ReplaySampler), and DDP averages the two halves' gradients.

Tolerance: sentence-task metrics identical; token-task F1 and the combined score within 0.01.
Each process averages its token losses over its own tokens, so when the halves hold different
numbers of tokens their average weights tokens slightly differently from one process's mean
over all tokens; the weights drift apart by rounding-sized amounts that can flip a few tags.
"""

from __future__ import annotations

import json
import os
import subprocess

from tests.reliability.conftest import EPOCHS, history, polyhead_cmd, write_config


def test_two_processes_match_one_and_count_every_dev_example_once(
    rel_bert, tmp_path, reference_run
):
    ref_dir, ref = reference_run
    run_dir, cfg_path = tmp_path / "run", write_config(tmp_path, rel_bert)
    cmd = polyhead_cmd("train", cfg_path, "--devices", 2, "--strategy", "ddp", "--out", run_dir)
    # its own feature cache, so the entries are built here, not reused from the reference run
    env = {**os.environ, "POLYHEAD_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=500, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("run directory") + proc.stderr.count("run directory") == 1
    # The feature cache (heads-only epoch, then the layer boundary): built by rank 0 alone,
    # each entry once, while the other rank waited and then opened it.
    lines = (proc.stdout + proc.stderr).splitlines()
    builds = [ln[ln.index("feature cache:") :] for ln in lines if "feature cache: comp" in ln]
    assert builds and len(builds) == len(set(builds)), builds

    runs = history(run_dir), history(ref_dir)
    assert [len(h) for h in runs] == [EPOCHS, EPOCHS]
    for ddp, one in zip(*runs, strict=True):
        # Dev metrics gathered from both processes: 31 examples, each once (the padded
        # duplicate of one process's shard collapses onto its example index).
        assert ddp["metrics"]["intent"]["n"] == one["metrics"]["intent"]["n"] == 31
        assert ddp["metrics"]["slots"]["n"] == 31
        assert ddp["step"] == one["step"]  # same number of optimizer steps per epoch
        assert ddp["trainable"] == one["trainable"] and ddp["lr"] == one["lr"]
        assert ddp["metrics"]["intent"] == one["metrics"]["intent"]
        assert abs(ddp["metrics"]["slots"]["f1"] - one["metrics"]["slots"]["f1"]) <= 0.01
        assert abs(ddp["metrics"]["score"] - one["metrics"]["score"]) <= 0.01

    final = json.loads((run_dir / "metrics.json").read_text())
    assert final["dev"]["intent"] == ref.metrics["dev"]["intent"]
    assert abs(final["dev"]["score"] - ref.metrics["dev"]["score"]) <= 0.01
    # One process wrote the run directory: one config, one history line per epoch.
    assert sorted(p.name for p in run_dir.iterdir() if p.suffix in (".yaml", ".jsonl")) == [
        "config.yaml",
        "history.jsonl",
    ]
