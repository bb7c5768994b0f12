"""compare with data given in Python; the package's public names and its lazy import."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

import polyhead
from tests.api.conftest import api_config
from tests.data.test_frames import demo_examples

PUBLIC = {"load", "train", "training_plan", "compare_strategies", "push_to_hub", "Model", "Run"}


def sentence_rows(n: int = 40) -> list[dict]:
    return [{"text": e.text, "label": e.label} for e in demo_examples(n)]


def compare_config(backbone) -> dict:
    config = api_config(backbone, epochs=1)
    config["tasks"] = {"intent": {"kind": "sentence"}}
    return config


def test_compare_in_process_finds_python_data_in_every_run(tiny_bert, tmp_path):
    outcomes, report = polyhead.compare_strategies(
        compare_config(tiny_bert),
        data=sentence_rows(),
        out=tmp_path / "cmp",
        strategies=["heads"],
        seeds=2,
        isolate=False,
    )
    assert [(o.name, o.status) for o in outcomes] == [("heads-s0", "done"), ("heads-s1", "done")]
    assert [row[0] for row in report.summary[1]] == ["heads"]
    assert not (tmp_path / "cmp" / "data").exists()  # one process: nothing written


@pytest.mark.slow
def test_isolated_compare_writes_python_data_once_for_its_processes(tiny_bert, tmp_path):
    out = tmp_path / "cmp"
    outcomes, _ = polyhead.compare_strategies(
        compare_config(tiny_bert), data=sentence_rows(), out=out, strategies=["heads"], seeds=1
    )
    assert [o.status for o in outcomes] == ["done"], outcomes
    (written,) = (out / "data").iterdir()
    run_config = yaml.safe_load((out / "configs" / "heads-s0.yaml").read_text())
    assert run_config["data"]["path"] == str(written) and run_config["data"]["memory"] is None


def test_public_names_are_listed_and_shown():
    assert PUBLIC <= set(polyhead.__all__) <= set(dir(polyhead))
    assert callable(polyhead.load) and polyhead.Run.__module__ == "polyhead.api"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        polyhead.nothing  # noqa: B018


def test_importing_polyhead_or_its_config_does_not_load_the_api():
    code = (
        "import sys, polyhead, polyhead.config; "
        "print(sorted(m for m in ('polyhead.api', 'lightning', 'datasets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
