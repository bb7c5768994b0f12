"""A 2-layer cut of the real MiniLM (pretrained weights, a third of the compute) and a
MASSIVE-subset config, for the real-data guard test."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm2(tmp_path_factory) -> Path:
    from transformers import AutoModel, AutoTokenizer

    from polyhead.model.backbone import default_model_path

    folder = tmp_path_factory.mktemp("minilm2")
    model = AutoModel.from_pretrained(default_model_path())
    model.encoder.layer = model.encoder.layer[:2]
    model.config.num_hidden_layers = 2
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(default_model_path()).save_pretrained(folder)
    return folder
