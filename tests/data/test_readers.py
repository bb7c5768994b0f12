"""read_examples: every format, format detection, split filtering, and the promised errors."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from polyhead.data import LabelSet, detect_format, read_examples
from polyhead.errors import DataError


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def jsonl(path: Path, *records) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return write(path, "\n".join(lines) + "\n")


def assert_error(path: Path, line: int | None, expected: str, **kwargs) -> None:
    with pytest.raises(DataError) as info:
        read_examples(path, **kwargs)
    message = str(info.value)
    where = f"{path}:{line}:" if line is not None else f"{path}:"
    assert message.startswith(where), message
    assert expected in message, message


# --- CoNLL ---------------------------------------------------------------------------------


def test_conll_sentences_docstart_tab_separator_crlf_and_bom(tmp_path):
    text = "-DOCSTART-\tO\r\n\r\nJohn\tB-PER\r\nlives\tO\r\n\t\r\nin\tO\r\nParis\tB-LOC\r\n"
    path = write(tmp_path / "a.conll", b"\xef\xbb\xbf" + text.encode())
    examples = read_examples(path)
    assert [ex.tokens for ex in examples] == [["John", "lives"], ["in", "Paris"]]
    assert [ex.tags for ex in examples] == [["B-PER", "O"], ["O", "B-LOC"]]
    assert examples[0].text == "John lives"
    assert examples[1].source == f"{path}:6"


def test_conll_tag_column_and_single_column(tmp_path):
    path = write(tmp_path / "a.txt", "EU NNP B-ORG\nrejects VBZ O\n")
    assert read_examples(path)[0].tags == ["B-ORG", "O"]
    assert_error(path, 1, "tag 1 is 'NNP'; expected O, B-<type>, I-<type>, E-", tag_column=1)
    tokens_only = write(tmp_path / "b.conll", "hello\nworld\n\nagain\n")
    examples = read_examples(tokens_only)
    assert [ex.tokens for ex in examples] == [["hello", "world"], ["again"]]
    assert all(ex.tags is None for ex in examples)


def test_conll_tag_column_picks_a_middle_column(tmp_path):
    path = write(tmp_path / "a.conll", "EU B-ORG x\nrejects O y\n")
    assert read_examples(path, tag_column=1)[0].tags == ["B-ORG", "O"]


def test_conll_repairs_orphan_i_tags_with_one_warning(tmp_path, caplog):
    path = write(tmp_path / "a.conll", "a\tI-PER\nb\tO\nc\tI-LOC\n\nd\tB-PER\ne\tI-LOC\n")
    with caplog.at_level(logging.WARNING, logger="polyhead"):
        examples = read_examples(path)
    assert examples[0].tags == ["B-PER", "O", "B-LOC"]
    assert examples[1].tags == ["B-PER", "B-LOC"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "polyhead"]
    assert len(warnings) == 1 and "3 I- tags" in warnings[0] and str(path) in warnings[0]


def test_conll_strict_bio_names_the_tag_line(tmp_path):
    path = write(tmp_path / "a.conll", "a\tO\n\nb\tB-PER\nc\tI-LOC\n")
    assert_error(path, 4, "does not continue a LOC span", strict_bio=True)


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        ("a\tO\nb\n", 2, "1 columns; expected 2"),
        ("a\tO\n\nb\tPER\n", 3, "tag 1 is 'PER'; expected O, B-<type>, I-<type>, E-<type>"),
        (b"a\tO\n\nb\xff\tO\n", 3, "byte 0xff is not valid UTF-8; expected UTF-8"),
        ("", 1, "file is empty; expected at least one example"),
        (" \n\t\n", 1, "file is empty"),
        (
            "-DOCSTART- -X- O O\n\n-DOCSTART- -X- O O\n",
            1,
            "(only -DOCSTART- lines); expected token",
        ),
    ],
)
def test_conll_errors(tmp_path, content, line, expected):
    assert_error(write(tmp_path / "bad.conll", content), line, expected)


def test_conll_missing_tag_column(tmp_path):
    path = write(tmp_path / "a.conll", "a\tO\n")
    assert_error(path, 1, "no column 5 (line has 2 columns); expected tag_column", tag_column=5)


# --- MASSIVE -------------------------------------------------------------------------------


def massive(utt, annot, intent="alarm_set", partition="train", **extra):
    return {"utt": utt, "annot_utt": annot, "intent": intent, "partition": partition, **extra}


def test_massive_brackets_become_bio(tmp_path):
    path = jsonl(
        tmp_path / "m.jsonl",
        massive(
            "wake me up at five am this week", "wake me up at [time : five am] [date : this week]"
        ),
        massive("olly what's up", "olly what's up", intent="general_quirky", partition="dev"),
    )
    assert detect_format(path) == "massive"
    first, second = read_examples(path)
    assert first.tags == ["O", "O", "O", "O", "B-time", "I-time", "B-date", "I-date"]
    assert (first.label, first.split, first.source) == ("alarm_set", "train", f"{path}:1")
    assert first.offsets[4] == (14, 18)
    assert second.tags == ["O", "O", "O"] and second.label == "general_quirky"


def test_massive_split_filter(tmp_path):
    path = jsonl(
        tmp_path / "m.jsonl",
        massive("a b", "a [x : b]", partition="train"),
        massive("c", "c", partition="test"),
    )
    assert [ex.tokens for ex in read_examples(path, split="test")] == [["c"]]
    assert_error(
        path, None, "no examples in split 'dev'; expected one of ['test', 'train']", split="dev"
    )


@pytest.mark.parametrize(
    ("annot", "expected"),
    [
        ("set [time : five am", "'[' at column 5 is never closed"),
        ("set [time : [date : five] am]", "'[' at column 13 is nested inside the '[' at column 5"),
        ("set [time five am]", "'[time five am]' at column 5 is not '[slot : words]'"),
        ("set time : five am]", "']' at column 19 closes no '['"),
    ],
)
def test_massive_malformed_brackets(tmp_path, annot, expected):
    path = jsonl(tmp_path / "m.jsonl", massive("x", "x"), massive("set five am", annot))
    assert_error(path, 2, expected)
    assert_error(path, 2, "expected '[slot : words]' brackets")


def test_massive_annotation_must_rebuild_utt(tmp_path):
    path = jsonl(tmp_path / "m.jsonl", massive("wake me at five", "wake me at [time : six]"))
    assert_error(path, 1, "expected the words of utt ['wake', 'me', 'at', 'five']")


@pytest.mark.parametrize(
    ("line2", "expected"),
    [
        ('{"utt": "a", "annot_utt": "a"', "invalid JSON"),
        ('{"utt": "a", "intent": "x"}', "missing field 'annot_utt'"),
        ('{"utt": 3, "annot_utt": "a", "intent": "x"}', "field 'utt' is a int; expected str"),
    ],
)
def test_massive_record_errors(tmp_path, line2, expected):
    path = jsonl(tmp_path / "m.jsonl", massive("a", "a"), line2)
    assert_error(path, 2, expected, format="massive")


# --- generic JSONL -------------------------------------------------------------------------


def test_jsonl_text_tokens_tags_and_split(tmp_path):
    path = jsonl(
        tmp_path / "d.jsonl",
        {"text": "book  a table", "label": "book", "split": "train"},
        {"tokens": ["put", "on", "rock"], "tags": ["O", "O", "B-genre"], "label": 3},
    )
    assert detect_format(path) == "jsonl"
    first, second = read_examples(path)
    assert first.tokens == ["book", "a", "table"] and first.offsets[1] == (6, 7)
    assert (first.label, first.split, first.tags) == ("book", "train", None)
    assert second.tags == ["O", "O", "B-genre"] and second.label == "3"


def test_jsonl_entities_as_char_spans(tmp_path):
    text = "fly from new york to los angeles"
    path = jsonl(
        tmp_path / "d.jsonl",
        {"text": text, "entities": [{"start": 9, "end": 17, "type": "from"}, [21, 32, "to"]]},
        {"text": "New-York rocks", "entities": [[0, 3, "city"]]},  # partial word overlap
    )
    first, second = read_examples(path)
    assert first.tags == ["O", "O", "B-from", "I-from", "O", "B-to", "I-to"]
    assert second.tags == ["B-city", "O"]


def test_jsonl_custom_field_names(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", {"sentence": "hi there", "intent": "greet"})
    (ex,) = read_examples(path, text_field="sentence", label_field="intent")
    assert (ex.tokens, ex.label) == (["hi", "there"], "greet")


@pytest.mark.parametrize(
    ("line2", "expected"),
    [
        ({"tokens": ["a", "b", "c"], "tags": ["O", "O"]}, "2 tags for 3 tokens; expected one tag"),
        ({"text": "a b", "tags": "O O"}, "field 'tags' is a str; expected list"),
        ({"text": "a", "label": {"x": 1}}, "expected a string, a number, or a list"),
        ({"text": "a", "label": ["x", 1]}, "or a list of them (one type)"),
        ({"text": "a", "label": True}, "label True; expected a string"),
        ({"tokens": ["a", 1]}, "field 'tokens' holds a non-string; expected a list of strings"),
        ({"label": "x"}, "missing field 'text'"),
        ({"text": "a b", "entities": [[0, 9, "x"]]}, "expected {'start': int"),
        ({"text": "a b", "entities": [{"start": 0, "type": "x"}]}, "0 <= start < end <= 3"),
        ({"text": "a", "tags": ["O"], "entities": []}, "both 'tags' and 'entities'"),
        ({"text": "a b", "tags": ["O", "X-y"]}, "tag 2 is 'X-y'; expected O, B-<type>"),
        ("[1, 2]", "a JSON list; expected an object"),
        ("{'text': 'a'}", "invalid JSON (Expecting property name"),
    ],
)
def test_jsonl_errors(tmp_path, line2, expected):
    path = jsonl(tmp_path / "d.jsonl", {"text": "fine"}, line2)
    assert_error(path, 2, expected)


# --- CSV -----------------------------------------------------------------------------------


def test_csv_quoted_newlines_and_category_column(tmp_path):
    content = 'text,category\nhello there,greet\n"line one\nline two",multi\r\nbye,leave\n'
    path = write(tmp_path / "c.csv", content)
    examples = read_examples(path)
    assert [ex.label for ex in examples] == ["greet", "multi", "leave"]
    assert examples[1].tokens == ["line", "one", "line", "two"]
    assert [ex.source for ex in examples] == [f"{path}:2", f"{path}:3", f"{path}:5"]


def test_csv_named_columns_and_text_only(tmp_path):
    path = write(tmp_path / "c.csv", "id,utterance,y\n1,hi there,greet\n")
    (ex,) = read_examples(path, label_field="y")
    assert (ex.tokens, ex.label) == (["hi", "there"], "greet")
    (only,) = read_examples(write(tmp_path / "t.csv", "text\nhello world\n"))
    assert only.label is None


def test_csv_errors_name_the_record_start_line(tmp_path):
    path = write(tmp_path / "c.csv", 'text,label\n"a\nb",x\nc,y,extra\n')
    assert_error(path, 4, "3 fields; expected 2 like the header ['text', 'label']")
    no_label = write(tmp_path / "n.csv", "text,other\na,b\n")
    assert_error(no_label, 1, "has no label column; expected 'label' or 'category'")
    named = write(tmp_path / "m.csv", "text,label\na,b\n")
    assert_error(named, 1, "has no label column; expected 'intent_name'", label_field="intent_name")


# --- seq.in / seq.out / label ----------------------------------------------------------------


def seqio_split(folder: Path, words: str, tags: str, labels: str) -> None:
    write(folder / "seq.in", words)
    write(folder / "seq.out", tags)
    write(folder / "label", labels)


def test_seqio_split_folders(tmp_path):
    seqio_split(tmp_path / "train", "show flights\nhi\n", "O O\nO\n", "flight\ngreet\n")
    seqio_split(tmp_path / "test", "to boston\n", "O B-city\n", "flight\n")
    assert detect_format(tmp_path) == "seqio"
    examples = read_examples(tmp_path)
    assert Counter(ex.split for ex in examples) == {"train": 2, "test": 1}
    (test,) = read_examples(tmp_path, split="test")
    assert (test.tokens, test.tags, test.label) == (["to", "boston"], ["O", "B-city"], "flight")


def test_seqio_flat_folder(tmp_path):
    seqio_split(tmp_path, "a b\n", "B-x I-x\n", "lab\n")
    (ex,) = read_examples(tmp_path, split="train")  # no split information: ignored
    assert (ex.tags, ex.label, ex.split) == (["B-x", "I-x"], "lab", None)


def test_seqio_errors(tmp_path):
    seqio_split(tmp_path / "a", "x y\nz\n", "O O\nO O\n", "l\nl\n")
    with pytest.raises(DataError) as info:
        read_examples(tmp_path / "a")
    expected = f"{tmp_path / 'a' / 'seq.out'}:2: 2 tags for 1 words of seq.in line 2; expected one"
    assert str(info.value).startswith(expected)
    seqio_split(tmp_path / "b", "x\nz\n", "O\nO\n", "l\n")
    with pytest.raises(DataError) as info:
        read_examples(tmp_path / "b")
    assert str(info.value).startswith(f"{tmp_path / 'b' / 'label'}:2: 1 lines; expected 2, one")


# --- detection and path errors -------------------------------------------------------------


def test_detect_format_by_suffix_and_content(tmp_path):
    assert detect_format(write(tmp_path / "x.annotated", "a\tO\n")) == "conll"
    assert detect_format(write(tmp_path / "x.data", '{"text": "a"}\n')) == "jsonl"
    assert detect_format(write(tmp_path / "x.csv", "text,label\n")) == "csv"
    with pytest.raises(DataError, match=r"x\.bin: cannot tell the format from suffix '\.bin'"):
        detect_format(write(tmp_path / "x.bin", "plain words\n"))
    with pytest.raises(DataError, match="a folder without seq.in files"):
        detect_format(tmp_path)


def test_path_and_format_errors(tmp_path):
    missing = tmp_path / "nope.conll"
    assert_error(missing, None, "no such file or directory")
    path = write(tmp_path / "a.conll", "a\tO\n")
    assert_error(path, None, "unknown format 'xml'; expected one of", format="xml")


# --- real data (counts from each folder's PROVENANCE.md) ----------------------------------


@pytest.mark.slow
def test_massive_counts(shared_data):
    examples = read_examples(shared_data / "massive_en_us" / "en-US.jsonl")
    assert Counter(ex.split for ex in examples) == {"train": 11514, "dev": 2033, "test": 2974}
    assert len(LabelSet.for_sentences(examples)) == 60
    assert len(LabelSet.for_tags(examples)) == 111


@pytest.mark.slow
def test_wnut_counts(shared_data):
    folder = shared_data / "wnut17"
    sizes = {
        name: read_examples(folder / name)
        for name in ("wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated")
    }
    assert [len(v) for v in sizes.values()] == [3394, 1009, 1287]
    train = sizes["wnut17train.conll"]
    assert sum(len(ex.tokens) for ex in train) == 62730
    assert len(LabelSet.for_tags(train)) == 13


@pytest.mark.slow
def test_banking_counts(shared_data):
    train = read_examples(shared_data / "banking77" / "train.csv")
    test = read_examples(shared_data / "banking77" / "test.csv")
    assert (len(train), len(test)) == (10003, 3080)
    assert len(LabelSet.for_sentences(train)) == 77
