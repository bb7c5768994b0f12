"""Issue 17: bucketed batches pad less (padding ratio per epoch in history.jsonl), evaluation
is served longest first, and a compiled run (`trainer.compile`) trains as the eager one does."""

from __future__ import annotations

import json
from types import SimpleNamespace

import lightning.pytorch as pl
import pytest
import torch

from polyhead.config import validate_config
from polyhead.engine.compiled import compile_model
from polyhead.engine.datamodule import MultiTaskDataModule
from polyhead.engine.train import train
from polyhead.errors import ConfigError
from polyhead.model.backbone import load_tokenizer_for
from tests.conftest import demo_raw


def data_module(backbone, bucketing: bool, **trainer) -> MultiTaskDataModule:
    trainer = {"bucketing": bucketing, **trainer}
    cfg = validate_config(demo_raw(backbone, train=600, trainer=trainer))
    return MultiTaskDataModule(cfg, load_tokenizer_for(str(backbone)))


def test_bucketing_lowers_the_padding_ratio(bert4):
    plain, bucketed = data_module(bert4, False), data_module(bert4, True)
    before, after = plain.padding_ratio(0), bucketed.padding_ratio(0)
    # MASSIVE utterances (~10 subwords): random batches of 8 pad ~1.5x, bucketed ones ~1.03x
    # (on CPU batches are padded to their longest row, not to a multiple of 8)
    assert 1.0 <= after < 1.1 < 1.3 < before
    assert bucketed.padding_ratio(1) != after or bucketed.padding_ratio(0) == after
    # the same rows, every one once, in batches of the configured size
    batches = list(bucketed.bucket_sampler(epoch=0))
    assert sorted(i for b in batches for i in b) == list(range(600))
    mixed = data_module(bert4, True, sampling="mixed")  # one source: the same sampler
    assert mixed.padding_ratio(0) == after


def test_eval_batches_come_longest_first(bert4):
    loader = data_module(bert4, True).eval_dataloaders("dev")[0]
    loader = type(loader)(loader.dataset, batch_size=4, collate_fn=loader.collate_fn)
    real = [int(b["attention_mask"].sum(1).max()) for b in loader]
    assert real == sorted(real, reverse=True) and real[0] > real[-1]
    assert [b["input_ids"].shape[1] for b in loader] == real  # CPU: padded to the longest


def test_history_reports_the_padding_ratio_per_epoch(bert4, tmp_path):
    cfg = validate_config(demo_raw(bert4, trainer={"epochs": 2}))
    train(cfg, tmp_path / "run")
    lines = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    ratios = [json.loads(line)["padding_ratio"] for line in lines]
    assert len(ratios) == 2 and all(r >= 1.0 for r in ratios)


class Losses(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))


@pytest.mark.slow  # compiling forward and backward on CPU takes tens of seconds
def test_compiled_training_equals_eager_within_float_tolerance(bert4, tmp_path):
    """No dropout anywhere (compiled dropout draws its own masks): the same losses at every
    step and the same dev metrics, up to float rounding of fused kernels."""
    model = {"hidden_dropout": 0.0, "attention_dropout": 0.0}
    tasks = {"intent": {"dropout": 0.0}, "slots": {"dropout": 0.0}}
    runs = {}
    for compile_ in (False, True):
        trainer = {"epochs": 2, "compile": compile_, "accelerator": "cpu"}
        raw = demo_raw(bert4, model=model, tasks=tasks, trainer=trainer, test=False)
        cfg = validate_config(raw)
        log = Losses()
        result = train(cfg, tmp_path / str(compile_), extra_callbacks=[log])
        runs[compile_] = (log.losses, result.metrics)
    (eager, eager_m), (compiled, compiled_m) = runs[False], runs[True]
    assert compiled == pytest.approx(eager, rel=1e-3, abs=1e-4)
    assert compiled_m["dev"]["intent"]["accuracy"] == eager_m["dev"]["intent"]["accuracy"]
    assert compiled_m["dev"]["score"] == pytest.approx(eager_m["dev"]["score"], abs=0.02)
    assert 0 < compiled_m["compiled_graphs"] <= 16  # widths 16, 24 x train/eval, not per batch
    assert "compiled_graphs" not in eager_m


class Recorded(torch.nn.Module):
    """A module whose `compile` records what it was asked (no compiling here)."""

    def __init__(self):
        super().__init__()
        self.asked: dict = {}

    def compile(self, **kwargs) -> None:
        self.asked = kwargs


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compile_mode_reaches_torch_compile(bert4, mode):
    cfg = validate_config(demo_raw(bert4, trainer={"compile": True, "compile_mode": mode}))
    model = SimpleNamespace(backbone=Recorded(), heads={"intent": Recorded()})
    data = SimpleNamespace(widths=None)
    assert compile_model(model, data, cfg) is not None
    assert model.backbone.asked == model.heads["intent"].asked == {"dynamic": False, "mode": mode}
    assert data.widths and list(data.widths) == sorted(data.widths)  # static widths to pad to


def test_an_unknown_compile_mode_names_its_field(bert4):
    with pytest.raises(ConfigError, match="trainer.compile_mode"):
        validate_config(demo_raw(bert4, trainer={"compile_mode": "fast"}))
