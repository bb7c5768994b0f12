"""Issue 14's scale clause: what a run costs before and during its steps, per training row.
Each test failed on the code before the fix: a Python call or object per row before the
first step (length bucketing, regression statistics), PEFT imported for a run without LoRA,
the foreach AdamW on the CPU."""

from __future__ import annotations

import random
import sys
from array import array

import lightning.pytorch as pl
import pytest
import torch

from polyhead.data.pair_rows import RowLengths
from polyhead.data.sampling import LengthBucketSampler
from polyhead.engine.kinds_eval import standardise_targets
from polyhead.engine.module import _adamw_kernel
from polyhead.model import lora


class ColumnRows:
    """Rows with a length column, as ArrowRows: reading a row is what must not happen."""

    def __init__(self, lengths: list[int]):
        self._lengths = array("i", lengths)

    def __len__(self) -> int:
        return len(self._lengths)

    def lengths(self) -> array:
        return self._lengths

    def __getitem__(self, i):
        raise AssertionError(f"row {i} was read")

    def __iter__(self):
        raise AssertionError("the rows were read")


def test_bucketed_batches_read_the_lengths_once_not_once_per_row(monkeypatch):
    rng = random.Random(0)
    lengths = [rng.randint(3, 40) for _ in range(5000)]
    view = RowLengths([ColumnRows(lengths[:3000]), [], ColumnRows(lengths[3000:])])
    calls = []
    read = RowLengths.__getitem__
    monkeypatch.setattr(RowLengths, "__getitem__", lambda self, i: calls.append(i) or read(self, i))
    batches = list(LengthBucketSampler(view, 32, seed=5, epoch=1))
    assert calls == []  # before: one Python call per row (a second per million rows)
    # the order is the one the plain lengths give: exact resume and bucketing unchanged
    assert batches == list(LengthBucketSampler(lengths, 32, seed=5, epoch=1))
    assert isinstance(view.sides(), array)  # the padding ratio: no Python int per row


class SentenceData:
    kinds = {"intent": "sentence", "slots": "token"}

    def rows(self, split: str):
        return [ColumnRows([5, 6, 7])]


def test_rows_are_read_for_regression_statistics_only():
    standardise_targets(None, SentenceData())  # before: every training row built as a dict


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        groups = [{"params": list(self.parameters())}]
        self.kernel = _adamw_kernel(groups, str(self.trainer.precision))
        return torch.optim.AdamW(groups, lr=0.1, **self.kernel)


@pytest.mark.parametrize(("precision", "kernel"), [("32-true", "fused"), ("bf16-mixed", "foreach")])
def test_adamw_is_fused_on_the_cpu_and_clips_under_every_precision(precision, kernel):
    """Fused as HF Trainer's default (less memory, faster steps); under mixed precision
    Lightning refuses gradient clipping with a fused optimizer, so foreach there."""
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), 4)
    module = Tiny()
    before = module.layer.weight.detach().clone()
    pl.Trainer(
        accelerator="cpu",
        precision=precision,
        gradient_clip_val=1.0,
        max_steps=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(module, data)
    assert module.kernel == {kernel: True}
    assert not torch.equal(module.layer.weight, before)  # it stepped


def test_a_model_without_lora_is_told_apart_without_importing_peft(monkeypatch):
    class NoPeft:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "peft":
                raise AssertionError("peft imported")

    monkeypatch.delitem(sys.modules, "peft", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPeft(), *sys.meta_path])
    assert not lora.has_adapters(torch.nn.Linear(2, 2))
