"""The pair kind on real data with the packaged MiniLM: an STS-B cross-encoder (slow: minutes on
one CPU core). Its own file so that `make test`'s two workers run it beside test_kind_real.py."""

from __future__ import annotations

import pytest

import polyhead
from tests.kinds.test_kind_real import _config

pytestmark = pytest.mark.slow


def test_stsb_pair_regression(shared_data, tmp_path):
    folder = shared_data / "stsb_en"
    data = {
        "train": str(folder / "stsb-en-train.csv"),
        "dev": str(folder / "stsb-en-dev.csv"),
        "format": "pairs",
        "max_train_examples": 800,
        "max_eval_examples": 300,
    }
    raw = _config({"sts": {"kind": "pair", "head": "regression", "data": data}}, max_length=64)
    run = polyhead.train(raw, out=tmp_path / "run", show_plan=False)
    assert run.metrics["dev"]["sts"]["spearman"] > 0.5, run.metrics["dev"]
    model = polyhead.load(run.run_dir / "model")
    same, other = model.predict_pairs(
        [
            ("A man is playing a guitar.", "A man plays the guitar."),
            ("A man is playing a guitar.", "A woman is slicing an onion."),
        ]
    )
    assert same["sts"]["value"] > other["sts"]["value"]
