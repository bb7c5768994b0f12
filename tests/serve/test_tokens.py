"""Token counts for the per-request limit and the per-call budget."""

from __future__ import annotations

from transformers import AutoTokenizer

from polyhead.model.backbone import default_model_path
from polyhead.serve import tokens as tokens_module
from polyhead.serve.tokens import TokenCounter


def test_counts_match_the_model_tokenizer_with_special_tokens():
    hf = AutoTokenizer.from_pretrained(default_model_path())
    texts = ["", "wake me up at five am", "Ünïcödé naïve café " * 60, "x" * 300, "東京 タワー"]
    # The packaged tokenizer truncates and pads to 128, and each HF call leaves its own
    # truncation behind: the counter's copy does neither.
    hf(texts[:1], truncation=True, max_length=4)
    counts = TokenCounter(hf).count(texts)
    assert counts == [len(ids) for ids in hf(texts, truncation=False)["input_ids"]]
    assert counts[2] > 128
    assert counts[0] == 2  # an empty text is still a [CLS] [SEP] window


def test_counting_stops_soon_after_the_limit(monkeypatch):
    monkeypatch.setattr(tokens_module, "GROUP_CHARS", 100)
    counter = TokenCounter(AutoTokenizer.from_pretrained(default_model_path()))
    texts = ["one two three four five six seven eight nine"] * 1000  # 44 chars, 11 tokens
    counts = counter.count(texts, limit=50)
    assert sum(counts) > 50
    assert len(counts) == 6  # groups of two texts (100 chars): 22, 44, 66 tokens -> stop
    assert len(counter.count(texts[:4], limit=50)) == 4  # under the limit: every text
