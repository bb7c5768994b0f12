"""Shared fixtures: tiny random backbones built from configs (nothing is downloaded)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# ../shared/data next to the checkout; POLYHEAD_SHARED_DATA points a git worktree elsewhere
SHARED_DATA = Path(os.environ.get("POLYHEAD_SHARED_DATA") or REPO.parent / "shared" / "data")

# `make test` runs two pytest-xdist workers on this 2-core machine: one torch thread each, and
# the same for the polyhead processes tests start (OMP_NUM_THREADS is inherited). Two processes
# with two threads each oversubscribe the cores, and torch's spinning threads then run several
# times slower than one thread each.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
THREADS = max(1, min(2, (os.cpu_count() or 2) // _WORKERS))
if _WORKERS > 1:
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True, scope="session")
def _private_feature_cache(tmp_path_factory):
    """Runs whose backbone is frozen cache its outputs; tests keep theirs out of ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("POLYHEAD_CACHE", str(tmp_path_factory.mktemp("polyhead-cache")))
    yield
    mp.undo()


def deep_merge(base: dict, over: dict) -> dict:
    """`base` with `over` merged in section by section (test configs override a few fields)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


DEMO = REPO / "src" / "polyhead" / "demo_data"


def demo_raw(backbone, *, train: int | None = 32, eval: int = 16, test: bool = True, **sections):
    """A dict config: intent + slots on a slice of the demo data the package ships (full
    fine-tuning, 3 epochs of batch 8, no progress bar, no early stopping), with `sections`
    deep-merged over it. `train=None` keeps every training sentence; `test=False`: no test."""
    data = {"train": str(DEMO / "train.jsonl"), "dev": str(DEMO / "dev.jsonl")}
    if test:
        data["test"] = str(DEMO / "test.jsonl")
    if train is not None:
        data["max_train_examples"] = train
    data["max_eval_examples"] = eval
    base = {
        "model": {"backbone": str(backbone), "max_length": 24},
        "data": data,
        "tasks": {"intent": {"kind": "sentence"}, "slots": {"kind": "token"}},
        "plan": {"strategy": "full", "head_lr": 3e-3, "backbone_lr": 1e-3},
        "trainer": {"epochs": 3, "batch_size": 8, "progress": False, "patience": None},
    }
    return deep_merge(base, sections)


FAMILIES = ["bert", "roberta", "distilbert", "deberta-v2", "mpnet"]


def tiny_config(family: str, layers: int = 2):
    from transformers import AutoConfig

    common = dict(vocab_size=30522, max_position_embeddings=256, pad_token_id=0)
    if family == "distilbert":
        return AutoConfig.for_model(
            family, dim=32, n_layers=layers, n_heads=2, hidden_dim=64, **common
        )
    return AutoConfig.for_model(
        family,
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        **common,
    )


def make_tiny_backbone(folder: Path, family: str = "bert", layers: int = 2, seed: int = 0) -> Path:
    """A random-weight HF model folder with the packaged MiniLM (WordPiece) tokenizer."""
    from transformers import AutoModel, AutoTokenizer

    from polyhead.model.backbone import default_model_path

    torch.manual_seed(seed)
    model = AutoModel.from_config(tiny_config(family, layers))
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(default_model_path()).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("backbones")
    return {f: make_tiny_backbone(root / f, f) for f in FAMILIES}


@pytest.fixture(scope="session")
def tiny_bert(tiny_backbones) -> Path:
    return tiny_backbones["bert"]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


# Modules whose tests train a model end to end or start polyhead in subprocesses (each takes
# seconds to tens of seconds on 2 cores). `make test-fast` (-m "not slow") leaves them out so
# the edit-test loop stays short; `make test` runs everything.
TRAINING_MODULES = {
    "tests/api/test_train.py",
    "tests/api/test_arrow_train.py",
    "tests/api/test_compare_and_face.py",
    "tests/cli/test_train_cli.py",
    "tests/cli/test_embed.py",
    "tests/compare/test_compare.py",
    "tests/data/sampling/test_two_sources.py",
    "tests/engine/test_frozen_weights_io.py",
    "tests/engine/test_resume.py",
    "tests/engine/test_auto_epochs.py",
    "tests/engine/test_strategies.py",
    "tests/engine/test_training.py",
    "tests/engine/guard/test_guard.py",
    "tests/engine/guard/test_continue.py",
    "tests/features/test_cache_training.py",
    "tests/features/test_frozen.py",
    "tests/export/test_onnx.py",
    "tests/export/test_transformers.py",
    "tests/kinds/test_kind_training.py",
    "tests/kinds/test_kind_real.py",
    "tests/kinds/test_kind_real_pair.py",
    "tests/kinds/test_kind_serve_export.py",
    "tests/model/lora/test_lora.py",
    "tests/model/quality/test_levers.py",
    "tests/reliability/test_ddp.py",
    "tests/reliability/test_faults.py",
    "tests/reliability/test_resume_config.py",
    "tests/reliability/test_resume_exact.py",
    "tests/reliability/test_hardening.py",
    "tests/reliability/test_bad_input.py",
    "tests/tune/test_tune.py",
}


# The longest files (minutes each on one core), started first: `make test`'s workers take whole
# files in collection order, so a long file left to the end would run alone on one core.
LONGEST_FIRST = (
    "tests/kinds/test_kind_real_pair.py",
    "tests/engine/test_speed.py",
    "tests/kinds/test_kind_real.py",
    "tests/engine/test_massive.py",
    "tests/reliability/test_ddp.py",
    "tests/export/test_transformers.py",
)


def _module(item) -> str:
    return Path(item.fspath).relative_to(REPO).as_posix()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if _module(item) in TRAINING_MODULES:
            item.add_marker(pytest.mark.slow)
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_module(item), len(rank)))  # stable: the rest in order
