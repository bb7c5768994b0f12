"""Frozen parts run in eval mode (no dropout); training parts are left as they are."""

from __future__ import annotations

from torch import nn

from tests.plan.conftest import plan_for


def _dropouts(module: nn.Module) -> list[nn.Dropout]:
    return [m for m in module.modules() if isinstance(m, nn.Dropout)]


def test_frozen_layers_dropout_off_trainable_left_training(model):
    plan = plan_for(model, 4, strategy="gradual", frozen_heads=["slots"])
    model.train()
    plan.set_frozen_eval(model, 1)  # epoch 1: heads (except slots) and layer_3 train
    layers = model.backbone.encoder.layer
    assert _dropouts(layers[3]) and all(d.training for d in _dropouts(layers[3]))
    assert all(d.training for d in _dropouts(model.heads["intent"]))
    for frozen in (layers[0], layers[2], model.backbone.embeddings, model.heads["slots"]):
        assert _dropouts(frozen) and not any(d.training for d in _dropouts(frozen))
    assert model.backbone.pooler.training is False


def test_module_names_are_the_outermost_modules_of_each_group(model):
    plan = plan_for(model, strategy="full")
    names = {g.name: g.module_names for g in plan.groups}
    assert names["layer_3"] == ["backbone.encoder.layer.3"]
    assert names["embeddings"] == ["backbone.embeddings"]
    assert names["head:intent"] == ["heads.intent"]
    assert names["pooler"] == ["backbone.pooler"]
