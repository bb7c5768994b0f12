"""Pair tasks (`kind: pair`): two texts encoded together as the backbone expects
(`[CLS] a [SEP] b [SEP]` for BERT-style models), one row per example.

Files: any reader that fills `Example.text_pair` (JSONL `text_pair`, a CSV `text_pair`
column), or `format: pairs` for scored-pair files (polyhead.data.pairs: JSONL or CSV with
`text,text_pair,score` / `sentence1,sentence2,score`, or the headerless STS layout).
"""

from __future__ import annotations

from pathlib import Path

from polyhead.data.align import EncodedWords
from polyhead.data.example import Example
from polyhead.data.pairs import read_pairs
from polyhead.errors import DataError


def read_pair_examples(path: Path) -> list[Example]:
    """Scored pairs as Examples: `text`, `text_pair`, the score as `target` (and `label`)."""
    out = []
    for pair in read_pairs(path):
        if pair.score is None:
            raise DataError(path, None, "retrieval triples; a pair task expects scored pairs")
        ex = Example.from_text(pair.text, label=f"{pair.score:g}", source=pair.source)
        ex.target, ex.text_pair = [pair.score], pair.text_pair
        out.append(ex)
    return out


def is_paired(examples: list[Example]) -> bool:
    return bool(examples) and examples[0].text_pair is not None


def check_pairs(examples: list[Example], where: str) -> None:
    """Every example of a pair source has its second text (one missing: file:line)."""
    for ex in examples:
        if ex.text_pair is None:
            raise DataError(ex.source or where, None, "no text_pair; a pair task needs both texts")


def encode_pairs(tokenizer, examples: list[Example], max_length: int) -> EncodedWords:
    """(text, text_pair) per example as one row, the longer text truncated first. No token
    labels: every position's word id is None (pair tasks are sentence-level)."""
    enc = tokenizer(
        [ex.text for ex in examples],
        [ex.text_pair for ex in examples],
        truncation="longest_first",
        max_length=max_length,
    )
    return EncodedWords(
        input_ids=enc["input_ids"],
        attention_mask=enc["attention_mask"],
        word_ids=[[None] * len(ids) for ids in enc["input_ids"]],
        row_example=list(range(len(examples))),
        n_words=[len(ex.tokens) for ex in examples],
        token_type_ids=enc.get("token_type_ids"),
    )
