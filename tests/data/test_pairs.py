"""read_pairs: JSONL and CSV triples and scored pairs, the headerless STS-B layout, and the
promised one-line errors naming path:line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyhead.data.pairs import Pair, read_pairs
from polyhead.errors import DataError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, *records) -> Path:
    return write(path, "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records))


def assert_error(path: Path, line: int | None, expected: str) -> None:
    with pytest.raises(DataError) as info:
        read_pairs(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}:" if line else f"{path}:"), message
    assert expected in message, message


def test_jsonl_triples_with_and_without_negative(tmp_path):
    path = jsonl(
        tmp_path / "t.jsonl",
        {"anchor": "how do I pay", "positive": "payment options", "negative": "opening hours"},
        "",
        {"anchor": "reset password", "positive": "I forgot my password", "id": 7},
    )
    assert read_pairs(path) == [
        Pair("how do I pay", "payment options", negative="opening hours", source=f"{path}:1"),
        Pair("reset password", "I forgot my password", source=f"{path}:3"),
    ]


def test_jsonl_scored_pairs_and_glue_column_names(tmp_path):
    path = jsonl(
        tmp_path / "s.jsonl",
        {"text": "a cat sits", "text_pair": "a cat is sitting", "score": 4.8},
        {"sentence1": "a dog runs", "sentence2": "the sky is blue", "score": 0},
    )
    pairs = read_pairs(path)
    assert [(p.text, p.text_pair, p.score) for p in pairs] == [
        ("a cat sits", "a cat is sitting", 4.8),
        ("a dog runs", "the sky is blue", 0.0),
    ]
    assert all(p.negative is None for p in pairs)


def test_csv_with_header_quoted_commas_and_empty_negative(tmp_path):
    scored = write(tmp_path / "s.csv", 'text,text_pair,score\n"one, two",three,1.5\r\n')
    assert read_pairs(scored) == [Pair("one, two", "three", 1.5, source=f"{scored}:2")]
    triples = write(tmp_path / "t.csv", "anchor,positive,negative\na,b,c\nd,e,\n")
    assert [(p.text, p.text_pair, p.negative) for p in read_pairs(triples)] == [
        ("a", "b", "c"),
        ("d", "e", None),
    ]


def test_headerless_sts_layout_first_row_is_data(tmp_path):
    path = write(tmp_path / "sts.csv", 'A man sings.,A man is singing.,4.6\n"x, y",z,0.0\n')
    pairs = read_pairs(path)
    assert [(p.text, p.score, p.source) for p in pairs] == [
        ("A man sings.", 4.6, f"{path}:1"),
        ("x, y", 0.0, f"{path}:2"),
    ]


@pytest.mark.slow
def test_stsb_files_read_whole(shared_data):
    folder = shared_data / "stsb_en"
    train, dev = read_pairs(folder / "stsb-en-train.csv"), read_pairs(folder / "stsb-en-dev.csv")
    assert (len(train), len(dev)) == (5749, 1500)  # the counts PROVENANCE.md states
    assert dev[0] == Pair(
        "A man with a hard hat is dancing.",
        "A man wearing a hard hat is dancing.",
        5.0,
        source=f"{folder / 'stsb-en-dev.csv'}:1",
    )
    scores = [p.score for p in train + dev]
    assert min(scores) == 0.0 and max(scores) == 5.0


@pytest.mark.parametrize(
    ("name", "content", "line", "expected"),
    [
        ("a.jsonl", '{"anchor": "a", "positive": "b"}\n{"anchor": "c"', 2, "invalid JSON"),
        ("b.jsonl", '{"query": "a", "doc": "b"}', 1, "expected ['anchor', 'positive']"),
        (
            "c.jsonl",
            '{"anchor": "a", "positive": "b"}\n{"text": "c", "text_pair": "d"}',
            2,
            "missing field 'anchor'",
        ),
        ("d.jsonl", '{"text": "a", "text_pair": "b"}', 1, "missing score"),
        ("e.jsonl", '{"text": "a", "text_pair": "b", "score": "high"}', 1, "expected a number"),
        ("f.jsonl", '{"text": "a", "text_pair": "b", "score": true}', 1, "finite number"),
        ("g.jsonl", '{"text": "a", "text_pair": "b", "score": NaN}', 1, "finite number"),
        ("h.jsonl", '{"anchor": "a", "positive": 3}', 1, "expected str"),
        ("i.jsonl", '{"anchor": "  ", "positive": "b"}', 1, "'anchor' is empty"),
        ("j.jsonl", '["a", "b"]', 1, "expected an object"),
        ("k.csv", "first,second\na,b\n", 1, "expected a header"),
        ("l.csv", "text,text_pair,score\na,b,1\nc,d\n", 3, "2 fields; expected 3"),
        ("m.csv", "a,b,1.0\nc,d,lots\n", 2, "score 'lots'; expected a number"),
        ("n.csv", 'a,b,1.0\n"c,d,2.0\n', 2, "CSV error"),
        ("o.csv", "anchor,positive\n,b\n", 2, "'anchor' is empty"),
        ("p.txt", "just some words\n", 1, "expected a header"),
        ("q.csv", "  \n", 1, "file is empty"),
    ],
)
def test_bad_input_names_path_line_and_expectation(tmp_path, name, content, line, expected):
    assert_error(write(tmp_path / name, content), line, expected)


def test_missing_file(tmp_path):
    assert_error(tmp_path / "nope.jsonl", None, "no such file")
