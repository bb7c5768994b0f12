"""What the transformers pipelines give on an exported folder, next to polyhead's Predictor."""

from __future__ import annotations

import warnings

from polyhead.export.runtime import load_predictor


def pipe(folder, kind: str, trust_remote_code: bool = False):
    from transformers import pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "token":
            return pipeline("token-classification", model=str(folder), aggregation_strategy="first")
        if kind == "polyhead-token":  # the folder's own pipeline: polyhead's whitespace words
            return pipeline(
                "polyhead-token-classification", model=str(folder), trust_remote_code=True
            )
        return pipeline(
            "text-classification", model=str(folder), trust_remote_code=trust_remote_code
        )


def pipeline_entities(token_pipe, text: str) -> list[tuple[str, int, int]]:
    return [(e["entity_group"], e["start"], e["end"]) for e in token_pipe(text)]


def polyhead_entities(predictions: dict, task: str) -> list[tuple[str, int, int]]:
    return [(e["type"], e["start_char"], e["end_char"]) for e in predictions[task]]


def predictor(artifact):
    """One text per batch, as the pipeline runs: no padding, so no rounding apart."""
    return load_predictor(str(artifact), batch_size=1)


def tokenizer_word_spans(tokenizer, text: str) -> list[tuple[int, int]]:
    """Character spans of the tokenizer's own words (its pre-tokenizer splits at punctuation)."""
    enc = tokenizer(text, return_offsets_mapping=True)
    spans: dict[int, tuple[int, int]] = {}
    for word, (start, end) in zip(enc.word_ids(), enc["offset_mapping"], strict=True):
        if word is not None:
            spans[word] = (spans.get(word, (start, end))[0], end)
    return [spans[w] for w in sorted(spans)]


def polyhead_on_tokenizer_words(pred, task: str, text: str) -> list[tuple[str, int, int]]:
    """polyhead's entities when each of the tokenizer's words is a word of its own: the text
    re-spaced at the tokenizer's word boundaries (the same subword ids), spans mapped back."""
    tokenizer = pred.model.tokenizer
    spans = tokenizer_word_spans(tokenizer, text)
    spaced = " ".join(text[s:e] for s, e in spans)
    assert tokenizer(spaced)["input_ids"] == tokenizer(text)["input_ids"]
    entities = pred.predict([spaced])[0][task]
    return [(e["type"], spans[e["start_word"]][0], spans[e["end_word"] - 1][1]) for e in entities]


def splits_words(tokenizer, text: str) -> bool:
    """The tokenizer's words differ from polyhead's whitespace words (o'clock, what's)."""
    return len(tokenizer_word_spans(tokenizer, text)) != len(text.split())
