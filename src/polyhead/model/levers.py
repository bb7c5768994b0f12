"""Quality levers applied before training: balanced class weights and re-initialising the
top backbone layers (`model.reinit_top`)."""

from __future__ import annotations

from collections import Counter

import torch

from polyhead.model.backbone import block_list


def balanced_class_weights(names: list[str], observed: list[str]) -> list[float]:
    """sklearn's "balanced" rule, n / (n_labels * count), per label id; unseen labels count
    once so their weight stays finite."""
    counts = Counter(observed)
    n, k = len(observed), len(names)
    return [n / (k * max(1, counts.get(name, 0))) for name in names]


def reinit_top_layers(backbone, n: int) -> list[str]:
    """Re-initialise the top `n` transformer blocks with the backbone's own initialiser.

    Small datasets often fine-tune better from fresh top layers, whose pretrained weights are
    specialised to the pretraining objective (Zhang et al. 2021, "Revisiting Few-sample BERT
    Fine-tuning"). Returns the names of the re-initialised blocks.
    """
    if n <= 0:
        return []
    name, blocks = block_list(backbone)
    if n > len(blocks):
        from polyhead.errors import ConfigError

        raise ConfigError(
            "model.reinit_top", f"must be at most {len(blocks)} (the backbone's layers), got {n}"
        )
    done = []
    for i in range(len(blocks) - n, len(blocks)):
        for module in blocks[i].modules():
            _init_module(backbone, module)
        done.append(f"{name}.{i}")
    return done


@torch.no_grad()
def _init_module(backbone, module) -> None:
    """The model's `_init_weights` where it has one; else BERT's rule (N(0, 0.02), zeros)."""
    init = getattr(backbone, "_init_weights", None)
    if init is not None:
        # transformers (>= 5) skips tensors it marked as loaded from a checkpoint.
        for p in module.parameters(recurse=False):
            p._is_hf_initialized = False
        init(module)
        return
    std = getattr(backbone.config, "initializer_range", 0.02)
    if isinstance(module, torch.nn.Linear):
        module.weight.normal_(0.0, std)
        if module.bias is not None:
            module.bias.zero_()
    elif isinstance(module, torch.nn.LayerNorm):
        module.weight.fill_(1.0)
        module.bias.zero_()
