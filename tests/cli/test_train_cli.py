"""polyhead train / plan / evaluate / predict as a user runs them. One real `polyhead train`
process (the console entry point end to end); the other commands run in-process through the
same `main()`, which is what turns errors into one line and exit code 2."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from polyhead.cli import main
from polyhead.plan import plan_json
from tests.conftest import DEMO, demo_raw

ENTITY_KEYS = {"type", "text", "start_char", "end_char", "start_word", "end_word"}
QUICK = ["--set", "trainer.epochs=2", "--set", "data.max_train_examples=24"]


@pytest.fixture(scope="module")
def config_file(tiny_bert, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli-config") / "run.yaml"
    raw = demo_raw(tiny_bert, train=None, plan={"strategy": "full"})
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def trained(config_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli-run") / "run"
    cmd = [sys.executable, "-m", "polyhead.cli", "train", str(config_file), *QUICK]
    res = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-3000:]
    (out.parent / "stderr.txt").write_text(res.stderr)
    return out


def polyhead(monkeypatch, capsys, *args: str, stdin: str | None = None):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["polyhead", *args])
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_the_trained_model_carries_a_card_with_its_test_metrics(trained):
    from tests.export.test_card import split_card

    front, body = split_card((trained / "model" / "README.md").read_text())
    test = json.loads((trained / "metrics.json").read_text())["test"]
    values = [m["value"] for r in front["model-index"][0]["results"] for m in r["metrics"]]
    assert test["intent"]["accuracy"] in values and test["slots"]["f1"] in values
    assert front["library_name"] == "polyhead"
    assert "polyhead.load" in body


def test_train_console_is_quiet(trained):
    """Lightning's INFO lines (accelerators, a logging-service tip) appear only with
    --verbose, and nothing is printed twice."""
    err = (trained.parent / "stderr.txt").read_text()
    assert "GPU available" not in err and "Tip" not in err, err[-2000:]
    lines = [ln.strip() for ln in err.splitlines() if "INFO" in ln]
    assert len(lines) == len(set(lines)), lines


def test_verbose_shows_lightnings_messages_once(monkeypatch):
    import logging

    from polyhead.engine.trainer import VERBOSE_ENV, quiet_lightning

    monkeypatch.setenv(VERBOSE_ENV, "1")
    quiet_lightning()
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.INFO
    assert not [
        h for h in logging.getLogger("lightning").handlers if type(h) is logging.StreamHandler
    ]
    monkeypatch.delenv(VERBOSE_ENV)
    quiet_lightning()
    assert logging.getLogger("lightning.pytorch").getEffectiveLevel() == logging.WARNING


def test_train_writes_the_run_directory(trained):
    for name in ("config.yaml", "plan.txt", "plan.json", "history.jsonl", "metrics.json"):
        assert (trained / name).is_file(), name
    assert (trained / "model" / "polyhead.json").is_file()
    assert (trained / "logs" / "metrics.csv").is_file()
    assert (trained / "checkpoints" / "last.ckpt").is_file()
    metrics = json.loads((trained / "metrics.json").read_text())
    for split in ("dev", "test"):
        assert 0.0 <= metrics[split]["intent"]["accuracy"] <= 1.0
        assert 0.0 <= metrics[split]["slots"]["f1"] <= 1.0
    history = (trained / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in history] == [0, 1]
    config = yaml.safe_load((trained / "config.yaml").read_text())
    assert config["trainer"]["epochs"] == 2  # the --set override is what ran


def test_plan_json_is_the_plan_the_trainer_builds(monkeypatch, capsys, config_file):
    from polyhead.config import load_config
    from polyhead.engine.train import prepare

    overrides = ["plan.strategy=gradual", "plan.layer_decay=0.5"]
    sets = [arg for o in overrides for arg in ("--set", o)]
    code, out, err = polyhead(monkeypatch, capsys, "plan", str(config_file), *sets, "--json")
    assert code == 0, err
    _, _, plan = prepare(load_config(config_file, overrides))
    assert json.loads(out) == plan_json(plan)


def test_evaluate_json(monkeypatch, capsys, trained):
    data = DEMO / "test.jsonl"
    args = ["evaluate", str(trained / "model"), "--data", str(data), "--json"]
    code, out, err = polyhead(monkeypatch, capsys, *args)
    assert code == 0, err
    metrics = json.loads(out)
    assert metrics["intent"]["n"] == metrics["slots"]["n"] == 300  # the whole file
    assert metrics["intent"]["n_unseen"] >= 0
    assert 0.0 <= metrics["slots"]["f1"] <= 1.0
    assert "frame_accuracy" in metrics


def test_predict_one_json_line_per_input_including_empty(monkeypatch, capsys, trained):
    texts = "play some jazz by miles davis\n\nwake me up at seven am tomorrow\n"
    artifact = str(trained / "model")
    code, out, err = polyhead(monkeypatch, capsys, "predict", artifact, "-", stdin=texts)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert set(row["intent"]) == {"label", "score"}
        assert 0.0 <= row["intent"]["score"] <= 1.0
        assert isinstance(row["slots"], list)
        for entity in row["slots"]:
            assert set(entity) >= ENTITY_KEYS
    assert rows[1]["slots"] == []  # nothing to tag in an empty line


@pytest.mark.parametrize(
    ("override", "field", "hint"),
    [
        ("plan.strategi=full", "plan.strategi", "unknown field"),
        ("plan.strategy=bogus", "plan.strategy", "gradual"),
        ("plan.k=5", "plan.k", "at most 2"),
    ],
)
def test_bad_override_is_one_line_naming_the_field(
    monkeypatch, capsys, config_file, tmp_path, override, field, hint
):
    sets = ["--set", override] + (["--set", "plan.strategy=top-k"] if field == "plan.k" else [])
    args = ["train", str(config_file), *sets, "--out", str(tmp_path / "run")]
    code, _, err = polyhead(monkeypatch, capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert f"'{field}'" in lines[0] and hint in lines[0]


def test_train_refuses_an_existing_run_without_resume(monkeypatch, capsys, config_file, trained):
    code, _, err = polyhead(monkeypatch, capsys, "train", str(config_file), "--out", str(trained))
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: {trained}: already holds a run; use --resume or another --out"
    ]


def test_predict_streams_chunks_in_order(trained, tmp_path, monkeypatch, capsys):
    """Input is read and predicted a chunk at a time; the output keeps the input's order."""
    import polyhead.cli.train as cli_train

    monkeypatch.setattr(cli_train, "PREDICT_CHUNK", 7)
    texts = [f"set an alarm for {i} am" for i in range(20)]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    code, out, err = polyhead(
        monkeypatch, capsys, "predict", str(trained / "model"), str(tmp_path / "in.txt")
    )
    assert code == 0, err
    assert [json.loads(line)["text"] for line in out.splitlines()] == texts
