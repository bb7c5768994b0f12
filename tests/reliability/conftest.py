"""A tiny run shared by the fault and DDP tests: 2-layer random BERT, 48 demo sentences
(6 steps of 8 per epoch), 31 dev sentences (odd, so a 2-process eval shard is padded),
gradual unfreezing over 3 epochs, every dropout off so runs can be compared exactly."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
import yaml

from polyhead.config import RunConfig, validate_config
from tests.conftest import demo_raw, make_tiny_backbone

STEPS_PER_EPOCH, EPOCHS = 6, 3


@pytest.fixture(scope="session")
def rel_bert(tmp_path_factory) -> Path:
    return make_tiny_backbone(tmp_path_factory.mktemp("rel-bert"), "bert", layers=2)


def raw_config(backbone: Path, **trainer) -> dict:
    no_dropout = {"dropout": 0.0}
    return demo_raw(
        backbone,
        train=48,
        eval=31,
        test=False,
        model={"hidden_dropout": 0.0, "attention_dropout": 0.0},
        tasks={"intent": no_dropout, "slots": no_dropout},
        plan={"strategy": "gradual"},
        trainer={
            "epochs": EPOCHS,
            "accelerator": "cpu",
            "log_every_n_steps": 1,
            **trainer,
        },
    )


def config(backbone: Path, **trainer) -> RunConfig:
    return validate_config(raw_config(backbone, **trainer))


def write_config(folder: Path, backbone: Path, **trainer) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(raw_config(backbone, **trainer)))
    return path


def history(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]


def polyhead_cmd(*args) -> list[str]:
    """`polyhead ...` as a module run, so Lightning's DDP launcher can re-run it."""
    return [sys.executable, "-m", "polyhead.cli", *map(str, args)]


@pytest.fixture(scope="session")
def reference_run(rel_bert, tmp_path_factory):
    """The uninterrupted single-process run every fault and DDP run is compared with."""
    from polyhead.engine.train import train

    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = train(config(rel_bert), run_dir)
    return run_dir, result


@pytest.fixture(autouse=True)
def _python_ctrl_c():
    """Tests here send themselves SIGINT: give them Python's own handler even when the suite
    was started with SIGINT ignored (a background job of a non-interactive shell inherits
    SIG_IGN, and Python then leaves it so)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
