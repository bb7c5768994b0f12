"""The Predictor as window-level steps (prepare -> run -> assemble) gives bit for bit what the
whole-text Predictor gave, and windows of different texts can share a forward pass."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from polyhead.data.align import first_subwords
from polyhead.data.example import split_words
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.predict import Predictor, pad_windows

INTENTS = ["alarm_set", "play_music", "weather_query", "other"]
SLOTS = ["O", "B-time", "I-time", "B-artist", "I-artist"]
TEXTS = [
    "wake me up at five am",
    "",
    "   ",
    "play the rolling stones",
    " ".join(f"word{i} at {i} pm" for i in range(60)),  # ~300 subwords: many windows of 16
    "what is the weather in paris",
    "Ünïcödé naïve café 東京 タワー 🙂🔥",
    "set an alarm " * 12,  # a few windows
    "x",
]


class WholeTextPredictor:
    """The Predictor's forward path as it was before the window steps (commit e550dd4), kept
    here as the reference: all windows of a batch of texts tokenized, padded and run together,
    merged per text. Formatting is the Predictor's own (`_format`)."""

    def __init__(self, predictor: Predictor):
        self.p = predictor

    def predict(self, texts, embeddings=False):
        from polyhead.predict import length_sorted_batches

        words = [split_words(t) for t in texts]
        results = [None] * len(texts)
        for idx in length_sorted_batches(texts, self.p.batch_size):
            raw = self.raw([words[i][0] for i in idx])
            for j, i in enumerate(idx):
                results[i] = self.p._format(texts[i], *words[i], raw[j], embeddings)
        return results

    @torch.inference_mode()
    def raw(self, batch_words):
        p = self.p
        max_len = p.model.spec.max_length
        enc = p.model.tokenizer(
            [w or [""] for w in batch_words],
            is_split_into_words=True,
            truncation=True,
            max_length=max_len,
            stride=min(p.stride, max_len // 4),
            return_overflowing_tokens=True,
            padding=True,
            return_tensors="pt",
        )
        owner = enc.pop("overflow_to_sample_mapping").tolist()
        inputs = {
            k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")
        }
        embedding, logits = p._forward(inputs)
        out = []
        for i, words in enumerate(batch_words):
            rows = [r for r, o in enumerate(owner) if o == i]
            item = {"embedding": embedding[rows[0]].float().cpu().numpy()}
            for task, lg in logits.items():
                if p.kinds[task] == "sentence":
                    item[task] = torch.softmax(lg[rows].float(), -1).mean(0).cpu()
                else:
                    item[task] = self.word_probs(lg, enc, rows, len(words), task in p.crfs)
            out.append(item)
        return out

    @staticmethod
    def word_probs(logits, enc, rows, n_words, raw):
        probs = torch.zeros(n_words, logits.shape[-1])
        best_margin = torch.full((n_words,), -1)
        for r in rows:
            firsts = first_subwords(enc.word_ids(r))
            if not firsts:
                continue
            lo, hi = firsts[0][1], firsts[-1][1]
            scores = logits[r].float()
            p = (scores if raw else torch.softmax(scores, -1)).cpu()
            for t, w in firsts:
                margin = min(w - lo, hi - w)
                if w < n_words and margin > best_margin[w]:
                    best_margin[w], probs[w] = margin, p[t]
        return probs


@pytest.fixture(scope="module")
def predictor(tiny_bert):
    torch.manual_seed(0)
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=INTENTS, hidden_size=8),
        TaskSpec(name="slots", kind="token", labels=SLOTS),
        TaskSpec(name="slots_crf", kind="token", labels=SLOTS, crf=True),
    ]
    model = MultiTaskModel(ModelSpec(backbone=str(tiny_bert), max_length=16, tasks=tasks))
    with torch.no_grad():  # a CRF starts at zero transitions: make Viterbi matter
        model.crf_heads()["slots_crf"].transitions.normal_(0, 2)
    return Predictor(model.eval(), batch_size=3)


def test_long_texts_have_many_windows_and_the_crf_decodes(predictor):
    prepared = predictor.prepare(TEXTS)
    per_text = np.bincount([w.owner for w in prepared.windows], minlength=len(TEXTS))
    assert per_text[4] > 10 and per_text[7] > 1 and per_text.min() == 1
    assert max(w.tokens for w in prepared.windows) == 16
    assert predictor.crfs and set(predictor.crfs) == {"slots_crf"}


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_predict_is_bit_identical_to_the_whole_text_predictor(predictor, batch_size):
    p = copy.copy(predictor)
    p.batch_size = batch_size
    ref = WholeTextPredictor(p)
    assert p.predict(TEXTS, embeddings=True) == ref.predict(TEXTS, embeddings=True)
    assert p.predict(TEXTS) == ref.predict(TEXTS)


def test_per_text_scores_are_bit_identical_before_formatting(predictor):
    """Unrounded: the embedding, mean sentence probabilities and per-word (CRF: raw) scores."""
    ref = WholeTextPredictor(predictor).raw([split_words(t)[0] for t in TEXTS])
    prepared = predictor.prepare(TEXTS)
    outputs = predictor.run(prepared.windows)
    for i, (words, _) in enumerate(prepared.words):
        parts = [(w, o) for w, o in zip(prepared.windows, outputs, strict=True) if w.owner == i]
        got = predictor._merge(parts, len(words))
        assert set(got) == set(ref[i]) == {"embedding", "intent", "slots", "slots_crf"}
        assert np.array_equal(got["embedding"], ref[i]["embedding"])
        for task in ("intent", "slots", "slots_crf"):
            assert torch.equal(got[task], ref[i][task]), (i, task)
    assert (ref[4]["slots_crf"] < 0).any()  # raw scores, not probabilities


def test_windows_of_different_texts_share_a_call_and_come_back_to_their_own(predictor):
    """What the server does: windows of two requests' texts, interleaved in calls of its own
    choosing; each request assembles its own. Other batch mates pad differently: the same
    answer up to float noise."""
    a, b = predictor.prepare(TEXTS[4:6]), predictor.prepare(TEXTS[:4])
    mixed = [(a, k) for k in range(len(a.windows))] + [(b, k) for k in range(len(b.windows))]
    mixed = mixed[::2] + mixed[1::2]  # interleave the two requests' windows
    outs: dict = {}
    for start in range(0, len(mixed), 5):  # calls of 5 windows, whatever their texts
        call = mixed[start : start + 5]
        outputs = predictor.run([prep.windows[k] for prep, k in call])
        for (prep, k), out in zip(call, outputs, strict=True):
            outs[id(prep), k] = out
    for prep, texts in ((a, TEXTS[4:6]), (b, TEXTS[:4])):
        got = predictor.assemble(prep, [outs[id(prep), k] for k in range(len(prep.windows))], True)
        want = predictor.predict(texts, embeddings=True)
        for g, w in zip(got, want, strict=True):
            assert g["text"] == w["text"] and g["slots"] == w["slots"]
            assert g["slots_crf"] == w["slots_crf"]
            assert g["intent"]["label"] == w["intent"]["label"]
            assert abs(g["intent"]["score"] - w["intent"]["score"]) < 1e-5
            np.testing.assert_allclose(g["embedding"], w["embedding"], atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_windows_pads_as_the_tokenizer_does(predictor, side):
    tok = copy.deepcopy(predictor.tokenizer)
    tok.padding_side = side
    p = copy.copy(predictor)
    p.tokenizer = tok
    prepared = p.prepare(TEXTS)
    inputs, spans = pad_windows(tok, prepared.windows)
    words = [w or [""] for w, _ in prepared.words]
    enc = tok(
        words,
        is_split_into_words=True,
        truncation=True,
        max_length=16,
        stride=4,
        return_overflowing_tokens=True,
        padding=True,
        return_tensors="pt",
    )
    assert set(inputs) == {"input_ids", "attention_mask", "token_type_ids"}
    for key, value in inputs.items():
        assert torch.equal(value, enc[key]), key
    for r, (lo, hi) in enumerate(spans):
        assert enc.word_ids(r)[lo:hi] == prepared.windows[r].word_ids
        assert int(enc["attention_mask"][r].sum()) == hi - lo
