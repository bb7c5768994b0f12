"""LoRA: what trains, the plan's adapter groups, save -> load identical outputs (heads
included), merged == unmerged, and an artifact whose backbone/ is a plain HF model."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file
from transformers import AutoModel
from typer.testing import CliRunner

from polyhead.cli import app
from polyhead.config import PlanConfig, validate_config
from polyhead.engine.train import train
from polyhead.errors import ConfigError, PolyheadError
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.model.lora import adapter_parameter_count
from polyhead.plan import build_plan
from polyhead.predict import tokenize
from tests.conftest import FAMILIES, demo_raw

TEXTS = ["wake me up at five am", "play some jazz", "what is the weather in paris", "hi"]


def make_model(backbone) -> MultiTaskModel:
    torch.manual_seed(0)
    spec = ModelSpec(
        backbone=str(backbone),
        max_length=16,
        tasks=[
            TaskSpec(name="intent", kind="sentence", labels=["a", "b", "c"]),
            TaskSpec(name="slots", kind="token", labels=["O", "B-t", "I-t"]),
        ],
    )
    return MultiTaskModel(spec)


def outputs(model: MultiTaskModel) -> dict[str, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        out = model(tokenize(model, TEXTS))
    return {"embedding": out.embedding, **out.logits}


def randomise_adapters(model) -> None:
    """lora_B starts at zero (adapters are a no-op); give it weights so adapters matter."""
    torch.manual_seed(1)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_trains_adapters_and_unfrozen_heads_only(tiny_backbones, family):
    model = make_model(tiny_backbones[family])
    plan = build_plan(model, PlanConfig(strategy="lora", frozen_heads=["intent"], lora_lr=2e-3), 2)
    plan.apply(model, 0)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n in trainable if ".lora_" in n or n.startswith("heads.slots.")}
    assert any(".lora_A." in n for n in trainable) and any(".lora_B." in n for n in trainable)
    assert not any(n.startswith("heads.intent.") for n in trainable)  # composes with freeze
    adapters = [g for g in plan.groups if g.kind == "adapter"]
    assert [g.name for g in adapters] == ["lora:layer_1", "lora:layer_0"]
    assert all(g.lr == 2e-3 and g.start_epoch == 0 for g in adapters)
    # r=8 on two projections of hidden 32 per block: 2 * (8*32 + 32*8) = 1,024 per block.
    assert (
        [g.n_params for g in adapters] == [1024, 1024] == [adapter_parameter_count(model) / 2] * 2
    )
    assert plan.group("layer_0").start_epoch is None and plan.group("embeddings").lr == 0.0


def test_adapter_lr_is_its_own_default_and_null_means_backbone_lr(tiny_bert):
    model = make_model(tiny_bert)
    plan = build_plan(model, PlanConfig(strategy="lora", backbone_lr=7e-5), 1)
    assert plan.group("lora:layer_0").lr == 2e-3  # tuned for adapters, not backbone_lr
    plan = build_plan(model, PlanConfig(strategy="lora", backbone_lr=7e-5, lora_lr=None), 1)
    assert plan.group("lora:layer_0").lr == 7e-5


def test_unknown_target_modules_name_the_field(tiny_bert):
    cfg = PlanConfig(strategy="lora", lora={"target_modules": ["q_lin"]})
    with pytest.raises(ConfigError) as err:
        build_plan(make_model(tiny_bert), cfg, 1)
    assert err.value.field == "plan.lora.target_modules"


def test_merged_equals_unmerged(tiny_bert, tmp_path):
    model = make_model(tiny_bert)
    build_plan(model, PlanConfig(strategy="lora"), 1)
    randomise_adapters(model)
    before = outputs(model)
    plain = make_model(tiny_bert)  # same seed: same heads, no adapters
    assert not torch.allclose(outputs(plain)["intent"], before["intent"], atol=1e-3)
    assert model.merge_adapters() is True
    after = outputs(model)
    for key in before:  # float32 W + B A * scale vs. two matmuls: rounding only
        torch.testing.assert_close(after[key], before[key], atol=1e-5, rtol=1e-5)
    assert not any(".lora_" in n for n, _ in model.named_parameters())
    assert model.merge_adapters() is False
    model.save(tmp_path / "merged")
    assert not (tmp_path / "merged" / "adapter").exists()
    reloaded = outputs(MultiTaskModel.load(tmp_path / "merged"))
    for key in before:
        torch.testing.assert_close(reloaded[key], before[key], atol=1e-5, rtol=1e-5)


def lora_config(backbone, **trainer):
    return validate_config(
        demo_raw(
            backbone,
            train=48,
            test=False,
            plan={"strategy": "lora", "head_lr": 1e-2, "lora_lr": 1e-2, "lora": {"r": 4}},
            trainer={"epochs": 1, **trainer},
        )
    )


@pytest.fixture(scope="module")
def lora_run(tiny_bert, tmp_path_factory):
    run = tmp_path_factory.mktemp("lora") / "run"
    return train(lora_config(tiny_bert), run)


def test_training_changes_adapters_and_heads_but_not_base_weights(lora_run, tiny_bert):
    base = AutoModel.from_pretrained(tiny_bert).state_dict()
    # backbone/ is a plain HF folder holding the untouched base weights...
    saved = AutoModel.from_pretrained(lora_run.run_dir / "model" / "backbone").state_dict()
    assert set(saved) == set(base)
    assert all(torch.equal(saved[k], base[k]) for k in base)
    # ...and adapter/ is PEFT's format, with trained (non-zero) lora_B.
    adapter = lora_run.run_dir / "model" / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 4
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())


def test_save_load_gives_identical_outputs_heads_included(lora_run, tmp_path):
    art = lora_run.run_dir / "model"
    torch.manual_seed(123)
    model = MultiTaskModel.load(art)
    assert adapter_parameter_count(model) > 0
    before = outputs(model)
    model.save(tmp_path / "again")  # a loaded LoRA model saves its adapters again
    torch.manual_seed(456)  # a head left at random init would now differ
    reloaded = MultiTaskModel.load(tmp_path / "again")
    for key, value in outputs(reloaded).items():
        assert torch.equal(value, before[key]), key
    saved_heads = load_file(str(art / "heads.safetensors"))
    for key, value in reloaded.heads.state_dict().items():
        assert torch.equal(value, saved_heads[key]), key


def test_merged_artifact_matches_unmerged(lora_run, tmp_path):
    model = MultiTaskModel.load(lora_run.run_dir / "model")
    before = outputs(model)
    model.merge_adapters()
    model.save(tmp_path / "merged")
    merged = outputs(MultiTaskModel.load(tmp_path / "merged"))
    for key in before:
        torch.testing.assert_close(merged[key], before[key], atol=1e-5, rtol=1e-5)


def test_adapter_without_safetensors_is_refused(lora_run, tmp_path):
    import shutil

    art = tmp_path / "art"
    shutil.copytree(lora_run.run_dir / "model", art)
    weights = art / "adapter" / "adapter_model.safetensors"
    weights.rename(art / "adapter" / "adapter_model.bin")
    with pytest.raises(PolyheadError, match="adapter_model.safetensors: missing"):
        MultiTaskModel.load(art)  # the recorded files are checked first
    with pytest.raises(PolyheadError, match="only safetensors are loaded"):
        MultiTaskModel.load(art, verify=False)
    save_file({}, str(weights))  # present again (empty): PEFT's own key check takes over


def test_polyhead_plan_shows_adapter_groups(tiny_bert, tmp_path):
    cfg = lora_config(tiny_bert).model_dump()
    cfg["plan"]["frozen_heads"] = ["intent"]
    path = tmp_path / "lora.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(app, ["plan", str(path), "--json"])
    assert result.exit_code == 0, result.output
    groups = {g["name"]: g for g in json.loads(result.output[result.output.index("{") :])["groups"]}
    assert groups["lora:layer_1"]["kind"] == "adapter"
    assert groups["lora:layer_1"]["n_params"] == 2 * (4 * 32 + 32 * 4)
    assert groups["lora:layer_1"]["lr"] == 1e-2 and groups["layer_1"]["start_epoch"] is None
    assert groups["head:intent"]["start_epoch"] is None
    table = CliRunner().invoke(app, ["plan", str(path)])
    assert "lora:layer_0" in table.output and "adapters" in table.output
    assert groups["layer_1"]["note"] == "base weights (LoRA trains adapters)"
