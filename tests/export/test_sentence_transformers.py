"""sentence-transformers export: SentenceTransformer(DIR) loads it and embeds like polyhead."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from polyhead.export.formats import export_artifact
from polyhead.model import ModelSpec, MultiTaskModel
from polyhead.model.loading import load_any
from polyhead.predict import encode

TEXTS = ["", "wake me up at five am", "the rolling stones " * 40]  # the last one is truncated


def _st(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(path), device="cpu")


@pytest.mark.parametrize("pooling, normalize", [("mean", True), ("max", False), ("cls", True)])
def test_same_embeddings_as_polyhead(tiny_bert, tmp_path, pooling, normalize):
    torch.manual_seed(0)
    spec = ModelSpec(backbone=str(tiny_bert), pooling=pooling, normalize=normalize, max_length=24)
    MultiTaskModel(spec).save(tmp_path / "art")
    out = tmp_path / "st"
    report = export_artifact(str(tmp_path / "art"), "sentence-transformers", out)
    assert report["max_abs_diff"] < 1e-5
    listed = [m["type"].rsplit(".", 1)[-1] for m in json.loads((out / "modules.json").read_text())]
    assert listed == (["Transformer", "Pooling"] + (["Normalize"] if normalize else []))
    st = _st(out)
    assert st.max_seq_length == 24
    ours = encode(load_any(str(tmp_path / "art")), TEXTS)
    np.testing.assert_allclose(st.encode(TEXTS), ours, atol=1e-5)


@pytest.mark.slow
def test_real_minilm_matches_polyhead_and_the_original(tmp_path):
    from polyhead.model.backbone import default_model_path

    out = tmp_path / "minilm-st"
    export_artifact("minilm", "sentence-transformers", out)
    texts = ["A man is eating food.", "", "Ein Mann isst Essen."]
    exported = _st(out).encode(texts)
    np.testing.assert_allclose(exported, encode(load_any("minilm"), texts), atol=1e-5)
    np.testing.assert_allclose(exported, _st(default_model_path()).encode(texts), atol=1e-5)
