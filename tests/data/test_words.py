"""Word splitting: offsets that slice the raw text, each mode's words, `auto` detection, and
the rule that no entity ends in punctuation the training data split off."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from polyhead.data import read_examples
from polyhead.data.example import split_words as example_split_words
from polyhead.data.words import (
    MODES,
    detect_words_mode,
    split_off_punctuation,
    split_words,
    trim_entity_punctuation,
)

# Characters that exercise every mode: spaces, punctuation, scripts without spaces, a
# combining accent, a Thai vowel mark, emoji with a zero-width joiner and a skin tone.
TRICKY = " \t\n\u3000,.!?'-“”。、東京タワーへ行く我爱北สวัสดีe\u0301ñ😀👨\u200d👩\u200d👧👍🏽ab1"
texts = st.one_of(st.text(), st.text(alphabet=TRICKY))


def words_of(text: str, mode: str) -> list[str]:
    return split_words(text, mode)[0]


def test_punct_mode_splits_punctuation_off_and_offsets_slice_the_text():
    text = "I flew to Paris, then Rome."
    words, offsets = split_words(text, "punct")
    assert words == ["I", "flew", "to", "Paris", ",", "then", "Rome", "."]
    assert [text[s:e] for s, e in offsets] == words
    assert offsets[3:5] == [(10, 15), (15, 16)]
    assert words_of(text, "whitespace")[3] == "Paris,"


def test_chinese_is_one_word_per_character_and_spaced_scripts_keep_their_words():
    assert words_of("我爱北京天安门。", "unspaced") == [
        "我",
        "爱",
        "北",
        "京",
        "天",
        "安",
        "门",
        "。",
    ]
    assert words_of("我在 Google 工作", "unspaced") == ["我", "在", "Google", "工", "作"]
    assert words_of("東京タワーへ", "unspaced") == ["東", "京", "タ", "ワ", "ー", "へ"]
    # A Thai vowel mark stays on its consonant; Korean is written with spaces.
    assert words_of("สวัสดี", "unspaced") == ["ส", "วั", "ส", "ดี"]
    assert words_of("서울 시청", "unspaced") == ["서울", "시청"]
    assert words_of("在Paris, 我", "punct+unspaced") == ["在", "Paris", ",", "我"]
    assert words_of("我爱北京", "whitespace") == ["我爱北京"]


def test_chars_mode_keeps_accents_and_emoji_sequences_whole():
    family = "👨\u200d👩\u200d👧"
    assert words_of(f"ne\u0301e {family}!", "chars") == ["n", "e\u0301", "e", family, "!"]


@pytest.mark.parametrize("mode", MODES)
def test_offsets_exact_with_repeated_spaces_tabs_accents_and_emoji(mode):
    text = "  Zoë\t\tflew   to  São Paulo 😀 , naïve\u00a0café\n"
    words, offsets = split_words(text, mode)
    assert [text[s:e] for s, e in offsets] == words
    assert "".join(words) == "".join(text.split())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("text", ["", " ", "\t\n  \r\n", "\u3000\u00a0"])
def test_empty_or_whitespace_only_text_has_no_words(mode, text):
    assert split_words(text, mode) == ([], [])


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="unknown words mode 'spaces'"):
        split_words("a b", "spaces")


@pytest.mark.parametrize("mode", MODES)
@given(text=texts)
def test_words_slice_the_text_in_order_without_overlap_or_loss(mode, text):
    words, offsets = split_words(text, mode)
    assert [text[s:e] for s, e in offsets] == words
    assert all(w for w in words)
    assert all(s < e for s, e in offsets)
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(offsets, offsets[1:], strict=False))
    covered = {i for s, e in offsets for i in range(s, e)}
    assert all(text[i].isspace() for i in range(len(text)) if i not in covered)


@given(text=st.text().filter(lambda t: not any("\x1c" <= c <= "\x1f" for c in t)))
def test_whitespace_mode_is_the_readers_split(text):
    """Training readers split with example.split_words; prediction must split the same way.
    (U+001C..U+001F, separators Python counts as space and Unicode does not, differ.)"""
    assert split_words(text, "whitespace") == example_split_words(text)


def test_jsonl_entities_land_on_the_words_of_the_mode(tmp_path):
    path = tmp_path / "a.jsonl"
    record = {"text": "I flew to Paris, then Rome.", "entities": [[10, 15, "LOC"], [22, 26, "LOC"]]}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    punct = read_examples(path, words_mode="punct")[0]
    assert punct.tokens[3:5] == ["Paris", ","] and punct.tags[3:5] == ["B-LOC", "O"]
    assert punct.offsets[3] == (10, 15)
    whitespace = read_examples(path)[0]
    assert whitespace.tokens[3] == "Paris," and whitespace.tags[3] == "B-LOC"
    with pytest.raises(ValueError, match="unknown words mode 'auto'"):
        read_examples(path, words_mode="auto")


# --- auto --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word_lists", "mode"),
    [
        ([["I", "flew", "to", "Paris", ",", "then", "Rome", "."]], "punct"),
        ([["U.S.", "officials", "said", "."], ["He", "left", "."]], "punct"),
        ([["I", "flew", "to", "Paris,", "then", "Rome."]], "whitespace"),
        ([["wake", "me", "up", "at", "nine", "a.m."], ["Tom", "&", "Jerry"]], "whitespace"),
        ([["我", "爱", "北", "京"], ["hello"]], "unspaced"),
        ([["我", "爱", "北", "京", "。"], ["他", "，", "好"]], "punct+unspaced"),
        ([], "whitespace"),
    ],
)
def test_detect_words_mode(word_lists, mode):
    assert detect_words_mode(word_lists) == mode


@pytest.mark.slow
def test_detect_words_mode_on_real_data(shared_data):
    data = shared_data
    wnut = read_examples(data / "wnut17" / "wnut17train.conll")
    massive = read_examples(data / "massive_en_us" / "en-US.jsonl")
    banking = read_examples(data / "banking77" / "train.csv", label_field="category")
    assert detect_words_mode(ex.tokens for ex in wnut) == "punct"  # CoNLL-style tokens
    assert detect_words_mode(ex.tokens for ex in massive) == "whitespace"  # no punctuation
    assert detect_words_mode(ex.tokens for ex in banking) == "whitespace"  # "card?" attached


# --- no entity ends in split-off punctuation -----------------------------------------------


@pytest.mark.parametrize(
    ("words", "tags", "expected"),
    [
        (["Paris", ",", "then"], ["B-LOC", "I-LOC", "O"], ["B-LOC", "O", "O"]),
        (
            ["New", "York", ".", "."],
            ["B-LOC", "I-LOC", "I-LOC", "I-LOC"],
            ["B-LOC", "I-LOC", "O", "O"],
        ),
        ([",", "x"], ["B-LOC", "O"], ["O", "O"]),  # an entity of punctuation only disappears
        (["Yahoo", "!"], ["B-ORG", "I-ORG"], ["B-ORG", "I-ORG"]),  # "!" was never split off
        (["a", ",", "b", "."], ["B-X", "I-X", "B-X", "I-X"], ["B-X", "O", "B-X", "O"]),
        ([",", "b", "."], ["B-X", "I-X", "B-Y"], ["B-X", "I-X", "O"]),  # only the end is trimmed
        (["a", ",", "b"], ["I-X", "I-X", "O"], ["I-X", "O", "O"]),  # conlleval reading of I-X
        (["a", "...", "b"], ["B-X", "I-X", "I-X"], ["B-X", "I-X", "I-X"]),  # inside stays
    ],
)
def test_trim_entity_punctuation(words, tags, expected):
    split_off = split_off_punctuation([["He", "said", ",", "hi", "..."]])
    assert split_off == {",", "."}
    assert trim_entity_punctuation(words, tags, split_off) == expected


@given(
    text=texts,
    data=st.data(),
)
def test_in_punct_mode_no_entity_ends_in_split_off_punctuation(text, data):
    words, offsets = split_words(text, "punct")
    tags = data.draw(
        st.lists(
            st.sampled_from(["O", "B-X", "I-X", "B-Y", "I-Y"]),
            min_size=len(words),
            max_size=len(words),
        )
    )
    split_off = split_off_punctuation([[c] for c in ",.!?'-“”。、"])
    trimmed = trim_entity_punctuation(words, tags, split_off)
    for _, _, last in get_entities(trimmed):
        assert text[offsets[last][1] - 1] not in split_off
