"""Cache keys change with everything that changes the features, and only with that; a second
run on the same data reads the first run's entries."""

import json
import shutil

import torch

from polyhead.engine.train import prepare
from polyhead.features.keys import entry_key, tokenizer_fingerprint
from polyhead.features.source import BackboneCache
from tests.conftest import DEMO
from tests.features.conftest import run_config


def _keys(cfg, tweak=None) -> tuple[str, str]:
    """(features key, boundary key) of the train split of the only source."""
    data, model, plan = prepare(cfg)
    if tweak:
        tweak(model)
    cache = BackboneCache(model, plan, data, cfg)
    return tuple(entry_key(cache.key_parts(model, b, "train", 0)) for b in (2, 1))


def test_key_changes_exactly_when_the_features_would(tiny_bert, tmp_path):
    cfg = run_config(tiny_bert, tmp_path)
    base = _keys(cfg)
    assert _keys(cfg) == base  # a fresh model from the same folder: same keys

    assert _keys(run_config(tiny_bert, tmp_path, model={"max_length": 16})) != base

    def nudge(model):
        with torch.no_grad():
            model.backbone.encoder.layer[0].output.dense.bias[0] += 1e-3

    nudged = _keys(cfg, nudge)
    assert nudged[0] != base[0] and nudged[1] != base[1]

    layers = _keys(run_config(tiny_bert, tmp_path, features={"layers": "last2_concat"}))
    assert layers[0] != base[0] and layers[1] == base[1]  # boundary states ignore the layers

    lines = (DEMO / "train.jsonl").read_text().splitlines()
    changed = json.loads(lines[0])  # MASSIVE's format: the words are in utt and annot_utt
    first = changed["utt"].split()[0]
    changed["utt"] = changed["utt"].replace(first, "pause", 1)
    changed["annot_utt"] = changed["annot_utt"].replace(first, "pause", 1)
    edited = tmp_path / "train.jsonl"
    edited.write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
    assert _keys(run_config(tiny_bert, tmp_path, data={"train": str(edited)})) != base

    same_text = tmp_path / "copy.jsonl"
    shutil.copy(DEMO / "train.jsonl", same_text)
    assert _keys(run_config(tiny_bert, tmp_path, data={"train": str(same_text)})) == base


def test_tokenizer_fingerprint_ignores_where_it_was_loaded_from(tiny_bert, tmp_path):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_bert)
    tok.save_pretrained(tmp_path / "elsewhere")
    moved = AutoTokenizer.from_pretrained(tmp_path / "elsewhere")
    assert tokenizer_fingerprint(tok) == tokenizer_fingerprint(moved)
    lower = AutoTokenizer.from_pretrained(tiny_bert, do_lower_case=False)
    assert tokenizer_fingerprint(lower) != tokenizer_fingerprint(tok)


def test_second_run_reads_the_first_runs_entries(tiny_bert, tmp_path):
    cfg = run_config(tiny_bert, tmp_path)
    data, model, plan = prepare(cfg)
    first = BackboneCache(model, plan, data, cfg)
    a = first.entry(model, 2, "train", 0)
    data2, model2, plan2 = prepare(cfg)
    second = BackboneCache(model2, plan2, data2, cfg)
    b = second.entry(model2, 2, "train", 0)
    assert (first.store.misses, second.store.misses, second.store.hits) == (1, 0, 1)
    assert a["pooled"].shape == (48, 32) and a["offsets"][-1] == a["tokens"].shape[0]
    torch.testing.assert_close(torch.from_numpy(b["tokens"][:]), torch.from_numpy(a["tokens"][:]))
