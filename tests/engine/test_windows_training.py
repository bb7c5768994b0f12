"""Training on windows (`data.windows`, on by default) at a max_length shorter than many
demo sentences: every labelled word gets a label position (none with truncation), a killed
run resumes exactly, and heads trained on the feature cache equal heads trained without it
(the cache is indexed by row, and a long example is several rows)."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from safetensors.torch import load_file

from polyhead.data.align import IGNORE_INDEX
from polyhead.engine.train import prepare, train
from polyhead.model.multitask import MultiTaskModel
from tests.engine.conftest import run_config

SHORT = {"model": {"max_length": 8}}  # [CLS] + 6 subwords + [SEP]


def _labelled_words(data) -> int:
    (rows,) = data.rows("train")
    return sum(label != IGNORE_INDEX for r in rows for label in r["labels.slots"])


def test_windows_label_every_word_that_truncation_drops(bert4):
    data, _, _ = prepare(run_config(bert4, **SHORT))
    n_words = sum(len(ex.tokens) for ex in data.sources[0].splits["train"])
    assert _labelled_words(data) == n_words
    assert data.train_stats.n_windowed_examples > 0 and data.train_stats.n_truncated_words == 0

    cut, _, _ = prepare(run_config(bert4, data={"windows": False}, **SHORT))
    assert _labelled_words(cut) == n_words - cut.train_stats.n_truncated_words
    assert cut.train_stats.n_truncated_words > 0
    assert len(cut.rows("train")[0]) == 32 < len(data.rows("train")[0])


class Killed(Exception):
    pass


class KillMidEpoch(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.current_epoch == 1 and batch_idx == 2:
            raise Killed


def _gradual(bert4):
    """Epoch 0: heads on cached final features; epoch 1: layer_3 on its cached input."""
    return run_config(
        bert4,
        plan={"strategy": "gradual", "unfreeze_every": 1},
        trainer={"epochs": 2},
        data={"max_train_examples": 16, "max_eval_examples": 8},
        **SHORT,
    )


def test_a_killed_run_on_windows_resumes_exactly(bert4, tmp_path):
    ref = train(_gradual(bert4), tmp_path / "ref")
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train(_gradual(bert4), run_dir, extra_callbacks=[KillMidEpoch()])
    resumed = train(_gradual(bert4), run_dir, resume=True)
    assert resumed.metrics["dev"] == ref.metrics["dev"]
    assert resumed.metrics["test"] == ref.metrics["test"]
    got = MultiTaskModel.load(run_dir / "model").state_dict()
    for name, tensor in MultiTaskModel.load(tmp_path / "ref" / "model").state_dict().items():
        assert torch.equal(got[name], tensor), name


def test_heads_on_the_cache_equal_heads_without_it_on_windows(bert4, tmp_path):
    def heads(name, **cache):
        cfg = run_config(
            bert4,
            plan={"strategy": "heads", "head_lr": 5e-3},
            trainer={"epochs": 2, "batch_size": 16},
            features={"cache": {"dir": str(tmp_path / "cache"), "dtype": "float32", **cache}},
            **SHORT,
        )
        result = train(cfg, tmp_path / name)
        return result.metrics, load_file(str(result.run_dir / "model" / "heads.safetensors"))

    cached, cached_heads = heads("cached")
    plain, plain_heads = heads("plain", enabled=False)
    assert cached["dev"]["slots"]["f1"] == plain["dev"]["slots"]["f1"]
    assert cached["dev"]["intent"]["accuracy"] == plain["dev"]["intent"]["accuracy"]
    for key, value in cached_heads.items():
        assert (value - plain_heads[key]).abs().max() < 1e-4, key
    assert (tmp_path / "cache" / "features").exists()
