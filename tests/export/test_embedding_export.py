"""Exports carry a trained embedding task: the sentence-transformers and ONNX exports hold the
backbone + pooling, so a model trained with only an embedding task (no head) must export
the trained vectors, not the start model's."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from polyhead.config import validate_config
from polyhead.data.pairs import read_pairs
from polyhead.embedding_metrics import pair_correlations
from polyhead.engine.train import prepare, train
from polyhead.export.formats import export_artifact
from polyhead.export.runtime import load_predictor
from polyhead.model.multitask import MultiTaskModel
from polyhead.predict import encode
from tests.engine.embedding.toy import embedding_raw, pair_files


@pytest.fixture(scope="module")
def trained(tiny_bert, tmp_path_factory):
    """An embedding-only run (CoSENT on toy pairs) and its untrained start model."""
    folder = tmp_path_factory.mktemp("embedding-export")
    files = pair_files(folder, "scored")
    cfg = validate_config(embedding_raw(tiny_bert, {"sts": {"kind": "embedding", "data": files}}))
    _, untrained, _ = prepare(cfg)
    metrics = train(cfg, folder / "run").metrics
    return folder / "run" / "model", untrained, read_pairs(files["dev"]), metrics


def _texts(pairs) -> list[str]:
    return [p.text for p in pairs] + [p.text_pair for p in pairs]


def test_sentence_transformers_export_gives_the_trained_embedding(trained, tmp_path):
    artifact, untrained, pairs, metrics = trained
    out = tmp_path / "st"
    export_artifact(str(artifact), "sentence-transformers", out)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(out), device="cpu")
    texts = _texts(pairs)
    exported = st.encode(texts)
    ours = encode(MultiTaskModel.load(artifact), texts)
    np.testing.assert_allclose(exported, ours, atol=1e-5)
    assert np.abs(exported - encode(untrained, texts)).max() > 1e-2  # training moved it
    n = len(pairs)
    got = pair_correlations(exported[:n], exported[n:], [p.score for p in pairs])
    assert got["spearman"] == pytest.approx(metrics["dev"]["sts"]["spearman"], abs=1e-5)


def test_onnx_export_gives_the_trained_embedding(trained, tmp_path):
    artifact, untrained, pairs, _ = trained
    out = tmp_path / "onnx"
    export_artifact(str(artifact), "onnx", out)
    texts = _texts(pairs)[:8]
    items = load_predictor(str(out), onnx=True).predict(texts, embeddings=True)
    exported = np.array([item["embedding"] for item in items])
    np.testing.assert_allclose(exported, encode(MultiTaskModel.load(artifact), texts), atol=1e-4)
    assert np.abs(exported - encode(untrained, texts)).max() > 1e-2


def test_cli_evaluate_pairs_and_label_retrieval_of_a_headless_model(
    trained, tmp_path, monkeypatch, capsys
):
    """`polyhead evaluate --pairs`: the dev Spearman the run reported; `--data` on a model
    with no head: label retrieval by the embedding."""
    from tests.cli.test_train_cli import polyhead
    from tests.engine.embedding.toy import labelled, write_jsonl

    artifact, _, pairs, metrics = trained
    pairs_file = tmp_path / "dev.jsonl"
    pairs_file.write_text(
        "".join(
            f'{{"text": "{p.text}", "text_pair": "{p.text_pair}", "score": {p.score}}}\n'
            for p in pairs
        )
    )
    labels = write_jsonl(tmp_path / "labelled.jsonl", labelled(12, 3))
    args = ["evaluate", str(artifact), "--pairs", str(pairs_file), "--data", str(labels)]
    code, out, err = polyhead(monkeypatch, capsys, *args, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["pairs"]["embedding"]["spearman"] == pytest.approx(
        metrics["dev"]["sts"]["spearman"], abs=1e-6
    )
    assert set(got["eval"]["retrieval"]["label"]) >= {"mrr@10", "recall@1", "recall@10"}
    code, _, err = polyhead(monkeypatch, capsys, "evaluate", str(artifact))
    assert code != 0 and "--pairs" in err
