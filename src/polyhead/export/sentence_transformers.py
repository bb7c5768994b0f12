"""sentence-transformers export: a folder `SentenceTransformer(DIR)` loads, giving the same
embeddings as polyhead (Transformer -> Pooling -> optional Normalize; the heads are left out,
sentence-transformers has no place for them).

Built with sentence-transformers' own modules and `save()`, so modules.json and each module's
config are whatever the installed version writes and reads.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from polyhead.errors import ConfigError, PolyheadError
from polyhead.predict import encode

CHECK_TEXTS = ["", "wake me up at five am", "a longer sentence about the rolling stones' new album"]


def _modules():
    try:
        from sentence_transformers.sentence_transformer.modules import (
            Normalize,
            Pooling,
            Transformer,
        )
    except ImportError:
        try:  # sentence-transformers < 6
            from sentence_transformers.models import Normalize, Pooling, Transformer
        except ImportError:
            raise PolyheadError(
                "--format sentence-transformers needs `pip install sentence-transformers`"
            ) from None
    return Transformer, Pooling, Normalize


def export_sentence_transformers(model, out: Path, tolerance: float = 1e-4) -> dict:
    """Write the folder into `out`; returns {"max_abs_diff": ...} of a reload check."""
    from sentence_transformers import SentenceTransformer

    spec = model.spec
    _check_layers(spec.layers)
    Transformer, Pooling, Normalize = _modules()
    with tempfile.TemporaryDirectory() as tmp:
        model.backbone.save_pretrained(tmp, safe_serialization=True)
        model.tokenizer.save_pretrained(tmp)
        modules = [
            Transformer(tmp, max_seq_length=spec.max_length),
            Pooling(model.hidden_size, pooling_mode=spec.pooling),
        ]
        if spec.normalize:
            modules.append(Normalize())
        SentenceTransformer(modules=modules, device="cpu").save(str(out))
    diff = embedding_diff(model, SentenceTransformer(str(out), device="cpu"))
    if diff > tolerance:
        raise PolyheadError(f"sentence-transformers check failed: max abs diff {diff:.2e}")
    return {"max_abs_diff": diff}


def _check_layers(layers) -> None:
    """sentence-transformers' Transformer module passes on the last layer only; pooling a
    layer selection would need code of ours in the folder, which SentenceTransformer(DIR)
    would only run with trust_remote_code."""
    if layers.last_n > 1:
        name = f"last{layers.last_n}_{layers.combine}"
        raise ConfigError(
            "features.layers",
            f"{name}: a sentence-transformers folder pools the last layer only, so it would "
            "not give this model's vectors; export --format onnx or hf instead",
        )


def embedding_diff(model, st_model, texts=CHECK_TEXTS) -> float:
    ours = encode(model, texts)
    theirs = st_model.encode(texts, convert_to_numpy=True)
    return float(np.abs(ours - theirs).max())
