"""hf export: the backbone in plain Hugging Face format plus the heads.

    config.json, model.safetensors, tokenizer files   `AutoModel.from_pretrained(DIR)`
    adapter/                                           unmerged LoRA adapters (PEFT format)
    heads.safetensors                                  every head, keyed `<task>.<param>`
    polyhead_heads.json                                pooling, labels and each head's layers

With `--merge` the adapters are folded into the backbone weights and there is no adapter/.
The heads JSON lists each head's layers in order (linear with its weight/bias keys, tanh), so
a consumer without polyhead can rebuild the logits from the backbone's hidden states.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file
from torch import nn

from polyhead.model.heads import heads_state
from polyhead.model.lora import LoraPart

HEADS_FILE = "heads.safetensors"
HEADS_META = "polyhead_heads.json"


def merge_adapters(model) -> bool:
    """Fold LoRA adapters into the backbone weights, in place; False when there are none
    (PEFT's `merge_and_unload`, through `MultiTaskModel.merge_adapters`)."""
    return model.merge_adapters()


def export_hf(model, out: Path) -> dict:
    model.export_backbone().save_pretrained(out, safe_serialization=True)
    model.tokenizer.save_pretrained(out)
    if LoraPart.present(model):  # unmerged LoRA adapters -> adapter/, PEFT format
        LoraPart.save(model, out)
    save_file(heads_state(model.heads), str(out / HEADS_FILE))
    meta = heads_description(model)
    (out / HEADS_META).write_text(json.dumps(meta, indent=2))
    return meta


def heads_description(model) -> dict:
    spec = model.spec
    tasks = []
    for t in spec.tasks:
        head = model.heads[t.name]
        tasks.append(
            {
                "name": t.name,
                "kind": t.kind,
                "labels": t.labels,
                # per-text heads read the pooled vector before normalisation
                "input": "token_embeddings" if t.head_kind == "token" else "pooled",
                "layers": _layers(t.name, head),
                # a CRF head decodes with Viterbi over its `<task>.crf.*` transitions
                "crf": getattr(head, "crf", None) is not None,
                **_output(t, head),
            }
        )
    return {
        "backbone": spec.backbone,
        "pooling": spec.pooling,
        "normalize": spec.normalize,
        "max_length": spec.max_length,
        # how raw text becomes words (polyhead.data.words) and the punctuation no entity ends in
        "words": spec.words,
        "split_off": spec.split_off,
        "embedding_dim": model.hidden_size,
        "tasks": tasks,
    }


def _output(t, head: nn.Module) -> dict:
    """How the other kinds' logits become predictions (their tensors are in the heads file)."""
    out = {"head": t.head_kind, "texts": 2} if t.kind == "pair" else {}
    if getattr(head, "kind", "") == "multilabel":  # a label is on at sigmoid >= its threshold
        out |= {"output": "sigmoid", "thresholds": f"{t.name}.thresholds"}
    if getattr(head, "kind", "") == "regression":  # logits * std + mean
        out |= {"output": "standardised", "mean": f"{t.name}.mean", "std": f"{t.name}.std"}
    return out


def _layers(task: str, head: nn.Module) -> list[dict]:
    layers = []
    for name, module in head.net.named_children():
        key = f"{task}.net.{name}"
        if isinstance(module, nn.Linear):
            layers.append({"type": "linear", "weight": f"{key}.weight", "bias": f"{key}.bias"})
        elif isinstance(module, nn.Tanh):
            layers.append({"type": "tanh"})
        # dropout is identity at inference
    return layers
