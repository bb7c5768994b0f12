"""transformers export: one folder per head that transformers.pipeline runs like polyhead."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer
from typer.testing import CliRunner

from polyhead.cli import app
from polyhead.errors import PolyheadError
from polyhead.export.formats import export_artifact
from polyhead.export.transformers import META_FILE, MODELING_FILE, PIPELINE_FILE
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.predict import Predictor
from tests.export.test_onnx import _main
from tests.export.transformers_helpers import (
    pipe,
    pipeline_entities,
    polyhead_entities,
    polyhead_on_tokenizer_words,
    predictor,
    splits_words,
)
from tests.serve.conftest import INTENTS, SLOTS, tiny_artifact

TEXTS = [
    "wake me up at five am this week",
    "play the rolling stones",
    "",
    "what is the weather in new york",
    "x",
]
PUNCT_TEXTS = ["wake me up at five o'clock", "what's the weather, today?", "play rock'n'roll"]
CUSTOM_NOTICE = (
    "intent: no standard transformers class pools like polyhead ({}); the folder ships "
    "modeling_polyhead.py: load it with trust_remote_code=True"
)
WORDS_NOTICE = (
    "slots: pipeline('token-classification') also splits words at punctuation (o'clock: a tag "
    "per piece); pipeline('polyhead-token-classification', model=..., trust_remote_code=True) "
    "splits them as polyhead does"
)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models gain nothing from a second thread, and lose much when the cores are busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _spec(backbone, **kw) -> ModelSpec:
    tasks = kw.pop("tasks", None) or [
        TaskSpec(name="intent", kind="sentence", labels=INTENTS, hidden_size=kw.pop("hidden", 8))
    ]
    return ModelSpec(backbone=str(backbone), max_length=32, tasks=tasks, **kw)


def _save(spec: ModelSpec, folder):
    torch.manual_seed(0)
    MultiTaskModel(spec).save(folder)
    return folder


def _assert_same_labels(folder, artifact, texts, trust_remote_code=True):
    clf = pipe(folder, "sentence", trust_remote_code=trust_remote_code)
    ours = predictor(artifact).predict(texts)
    for text, expected in zip(texts, ours, strict=True):
        (got,) = clf(text)
        assert got["label"] == expected["intent"]["label"], text
        assert abs(got["score"] - expected["intent"]["score"]) < 1e-5


def test_one_standard_folder_per_head_checked_and_safetensors_only(transformers_export, artifact):
    out, report = transformers_export
    assert report["format"] == "transformers" and report["merged"] is False
    assert report["intent.max_abs_diff"] < 1e-5 and report["slots.max_abs_diff"] < 1e-5
    assert report["notices"] == [CUSTOM_NOTICE.format("mean + tanh layer"), WORDS_NOTICE]
    slots = json.loads((out / "slots" / "config.json").read_text())
    assert slots["architectures"] == ["BertForTokenClassification"]
    assert slots["id2label"] == {str(i): label for i, label in enumerate(SLOTS)}
    assert slots["label2id"] == {label: i for i, label in enumerate(SLOTS)}
    assert slots["custom_pipelines"]["polyhead-token-classification"]["impl"] == (
        "pipeline_polyhead.PolyheadTokenClassificationPipeline"
    )
    assert (out / "slots" / PIPELINE_FILE).exists() and not (
        out / "intent" / PIPELINE_FILE
    ).exists()
    intent = json.loads((out / "intent" / "config.json").read_text())
    assert intent["architectures"] == ["PolyheadForSequenceClassification"]
    assert intent["auto_map"]["AutoModelForSequenceClassification"] == (
        "modeling_polyhead.PolyheadForSequenceClassification"
    )
    assert (out / "intent" / MODELING_FILE).exists() and not (
        out / "slots" / MODELING_FILE
    ).exists()
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {p.parent.name for p in files if p.name == "model.safetensors"} == {"intent", "slots"}
    assert not [p for p in files if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    assert not [p for p in files if str(artifact) in p.read_text(errors="ignore")]
    meta = json.loads((out / META_FILE).read_text())
    assert meta["tasks"]["slots"]["pipeline"] == "token-classification"
    assert meta["tasks"]["intent"]["trust_remote_code"] is True


@pytest.mark.parametrize("kind", ["token", "polyhead-token"])
def test_token_pipeline_gives_polyheads_entities(transformers_export, artifact, kind):
    out, _ = transformers_export
    token, pred = pipe(out / "slots", kind), predictor(artifact)
    seen = 0
    for text in TEXTS:
        expected = polyhead_entities(pred.predict([text])[0], "slots")
        assert pipeline_entities(token, text) == expected, text
        seen += len(expected)
    assert seen > 3  # the random head tags words: the comparison is not between empty lists


def test_a_word_with_inner_punctuation(transformers_export, artifact):
    """The difference the notice states: the standard pipeline's words are the tokenizer's;
    the folder's polyhead-token-classification pipeline has polyhead's words."""
    out, _ = transformers_export
    pred = predictor(artifact)
    token, own = pipe(out / "slots", "token"), pipe(out / "slots", "polyhead-token")
    differs = 0
    for text in PUNCT_TEXTS:
        assert splits_words(pred.model.tokenizer, text)
        expected = polyhead_entities(pred.predict([text])[0], "slots")
        assert pipeline_entities(own, text) == expected, text
        got = pipeline_entities(token, text)
        assert got == polyhead_on_tokenizer_words(pred, "slots", text), text
        differs += got != expected
    assert differs  # else these texts would not show the difference


def test_text_classification_pipeline_gives_polyheads_labels(transformers_export, artifact):
    out, _ = transformers_export
    _assert_same_labels(out / "intent", artifact, TEXTS + PUNCT_TEXTS)
    with pytest.raises(ValueError, match="trust_remote_code"):
        AutoModelForSequenceClassification.from_pretrained(out / "intent", trust_remote_code=False)


@pytest.mark.parametrize(
    "family, architecture",
    [("bert", "BertForSequenceClassification"), ("roberta", "RobertaForSequenceClassification")],
)
def test_standard_class_where_it_is_exact(tiny_backbones, tmp_path, family, architecture):
    """cls pooling through a tanh layer as wide as the backbone: BERT's pooler + classifier,
    RoBERTa's classification head."""
    art = _save(_spec(tiny_backbones[family], pooling="cls", hidden=32), tmp_path / "art")
    report = export_artifact(str(art), "transformers", tmp_path / "out")
    assert report["notices"] == [] and report["intent.max_abs_diff"] < 1e-5
    config = json.loads((tmp_path / "out" / "intent" / "config.json").read_text())
    assert config["architectures"] == [architecture] and "auto_map" not in config
    assert not (tmp_path / "out" / "intent" / MODELING_FILE).exists()
    _assert_same_labels(tmp_path / "out" / "intent", art, TEXTS, trust_remote_code=False)


@pytest.mark.parametrize(
    "pooling, layers, hidden, what",
    [
        ("cls", "last", None, "cls"),
        ("max", "last2_concat", None, "max"),
        ("mean", "last2_mean", 8, "mean + tanh layer"),
    ],
)
def test_custom_class_pools_like_polyhead(tiny_bert, tmp_path, pooling, layers, hidden, what):
    spec = _spec(tiny_bert, pooling=pooling, layers=layers, hidden=hidden)
    art = _save(spec, tmp_path / "art")
    report = export_artifact(str(art), "transformers", tmp_path / "out")
    assert report["notices"] == [CUSTOM_NOTICE.format(what)]
    assert report["intent.max_abs_diff"] < 1e-5
    _assert_same_labels(tmp_path / "out" / "intent", art, TEXTS + PUNCT_TEXTS)


def test_external_classifier_exports_as_one_linear(artifact, tmp_path):
    from polyhead.model.linear import LinearClassifier

    model = MultiTaskModel.load(artifact)
    rng = np.random.default_rng(0)
    arrays = {"coef": rng.normal(size=(3, 32)), "intercept": rng.normal(size=3)}
    arrays["classes"] = np.arange(3)
    model.external_heads["intent"] = LinearClassifier("sentence", arrays, 3, {})
    model.save(tmp_path / "ext")
    report = export_artifact(str(tmp_path / "ext"), "transformers", tmp_path / "out")
    assert report["intent.max_abs_diff"] < 1e-5
    assert report["notices"][0] == CUSTOM_NOTICE.format("mean")
    _assert_same_labels(tmp_path / "out" / "intent", tmp_path / "ext", TEXTS)


def test_backbone_without_token_type_ids(tiny_backbones, tmp_path):
    art = tiny_artifact(tiny_backbones["distilbert"], tmp_path / "distil")
    report = export_artifact(str(art), "transformers", tmp_path / "out")
    assert report["slots.max_abs_diff"] < 1e-5
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out" / "slots")
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    token, pred = pipe(tmp_path / "out" / "slots", "polyhead-token"), predictor(art)
    for text in TEXTS + PUNCT_TEXTS:
        assert pipeline_entities(token, text) == polyhead_entities(pred.predict([text])[0], "slots")
    _assert_same_labels(tmp_path / "out" / "intent", art, TEXTS)


def test_crf_head_is_refused_unless_emissions_only(tiny_bert, tmp_path):
    crf = TaskSpec(name="slots", kind="token", labels=SLOTS, crf=True)
    art = _save(_spec(tiny_bert, tasks=[crf]), tmp_path / "art")
    with pytest.raises(PolyheadError) as refused:
        export_artifact(str(art), "transformers", tmp_path / "out")
    assert str(refused.value) == (
        "slots: a CRF head decodes with Viterbi, which a transformers pipeline cannot run; "
        "pass --emissions-only to export its per-token emission scores"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["art"]  # nothing half-written
    report = export_artifact(str(art), "transformers", tmp_path / "out", emissions_only=True)
    assert report["notices"][0].startswith("slots: emission scores only: the pipeline takes")
    assert report["slots.max_abs_diff"] < 1e-5
    # What the pipeline gives: polyhead's tags taken per token from the emissions, no Viterbi.
    model = MultiTaskModel.load(art)
    model.heads["slots"].crf = None
    argmax = Predictor(model, batch_size=1)
    token = pipe(tmp_path / "out" / "slots", "token")
    for text in TEXTS:
        expected = polyhead_entities(argmax.predict([text])[0], "slots")
        assert pipeline_entities(token, text) == expected


def test_refusals_name_the_task(tiny_bert, tmp_path):
    token = TaskSpec(name="slots", kind="token", labels=SLOTS)
    art = _save(_spec(tiny_bert, tasks=[token], layers="last2_mean"), tmp_path / "layers")
    with pytest.raises(PolyheadError, match=r"^slots: the head reads the last 2 layers \(mean\)"):
        export_artifact(str(art), "transformers", tmp_path / "out")
    with pytest.raises(PolyheadError, match="the model has no task heads"):
        export_artifact(str(tiny_bert), "transformers", tmp_path / "out")


def test_cli_export_prints_checks_and_notices(artifact, tmp_path, monkeypatch, capsys):
    out = tmp_path / "hf"
    args = ["export", str(artifact), "--format", "transformers", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert [x.split(":")[0] for x in lines[:2]] == ["intent.max_abs_diff", "slots.max_abs_diff"]
    assert f"note: {WORDS_NOTICE}" in lines and "wrote transformers export to" in res.output
    crf = TaskSpec(name="slots", kind="token", labels=SLOTS, crf=True)
    art = _save(_spec(tiny_bert_path(artifact), tasks=[crf]), tmp_path / "crf")
    code, err = _main(
        monkeypatch,
        capsys,
        "export",
        str(art),
        "--format",
        "transformers",
        "--out",
        str(tmp_path / "x"),
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--emissions-only" in err
    res = CliRunner().invoke(
        app, [*args[:1], str(art), *args[2:4], "--out", str(tmp_path / "y"), "--emissions-only"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "y" / "slots" / "model.safetensors").exists()


def tiny_bert_path(artifact):
    return str(artifact / "backbone")  # the artifact's own copy (its JSON names no local path)


@pytest.mark.slow
def test_massive_test_utterances_on_minilm(shared_data, tmp_path):
    """200 real MASSIVE test utterances through both pipelines, on the packaged MiniLM with
    seeded random heads (the export must be exact whatever the weights)."""
    from polyhead.data.jsonl import read_massive

    examples = read_massive(shared_data / "massive_en_us" / "en-US.jsonl")
    intents = sorted({e.label for e in examples})
    tags = ["O", *sorted({t for e in examples for t in e.tags} - {"O"})]
    texts = [e.text for e in examples if e.split == "test"][:200]
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=intents),
        TaskSpec(name="slots", kind="token", labels=tags),
    ]
    art = _save(ModelSpec(backbone="minilm", tasks=tasks), tmp_path / "art")
    report = export_artifact(str(art), "transformers", tmp_path / "out")
    assert report["intent.max_abs_diff"] < 1e-4 and report["slots.max_abs_diff"] < 1e-4
    _assert_same_labels(tmp_path / "out" / "intent", art, texts)

    pred, folder = predictor(art), tmp_path / "out" / "slots"
    token, own = pipe(folder, "token"), pipe(folder, "polyhead-token")
    whole_words = [t for t in texts if not splits_words(pred.model.tokenizer, t)]
    assert len(whole_words) > 150  # 174 of these 200: most words have no inner punctuation
    for text in texts:
        expected = polyhead_entities(pred.predict([text])[0], "slots")
        assert pipeline_entities(own, text) == expected, text
        got = pipeline_entities(token, text)
        if text in whole_words:
            assert got == expected, text
        assert got == polyhead_on_tokenizer_words(pred, "slots", text), text
