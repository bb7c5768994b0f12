"""`make demo` and the MASSIVE sample it trains on: the demo runs end to end (on a tiny backbone
and a slice of the data here) and ends with Python lines naming the model it saved; the shipped
data is what scripts/make_demo_data.py makes from MASSIVE, with its license beside it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import Counter

from rich.console import Console

from polyhead import demo
from polyhead.data.readers import detect_format, read_examples
from polyhead.model.multitask import MultiTaskModel
from tests.conftest import DEMO, REPO

SIZES = {"train": 2000, "dev": 300, "test": 300}


def test_demo_trains_reports_and_ends_with_the_lines_that_load_its_model(tiny_bert, tmp_path):
    out = io.StringIO()
    quick = [
        f"model.backbone={tiny_bert}",
        "trainer.epochs=1",
        "trainer.progress=false",
        "data.max_train_examples=32",
        "data.max_eval_examples=16",
    ]
    run_dir = demo.main(quick, tmp_path / "run", Console(file=out, width=200))

    text = out.getvalue()
    assert "dev metrics" in text and "test metrics" in text
    lines = text.rstrip().splitlines()
    artifact = run_dir / "model"
    assert [ln.strip() for ln in lines[-3:]] == [
        "import polyhead",
        f'model = polyhead.load("{artifact}")',
        'model.predict(["wake me up at seven"])',
    ]
    model = MultiTaskModel.load(artifact)  # the path printed is a saved model
    assert set(model.spec.task("intent").labels) <= {ex.label for ex in _read("train")}


def _read(split: str):
    return read_examples(DEMO / f"{split}.jsonl")


def _lines(split: str) -> list[str]:
    return (DEMO / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()


def test_demo_data_is_a_massive_sample_with_intents_and_slots():
    splits = {split: _read(split) for split in SIZES}
    assert {split: len(rows) for split, rows in splits.items()} == SIZES
    assert detect_format(DEMO / "train.jsonl") == "massive"
    intents = Counter(ex.label for ex in splits["train"])
    assert len(intents) >= 55  # of MASSIVE's 60, at their natural frequencies
    slot_types = {t[2:] for ex in splits["train"] for t in ex.tags if t != "O"}
    assert len(slot_types) >= 40
    # Each split drawn from its own MASSIVE partition: no record in two of them.
    ids = [json.loads(line)["id"] for s in SIZES for line in _lines(s)]
    assert len(set(ids)) == len(ids) == sum(SIZES.values())
    for name in ("LICENSE", "NOTICE.md", "CITATION.md", "README.md"):
        assert (DEMO / name).stat().st_size > 0, name
    assert "Attribution 4.0 International" in (DEMO / "LICENSE").read_text()


def test_make_demo_data_regenerates_the_shipped_files(shared_data, tmp_path):
    source = shared_data / "massive_en_us"
    script = REPO / "scripts" / "make_demo_data.py"
    cmd = [sys.executable, str(script), "--source", str(source), "--out", str(tmp_path)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "LICENSE", "NOTICE.md", "CITATION.md"):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name
