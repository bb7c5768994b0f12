"""The shipped example configs are what users copy: each must validate as it is, and every
`examples/*.yaml` the docs name must exist."""

import re
from pathlib import Path

import pytest

from polyhead.config import load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
DOCS = [REPO / "README.md", REPO / "BENCHMARKS.md"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_config_validates(path):
    cfg = load_config(path)
    assert cfg.tasks, f"{path.name} defines no task"


def test_every_example_the_docs_name_exists():
    named = {m for doc in DOCS for m in re.findall(r"examples/[\w.-]+\.yaml", doc.read_text())}
    assert named, "the docs name no example: the pattern is stale"
    missing = sorted(n for n in named if not (REPO / n).exists())
    assert missing == []
