"""The text settings of a run, end to end: `model.words` (auto decided from the training words
and recorded in the artifact), `data.words`, `data.tag_scheme` (read, and scored in the
matching seqeval mode) and `data.windows` (long sentences train and score every word)."""

from __future__ import annotations

import pytest
import torch

from polyhead.config import validate_config
from polyhead.data.labels import LabelSet
from polyhead.data.readers import read_examples
from polyhead.data.rows import batches_in_order, encode_source
from polyhead.data.sources import SourceData
from polyhead.engine.evaluation import PredictionCollector
from polyhead.engine.train import prepare
from polyhead.errors import ConfigError, DataError
from polyhead.model.multitask import MultiTaskModel
from tests.conftest import demo_raw
from tests.data.test_align import tokenizer
from tests.data.test_context import _conll as conll_documents
from tests.test_predict_words import RULE, RulePredictor

# CoNLL-style words: punctuation is its own word, as in CoNLL-2003 and WNUT-17.
CONLL = [
    [("I", "O"), ("flew", "O"), ("to", "O"), ("Lyon", "B-LOC"), (",", "O"), ("then", "O")],
    [("New", "B-LOC"), ("York", "I-LOC"), ("is", "O"), ("big", "O"), (".", "O")],
    [("We", "O"), ("met", "O"), ("in", "O"), ("Oslo", "B-LOC"), ("!", "O")],
]


def _conll(path, sentences=CONLL, scheme_tags=None):
    lines = []
    for s, sent in enumerate(sentences):
        for w, (word, tag) in enumerate(sent):
            tag = scheme_tags[s][w] if scheme_tags else tag
            lines.append(f"{word}\t{tag}")
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _token_config(backbone, train, dev=None, **sections):
    raw = {
        "model": {"backbone": str(backbone), "max_length": 32},
        "data": {"train": str(train), "dev": str(dev or train)},
        "tasks": {"places": {"kind": "token"}},
        "plan": {"strategy": "heads"},
        "trainer": {"epochs": 1, "batch_size": 4, "progress": False, "patience": None},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return validate_config(raw)


def test_auto_words_are_decided_from_the_training_words_and_saved(tiny_bert, tmp_path):
    cfg = _token_config(tiny_bert, _conll(tmp_path / "train.conll"))
    assert cfg.model.words == "auto"
    _, model, _ = prepare(cfg)
    assert model.spec.words == "punct" and model.spec.split_off == "!,."
    loaded = MultiTaskModel.load(model.save(tmp_path / "artifact"))
    assert loaded.spec.words == "punct" and loaded.spec.split_off == "!,."
    # The loaded model's predictor splits and trims as its training words did.
    predictor = RulePredictor(loaded, RULE | {"lyon": "B-LOC"})
    (item,) = predictor.predict(["I flew to Paris, then Rome."])
    assert [e["text"] for e in item["places"]] == ["Paris", "Rome"]


def test_auto_words_on_whitespace_text_stay_whitespace(tiny_bert):
    _, model, _ = prepare(validate_config(demo_raw(tiny_bert)))
    assert model.spec.words == "whitespace"


def test_a_given_words_mode_splits_jsonl_text_too(tiny_bert, tmp_path):
    data = tmp_path / "train.jsonl"
    data.write_text(
        '{"text": "I flew to Paris, then Rome.", "entities": '
        '[{"start": 10, "end": 15, "type": "LOC"}, {"start": 22, "end": 26, "type": "LOC"}]}\n'
    )
    cfg = _token_config(tiny_bert, data, model={"words": "punct"})
    assert cfg.data.words == "punct"  # the model's mode, since the source names none
    data_module, model, _ = prepare(cfg)
    (ex,) = data_module.sources[0].splits["train"]
    assert ex.tokens == ["I", "flew", "to", "Paris", ",", "then", "Rome", "."]
    assert ex.tags == ["O", "O", "O", "B-LOC", "O", "O", "B-LOC", "O"]
    assert model.spec.words == "punct"


def test_bad_text_settings_are_one_line_config_errors(tiny_bert, tmp_path):
    train = _conll(tmp_path / "train.conll")
    with pytest.raises(ConfigError, match=r"model\.words.*'spaces'"):
        _token_config(tiny_bert, train, model={"words": "spaces"})
    with pytest.raises(ConfigError, match=r"data\.tag_scheme.*'bioe'"):
        _token_config(tiny_bert, train, data={"tag_scheme": "bioe"})
    with pytest.raises(ConfigError, match=r"data\.stride"):
        _token_config(tiny_bert, train, data={"stride": 0})


BIOES = [
    ["O", "O", "O", "S-LOC", "O", "O"],
    ["B-LOC", "E-LOC", "O", "O", "O"],
    ["O"] * 3 + ["S-LOC", "O"],
]


def test_a_given_tag_scheme_reads_and_refuses_at_the_line(tiny_bert, tmp_path):
    train = _conll(tmp_path / "train.conll", scheme_tags=BIOES)
    data, _, _ = prepare(_token_config(tiny_bert, train, data={"tag_scheme": "bioes"}))
    tags = [ex.tags for ex in data.sources[0].splits["train"]]
    assert tags == [[t for _, t in sentence] for sentence in CONLL]
    with pytest.raises(DataError, match=r"train\.conll:4: tag 4 is 'S-LOC', not BIO"):
        prepare(_token_config(tiny_bert, train, data={"tag_scheme": "bio"}))


def _score_with(examples, pred_tags) -> dict:
    """Collector metrics for hand-made word predictions (one window per example)."""
    labels = {"places": LabelSet(["O", "B-LOC", "I-LOC"])}
    src = SourceData(0, None, ["places"], {"dev": examples})
    rows = encode_source(tokenizer(), src, "dev", {"places": "token"}, labels, 32, stride=8)
    collector = PredictionCollector([src], {"places": "token"}, labels, "dev")
    for batch in batches_in_order(rows, 8):
        target = torch.zeros_like(batch["input_ids"])  # (B, T)
        for b, (i, words) in enumerate(
            zip(batch["index"].tolist(), batch["word_ids"].tolist(), strict=True)
        ):
            for t, w in enumerate(words):
                if w >= 0:
                    target[b, t] = labels["places"].id(pred_tags[i][w])
        collector.add(batch, {"places": torch.nn.functional.one_hot(target, 3).float()})
    return collector.metrics()["places"]


@pytest.mark.parametrize(
    ("scheme", "mode", "f1"), [("bio", "conlleval", 1.0), ("bioes", "strict", 0.8)]
)
def test_bioes_data_is_scored_strictly(tmp_path, scheme, mode, f1):
    """The same gold entities, the same predictions with one entity started by I-: the
    conlleval rules count it (a BIO file), strict mode does not (a BIOES file)."""
    path = _conll(tmp_path / f"dev.{scheme}", scheme_tags=BIOES if scheme == "bioes" else None)
    examples = read_examples(path, format="conll")
    assert {ex.tag_scheme for ex in examples} == {scheme}
    pred = [ex.tags[:] for ex in examples]
    pred[1][0] = "I-LOC"  # "New York" predicted I-LOC I-LOC
    metrics = _score_with(examples, pred)
    assert metrics["entity_mode"] == mode
    assert metrics["f1"] == pytest.approx(f1)


def test_document_context_reaches_the_training_rows(tiny_bert, tmp_path):
    train = conll_documents(tmp_path / "docs.conll")
    plain, _, _ = prepare(_token_config(tiny_bert, train))
    data, _, _ = prepare(_token_config(tiny_bert, train, data={"context": "document"}))
    rows, plain_rows = data.rows("train")[0], plain.rows("train")[0]
    assert len(rows) == len(plain_rows) == 5
    for row, plain_row in zip(rows, plain_rows, strict=True):
        own = [w for w in row["word_ids"] if w >= 0]
        assert own == [w for w in plain_row["word_ids"] if w >= 0]
        assert len(row["input_ids"]) > len(plain_row["input_ids"])  # neighbours fill it
