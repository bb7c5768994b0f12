"""Weights no epoch trains are not rewritten every epoch (issue 4): `last.ckpt` leaves them
out (with a hash that resume checks against the rebuilt model), and the best artifact of a
run whose backbone never trains links its backbone/ instead of writing it again."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from polyhead.engine.callbacks import BestArtifactCallback
from polyhead.engine.train import train
from polyhead.errors import PolyheadError
from polyhead.model.multitask import MultiTaskModel
from tests.engine.conftest import run_config
from tests.engine.test_resume import KillAt, Killed


def _heads(backbone):
    return run_config(backbone, plan={"strategy": "heads"}, trainer={"epochs": 2})


def _checkpoint(run_dir) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


def test_checkpoint_leaves_out_frozen_weights_and_resume_is_exact(bert4, tmp_path):
    ref = train(_heads(bert4), tmp_path / "ref")
    ckpt = _checkpoint(tmp_path / "ref")
    stored = set(ckpt["state_dict"])
    assert stored and all(k.startswith("model.heads.") for k in stored), sorted(stored)[:3]
    assert all(k.startswith("model.backbone.") for k in ckpt["polyhead_fixed"]["keys"])

    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train(_heads(bert4), run_dir, extra_callbacks=[KillAt(1, "mid-epoch")])
    resumed = train(_heads(bert4), run_dir, resume=True)
    assert resumed.metrics["dev"] == ref.metrics["dev"]
    assert resumed.metrics["test"] == ref.metrics["test"]
    got = MultiTaskModel.load(run_dir / "model").state_dict()
    for name, tensor in MultiTaskModel.load(tmp_path / "ref" / "model").state_dict().items():
        assert torch.equal(got[name], tensor), name


def test_resume_refuses_a_changed_backbone(bert4, tmp_path):
    backbone = shutil.copytree(bert4, tmp_path / "backbone")
    run_dir = tmp_path / "run"
    with pytest.raises(Killed):
        train(_heads(backbone), run_dir, extra_callbacks=[KillAt(1, "mid-epoch")])
    weights = load_file(str(backbone / "model.safetensors"))
    name = next(k for k in weights if k.endswith("query.weight"))
    weights[name] = weights[name] + 1e-3
    save_file(weights, str(backbone / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(PolyheadError, match=r"last\.ckpt: .*resume with the same model.backbone"):
        train(_heads(backbone), run_dir, resume=True)


def test_best_artifact_links_a_static_backbone(bert4, tmp_path, monkeypatch):
    cfg = _heads(bert4)
    from polyhead.engine.train import prepare

    _, model, _ = prepare(cfg)
    writes = []
    plain = type(model).export_backbone
    monkeypatch.setattr(type(model), "export_backbone", lambda m: writes.append(1) or plain(m))
    best = BestArtifactCallback(tmp_path / "model", dict, static_backbone=True)
    trainer = SimpleNamespace(sanity_checking=False, is_global_zero=True, current_epoch=0)
    for epoch, score in enumerate([0.1, 0.2, 0.3]):
        trainer.current_epoch = epoch
        with torch.no_grad():  # a head update between saves
            next(model.heads["intent"].parameters()).add_(0.5)
        best.on_validation_end(trainer, SimpleNamespace(model=model, last_metrics={"score": score}))
    assert best.best_epoch == 2
    assert len(writes) == 1, "the backbone was written again although it never trains"
    saved = MultiTaskModel.load(tmp_path / "model").state_dict()
    for name, tensor in model.state_dict().items():
        assert torch.equal(saved[name], tensor), name
    assert not list(tmp_path.glob(".model.*")), "temporary or old artifact left behind"
