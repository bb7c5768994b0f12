"""Open whatever a user points at: a polyhead artifact, or a plain encoder (embeddings only)."""

from __future__ import annotations

import json
from pathlib import Path

from polyhead.model.artifact import is_artifact
from polyhead.model.backbone import resolve_backbone
from polyhead.model.multitask import MultiTaskModel
from polyhead.model.spec import ModelSpec

# sentence-transformers keeps an encoder's intended input length here.
ST_CONFIG = "sentence_bert_config.json"


def load_any(name_or_path: str, device: str | None = None, verify: bool = True) -> MultiTaskModel:
    """`verify`: check an artifact's files against their recorded sha256 (MultiTaskModel.load)."""
    if is_artifact(name_or_path):
        return MultiTaskModel.load(name_or_path, device=device, verify=verify)
    model = MultiTaskModel(encoder_spec(name_or_path)).eval()
    return model.to(device) if device else model


def encoder_spec(name: str) -> ModelSpec:
    """A head-less spec for a plain encoder, with sentence-transformers' max_seq_length when
    the folder has one (all-MiniLM-L6-v2: 256), so embeddings match that library's."""
    st_config = Path(resolve_backbone(name)) / ST_CONFIG
    if st_config.exists():
        length = json.loads(st_config.read_text()).get("max_seq_length")
        if isinstance(length, int) and length > 2:
            return ModelSpec(backbone=name, max_length=length)
    return ModelSpec(backbone=name)
