"""The packaged default model: parity with sentence-transformers (real weights, offline)."""

import json

import numpy as np
import pytest

from polyhead.model.loading import load_any
from polyhead.predict import encode


@pytest.mark.slow
def test_embeddings_match_sentence_transformers(shared_data):
    st = pytest.importorskip("sentence_transformers")
    from polyhead.model.backbone import default_model_path

    lines = (shared_data / "massive_en_us" / "en-US.jsonl").read_text().splitlines()
    texts = [json.loads(line)["utt"] for line in lines[:1000]]
    ours = encode(load_any("minilm"), texts, batch_size=64)
    ref = st.SentenceTransformer(str(default_model_path()), device="cpu").encode(
        texts, batch_size=64
    )
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() >= 0.9999, cos.min()
