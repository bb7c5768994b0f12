"""Words as users write them: raw text -> words with character offsets, one rule per mode.

The same mode must split the training text and the text given at prediction time, so a
model sees at prediction the words it was trained on. Modes:

- `whitespace`: runs of non-space characters (the rule MASSIVE and seq.in files use).
- `punct`: whitespace words, then every punctuation character becomes its own word
  ("Paris," -> "Paris", ","), as CoNLL-style pre-tokenized data splits it.
- `unspaced`: whitespace words, then characters of scripts written without spaces
  (Chinese, Japanese, Thai, Lao, Khmer, Myanmar) become one word each; other scripts keep
  whitespace words.
- `punct+unspaced`: both of the above.
- `chars`: every character is a word.

A "character" is a user-perceived character (a grapheme cluster: a base with its combining
marks, an emoji ZWJ sequence), so "é" written as e + U+0301, a Thai consonant with its vowel
mark, or a family emoji is never cut in two.

The splitting is done by `tokenizers` pre-tokenizers, which report character offsets; the
only patterns written here are the two `Split` regexes (a grapheme cluster, and one of a
script written without spaces): no pre-tokenizer in the library splits by script.
"""

from __future__ import annotations

import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import cache

from seqeval.metrics.sequence_labeling import get_entities
from tokenizers import Regex
from tokenizers import pre_tokenizers as pt

MODES = ("whitespace", "punct", "unspaced", "punct+unspaced", "chars")

# Scripts whose writing puts no spaces between words; a grapheme starting with one of them
# is a word of its own in the `unspaced` modes. Korean (Hangul) is written with spaces.
UNSPACED_SCRIPTS = ("Han", "Hiragana", "Katakana", "Thai", "Lao", "Khmer", "Myanmar")
_UNSPACED = "(?=[" + "".join(rf"\p{{{s}}}" for s in UNSPACED_SCRIPTS) + r"])\X"
_GRAPHEME = r"\X"


@cache
def _pre_tokenizer(mode: str) -> pt.PreTokenizer:
    steps = [pt.WhitespaceSplit()]
    if mode in ("punct", "punct+unspaced"):
        steps.append(pt.Punctuation(behavior="isolated"))
    if mode in ("unspaced", "punct+unspaced"):
        steps.append(pt.Split(Regex(_UNSPACED), behavior="isolated"))
    if mode == "chars":
        steps.append(pt.Split(Regex(_GRAPHEME), behavior="isolated"))
    return pt.Sequence(steps)


def split_words(text: str, mode: str = "whitespace") -> tuple[list[str], list[tuple[int, int]]]:
    """(words, offsets): `text[start:end] == word` for each word, in order, never overlapping.

    Whitespace never belongs to a word; empty or whitespace-only text gives no words.
    """
    if mode not in MODES:
        raise ValueError(f"unknown words mode {mode!r}; expected one of {MODES}")
    pieces = _pre_tokenizer(mode).pre_tokenize_str(text)
    return [w for w, _ in pieces], [span for _, span in pieces]


def is_punctuation(char: str) -> bool:
    """The character class the `Punctuation` pre-tokenizer isolates: ASCII punctuation and
    symbols (`$`, `+`, `|`, ...) or any Unicode punctuation category (P*)."""
    return char in string.punctuation or unicodedata.category(char).startswith("P")


def is_punctuation_word(word: str) -> bool:
    return bool(word) and all(is_punctuation(c) for c in word)


@cache
def _without_unspaced() -> pt.PreTokenizer:
    return pt.Split(Regex(_UNSPACED), behavior="removed")


def has_unspaced_script(word: str) -> bool:
    """Whether word holds a character of a script written without spaces."""
    removed = _without_unspaced().pre_tokenize_str(word)
    return sum(e - s for _, (s, e) in removed) < len(word)


def word_counts(train_word_lists: Iterable[Sequence[str]]) -> Counter[str]:
    """How often each distinct word occurs (what the two functions below decide from)."""
    return Counter(w for words in train_word_lists for w in words)


def _counts(words: Mapping[str, int] | Iterable[Sequence[str]]) -> Mapping[str, int]:
    return words if isinstance(words, Mapping) else word_counts(words)


def detect_words_mode(words: Mapping[str, int] | Iterable[Sequence[str]]) -> str:
    """The mode that splits raw text the way the training words were split (for `auto`).
    `words`: the training word lists, or their `word_counts` (an Arrow dataset's come from
    `pyarrow.compute.value_counts`, so a million sentences cost one pass over distinct words).

    - `punct` when the training words split punctuation off: punctuation-only words
      outnumber words that end in attached punctuation ("," and "." alone rather than
      "Paris," and "Rome."). Abbreviations ("U.S.", "p.m.") stay a minority either way.
    - `unspaced` when any word holds a script written without spaces: at prediction such
      text has no spaces to split on, and one word per character is what such training
      data (character-level Chinese or Japanese NER) uses.
    - both conditions -> `punct+unspaced`; neither -> `whitespace`.
    """
    alone = attached = 0
    unspaced = False
    for word, n in _counts(words).items():
        if is_punctuation_word(word):
            alone += n
        elif word and is_punctuation(word[-1]):
            attached += n
        unspaced = unspaced or has_unspaced_script(word)
    punct = alone > attached
    if punct and unspaced:
        return "punct+unspaced"
    return "punct" if punct else "unspaced" if unspaced else "whitespace"


def split_off_punctuation(words: Mapping[str, int] | Iterable[Sequence[str]]) -> frozenset[str]:
    """The punctuation characters the training data splits off its words: those of its
    punctuation-only words ("," "..." -> {",", "."}). `words` as for `detect_words_mode`."""
    return frozenset(c for w in _counts(words) if is_punctuation_word(w) for c in w)


def trim_entity_punctuation(
    words: Sequence[str], tags: Sequence[str], split_off: Iterable[str]
) -> list[str]:
    """BIO tags where no entity ends in a word made only of `split_off` characters: such
    trailing words become O, and an entity made only of them disappears.

    In the `punct` modes the `Punctuation` pre-tokenizer makes every punctuation character
    a word of its own, so a word is either one mark or holds none: retagging trailing marks
    is then enough for no entity to end in a mark the training data split off. In
    `whitespace` mode "Paris," stays one word and tags alone cannot trim it. An I-X that
    continues no X span starts one (the conlleval reading).
    """
    split_off = frozenset(split_off)
    out = list(tags)
    for _, start, last in get_entities(out):  # last is inclusive
        end = last + 1
        while end > start and words[end - 1] and set(words[end - 1]) <= split_off:
            end -= 1
        out[end : last + 1] = ["O"] * (last + 1 - end)
    return out
