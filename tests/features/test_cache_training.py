"""Training on cached backbone outputs gives the model training without the cache gives.

Tolerances: with a float32 cache the inputs of every trainable part equal the uncached ones up
to float rounding (the cache was computed in other batches, padded differently), so metrics
must be equal and head weights equal to 1e-4. A float16 cache (the default) rounds features to
11 significant bits: metrics may move by a prediction or two, so the combined dev score must
be within 0.05 of the uncached run's on these 24 dev sentences.
"""

import json

import pytest
from safetensors.torch import load_file

from polyhead.engine.train import train
from polyhead.features.store import list_entries
from tests.features.conftest import run_config


def _run(backbone, tmp_path, name, **sections):
    result = train(run_config(backbone, tmp_path / "cache", **sections), tmp_path / name)
    heads = load_file(str(result.run_dir / "model" / "heads.safetensors"))
    return result.metrics, heads


def _scores(metrics) -> dict:
    return {
        split: (m["intent"]["accuracy"], m["slots"]["f1"], m["score"])
        for split, m in metrics.items()
        if split in ("dev", "test")
    }


@pytest.fixture(scope="module")
def uncached_heads(tiny_bert, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("uncached")
    return _run(tiny_bert, tmp, "run", features={"cache": {"enabled": False}})


def test_heads_on_float32_cache_equal_uncached(tiny_bert, tmp_path, uncached_heads):
    metrics, heads = _run(tiny_bert, tmp_path, "run", features={"cache": {"dtype": "float32"}})
    ref_metrics, ref_heads = uncached_heads
    assert _scores(metrics) == _scores(ref_metrics)
    for key, value in heads.items():
        assert (value - ref_heads[key]).abs().max() < 1e-4, key
    entries = list_entries(tmp_path / "cache" / "features", verify=True)
    assert sorted(e["describe"]["split"] for e in entries) == ["dev", "train"]
    assert {e["state"] for e in entries} == {"ok"}


def test_heads_on_float16_cache_within_tolerance(tiny_bert, tmp_path, uncached_heads):
    metrics, _ = _run(tiny_bert, tmp_path, "run")
    assert abs(metrics["dev"]["score"] - uncached_heads[0]["dev"]["score"]) <= 0.05
    (entry,) = [e for e in list_entries(tmp_path / "cache" / "features") if "train" in str(e)]
    meta = json.loads((tmp_path / "cache" / "features" / entry["name"] / "meta.json").read_text())
    assert meta["arrays"]["pooled"]["dtype"] == "float16"


def test_gradual_with_boundary_cache_equals_full_pass(tiny_bert, tmp_path):
    """Epoch 0 heads only (final features), epoch 1 layer_1 too (its input is cached)."""
    common = {"plan": {"strategy": "gradual"}, "trainer": {"epochs": 2}}
    cached, cached_heads = _run(
        tiny_bert, tmp_path, "cached", features={"cache": {"dtype": "float32"}}, **common
    )
    plain, plain_heads = _run(
        tiny_bert, tmp_path, "plain", features={"cache": {"enabled": False}}, **common
    )
    assert _scores(cached) == _scores(plain)
    for key, value in cached_heads.items():
        assert (value - plain_heads[key]).abs().max() < 1e-4, key
    kinds = sorted(e["kind"] for e in list_entries(tmp_path / "cache" / "features"))
    assert kinds == ["boundary", "boundary", "features", "features"]  # train + dev each
