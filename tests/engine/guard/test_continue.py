"""Training can start from a trained artifact (`model.backbone: RUN/model`): the backbone
(LoRA adapters merged) and every head whose task, kind and labels match are loaded."""

from __future__ import annotations

import torch

from polyhead.config import PlanConfig
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.model.artifact import is_artifact
from polyhead.model.lora import adapter_parameter_count
from polyhead.plan import build_plan
from polyhead.predict import tokenize

TEXTS = ["wake me up at five", "play jazz"]


def spec(backbone, slot_labels) -> ModelSpec:
    return ModelSpec(
        backbone=str(backbone),
        tasks=[
            TaskSpec(name="intent", kind="sentence", labels=["a", "b", "c"]),
            TaskSpec(name="slots", kind="token", labels=slot_labels),
        ],
    )


def test_continue_from_a_lora_artifact(tiny_bert, tmp_path):
    torch.manual_seed(0)
    trained = MultiTaskModel(spec(tiny_bert, ["O", "B-t", "I-t"]))
    build_plan(trained, PlanConfig(strategy="lora"), 1)
    for name, p in trained.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    trained.save(tmp_path / "art")
    trained.eval()
    with torch.no_grad():
        want = trained.features(tokenize(trained, TEXTS))["token_embeddings"]
    assert is_artifact(tmp_path / "art") and not is_artifact(tiny_bert)

    torch.manual_seed(1)  # other random heads
    model = MultiTaskModel(spec(tmp_path / "art", ["O", "B-x", "I-x"]))  # slots relabelled
    assert model.continue_from(tmp_path / "art") == ["intent"]
    assert adapter_parameter_count(model) == 0  # merged into the backbone weights
    model.eval()
    with torch.no_grad():
        got = model.features(tokenize(model, TEXTS))["token_embeddings"]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    for key, value in trained.heads["intent"].state_dict().items():
        assert torch.equal(model.heads["intent"].state_dict()[key], value)
    slots_before = trained.heads["slots"].state_dict()
    assert any(
        not torch.equal(v, slots_before[k]) for k, v in model.heads["slots"].state_dict().items()
    )
