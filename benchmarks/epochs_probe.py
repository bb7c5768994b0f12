"""Probe for issue 18 part 3: polyhead's untuned defaults with more epochs on the tune
benchmark's 2,000-utterance subset (same files, same test split)."""
import json, sys
from pathlib import Path
sys.path.insert(0, "benchmarks")
import torch
torch.set_num_threads(1)
import tune as tb
args = tb.parse_args(["--max-train", "2000", "--max-dev", "500", "--out", "/tmp/t18/tune", "--seeds", "42"])
import massive
source = massive.subset_files(Path(args.out), args, 42)
out = {}
for epochs in [int(e) for e in sys.argv[1:]]:
    cfg = tb.base_config(args, source, trainer={"progress": False, "epochs": epochs, "seed": 42})
    out[epochs] = tb.test_metrics(cfg)
    print(epochs, out[epochs], flush=True)
    Path("/tmp/epochs_probe.json").write_text(json.dumps(out, indent=1))
