"""Open whatever a user points at: a polyhead artifact, or a plain encoder (embeddings only)."""

from __future__ import annotations

from pathlib import Path

from polyhead.model.artifact import META_FILE
from polyhead.model.multitask import MultiTaskModel
from polyhead.model.spec import ModelSpec


def load_any(name_or_path: str, device: str | None = None) -> MultiTaskModel:
    if (Path(name_or_path) / META_FILE).exists():
        return MultiTaskModel.load(name_or_path, device=device)
    model = MultiTaskModel(ModelSpec(backbone=name_or_path, max_length=256)).eval()
    return model.to(device) if device else model
