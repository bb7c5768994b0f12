"""The one in-memory representation every reader produces."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_WORD = re.compile(r"\S+")


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace word split with character offsets; the same rule at training and prediction."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    return [text[s:e] for s, e in spans], spans


@dataclass
class Example:
    """One sentence: words, optional per-word tags, optional sentence label.

    `text` is the original string and `offsets[i]` the (start, end) character span of
    `tokens[i]` in it, so token predictions can be shown on the raw text.
    """

    tokens: list[str]
    tags: list[str] | None = None
    label: str | None = None
    text: str = ""
    offsets: list[tuple[int, int]] = field(default_factory=list)
    split: str | None = None
    source: str | None = None  # "path:line" of the first line it came from, for error messages
    tag_scheme: str | None = None  # the scheme its file wrote the tags in (tags are BIO)
    document: str | None = None  # CoNLL -DOCSTART- block / JSONL doc_id, for document context
    # Other task kinds (polyhead.data.kind_labels): a list of labels (multilabel), numeric
    # targets (regression), the second text of a pair (pair tasks encode both together).
    labels: list[str] | None = None
    target: list[float] | None = None
    text_pair: str | None = None

    def __post_init__(self) -> None:
        if not self.text and self.tokens:
            self.text = " ".join(self.tokens)
        if not self.offsets and self.tokens:
            self.offsets = _offsets_for(self.text, self.tokens)

    @classmethod
    def from_text(cls, text: str, **kwargs) -> Example:
        tokens, offsets = split_words(text)
        return cls(tokens=tokens, text=text, offsets=offsets, **kwargs)


def _offsets_for(text: str, tokens: list[str]) -> list[tuple[int, int]]:
    """Locate each token in text left to right; falls back to a joined-text position."""
    offsets, pos = [], 0
    for tok in tokens:
        start = text.find(tok, pos)
        if start < 0:
            start = pos
        offsets.append((start, start + len(tok)))
        pos = start + len(tok)
    return offsets
