"""Tag schemes: conversion to and from BIO, detection, reader support, and seqeval modes."""

from __future__ import annotations

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics import f1_score

from polyhead.data import read_examples, repair_bio
from polyhead.data.schemes import (
    SCHEMES,
    detect_scheme,
    from_bio,
    seqeval_mode,
    to_bio,
)
from polyhead.errors import DataError

# One sentence per scheme, the same entities: PER single word, two adjacent single-word PER,
# a three-word ORG, a LOC right after it.
BIO = ["B-PER", "O", "B-PER", "B-PER", "O", "B-ORG", "I-ORG", "I-ORG", "B-LOC", "O"]
WRITTEN = {
    "bio": BIO,
    "iob1": ["I-PER", "O", "I-PER", "B-PER", "O", "I-ORG", "I-ORG", "I-ORG", "I-LOC", "O"],
    "bioes": ["S-PER", "O", "S-PER", "S-PER", "O", "B-ORG", "I-ORG", "E-ORG", "S-LOC", "O"],
    "bilou": ["U-PER", "O", "U-PER", "U-PER", "O", "B-ORG", "I-ORG", "L-ORG", "U-LOC", "O"],
}
IO = ["I-PER", "O", "I-PER", "I-PER", "O", "I-ORG", "I-ORG", "I-ORG", "I-LOC", "O"]


@pytest.mark.parametrize("scheme", sorted(WRITTEN))
def test_each_scheme_converts_to_the_same_bio_and_back(scheme):
    assert to_bio(WRITTEN[scheme], scheme) == BIO
    assert from_bio(BIO, scheme) == WRITTEN[scheme]


def test_io_merges_adjacent_entities_of_one_type():
    """IO cannot mark where one PER ends and the next begins: the pair reads as one entity."""
    assert from_bio(BIO, "io") == IO
    assert to_bio(IO, "io") == ["B-PER", "O", "B-PER", "I-PER", "O", *BIO[5:]]
    assert to_bio(["I-PER", "I-LOC", "I-LOC"], "io") == ["B-PER", "B-LOC", "I-LOC"]


@pytest.mark.parametrize(
    ("tags", "scheme", "bio"),
    [
        (["B-X", "E-X", "B-X", "I-X", "E-X"], "IOBES", ["B-X", "I-X", "B-X", "I-X", "I-X"]),
        (["U-X", "U-Y", "B-X", "L-X"], "bilou", ["B-X", "B-Y", "B-X", "I-X"]),
        (["I-X", "B-X", "I-Y", "I-X"], "iob1", ["B-X", "B-X", "B-Y", "B-X"]),
        (["B-X", "I-X", "O"], "iob2", ["B-X", "I-X", "O"]),
        # An ill-formed continuation stays I-X for repair_bio to count or refuse.
        (["O", "E-X"], "bioes", ["O", "I-X"]),
    ],
)
def test_to_bio_cases(tags, scheme, bio):
    assert to_bio(tags, scheme) == bio


def test_to_bio_refuses_a_prefix_of_another_scheme_and_unknown_schemes():
    with pytest.raises(ValueError, match="S-X"):
        to_bio(["S-X"], "bio")
    with pytest.raises(ValueError, match="unknown tag scheme 'bies'"):
        to_bio([], "bies")


def bio_tags(min_size=0, max_size=12):
    """Well-formed BIO sequences (random tags, then I-X that continue nothing read as B-X)."""
    tags = st.sampled_from(["O", "B-X", "I-X", "B-Y", "I-Y"])
    return st.lists(tags, min_size=min_size, max_size=max_size).map(lambda t: repair_bio(t)[0])


valid_bio = bio_tags()


@given(bio=valid_bio)
def test_round_trips_through_every_scheme_but_io(bio):
    for scheme in SCHEMES:
        written = from_bio(bio, scheme)
        assert to_bio(written, scheme) == bio or scheme == "io"
        assert from_bio(to_bio(written, scheme), scheme) == written


# --- detection -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sequences", "scheme"),
    [
        ([["B-PER", "I-PER", "O"], ["O", "B-LOC"]], "bio"),
        ([["O", "I-PER", "I-PER", "B-PER"]], "iob1"),
        ([["O", "I-PER"], ["I-LOC", "I-LOC"]], "io"),
        ([["O", "S-PER"], ["B-LOC", "I-LOC"]], "bioes"),  # S, without any E, says BIOES
        ([["B-LOC", "L-LOC"]], "bilou"),
        ([["O", "O"], []], "bio"),
        ([["B-PER", "O", "I-LOC"]], "bio"),  # a broken BIO file stays BIO (repaired later)
        ([WRITTEN["iob1"]], "iob1"),
        ([WRITTEN["bioes"]], "bioes"),
        ([WRITTEN["bilou"]], "bilou"),
        ([IO], "io"),
    ],
)
def test_detect_scheme_on_small_samples(sequences, scheme):
    assert detect_scheme(sequences) == scheme


def test_detect_scheme_errors_name_the_line_and_the_tag():
    lines = [[3, 4], [6, 7]]
    with pytest.raises(DataError) as info:
        detect_scheme([["O", "B-X"], ["O", "PER"]], "f.conll", lines)
    assert str(info.value) == (
        "f.conll:7: tag 2 is 'PER'; expected O, B-<type>, I-<type>, E-<type>, S-<type>, "
        "L-<type> or U-<type>"
    )
    with pytest.raises(DataError) as info:
        detect_scheme([["E-LOC", "O"], ["U-PER", "O"]], "f.conll", lines)
    assert str(info.value) == (
        "f.conll:6: tag 1 is 'U-PER' (BILOU) but 'E-LOC' (line 3) is BIOES; "
        "expected one tag scheme per file"
    )
    with pytest.raises(DataError, match=r"^<tags>: sequence 2: tag 1 is 'per'; expected O"):
        detect_scheme([["O"], ["per"]])


def _conll_tags(path) -> list[list[str]]:
    """The tag column of a CoNLL file as written, sentence by sentence."""
    sentences, current = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.strip():
            current.append(line.split("\t")[-1].strip())
        elif current:
            sentences.append(current)
            current = []
    return sentences + ([current] if current else [])


@pytest.mark.slow
def test_detect_scheme_on_wnut17_in_every_scheme(shared_data, caplog):
    folder = shared_data / "wnut17"
    files = ["wnut17train.conll", "emerging.dev.conll", "emerging.test.annotated"]
    for name in files:
        tags = _conll_tags(folder / name)
        assert detect_scheme(tags) == "bio", name
        bio = [repair_bio(t)[0] for t in tags]
        for scheme in ("iob1", "bioes", "bilou", "io"):
            written = [from_bio(t, scheme) for t in bio]
            assert detect_scheme(written) == scheme, (name, scheme)
    with caplog.at_level(logging.INFO, logger="polyhead"):
        read_examples(folder / files[0])
    assert [r.getMessage() for r in caplog.records if "tags read as" in r.getMessage()] == [
        f"{folder / files[0]}: tags read as BIO (detected)"
    ]


# --- readers -------------------------------------------------------------------------------


def _conll(tmp_path, tags: list[str], name="a.conll"):
    path = tmp_path / name
    words = [f"w{i}" for i in range(len(tags))]
    rows = ["" if t is None else f"{w}\t{t}" for w, t in zip(words, tags, strict=True)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("scheme", sorted(WRITTEN))
def test_readers_accept_every_scheme_and_log_it_once_per_file(tmp_path, caplog, scheme):
    written = WRITTEN[scheme]
    conll = _conll(tmp_path, [*written[:5], None, *written[5:]])
    jsonl = tmp_path / "a.jsonl"
    record = {"tokens": [f"w{i}" for i in range(len(written))], "tags": written}
    jsonl.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    seqio = tmp_path / "seqio"
    seqio.mkdir()
    (seqio / "seq.in").write_text(" ".join(record["tokens"]) + "\n", encoding="utf-8")
    (seqio / "seq.out").write_text(" ".join(written) + "\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="polyhead"):
        assert [ex.tags for ex in read_examples(conll)] == [BIO[:5], BIO[5:]]
        assert [ex.tags for ex in read_examples(jsonl)] == [BIO, BIO]
        assert [ex.tags for ex in read_examples(seqio)] == [BIO]
        assert read_examples(conll, tag_scheme=scheme.upper())[0].tags == BIO[:5]
    logged = [r.getMessage() for r in caplog.records]
    name = scheme.upper()
    assert logged == [
        f"{conll}: tags read as {name} (detected)",
        f"{jsonl}: tags read as {name} (detected)",
        f"{seqio / 'seq.out'}: tags read as {name} (detected)",
        f"{conll}: tags read as {name} (given)",
    ]  # no repair warnings: every scheme's tags were well formed


def test_a_given_scheme_refuses_other_prefixes_at_their_line(tmp_path):
    path = _conll(tmp_path, ["O", "B-PER", "I-PER", None, "S-LOC"])
    with pytest.raises(DataError) as info:
        read_examples(path, tag_scheme="bio")
    assert (
        str(info.value) == f"{path}:5: tag 1 is 'S-LOC', not BIO; expected O, B-<type> or I-<type>"
    )
    with pytest.raises(ValueError, match="unknown tag scheme 'bioe'"):
        read_examples(_conll(tmp_path, ["O"], "b.conll"), tag_scheme="bioe")


def test_a_file_mixing_bioes_and_bilou_is_one_line_error(tmp_path):
    path = _conll(tmp_path, ["S-PER", "O", None, "O", "U-LOC"])
    with pytest.raises(DataError) as info:
        read_examples(path)
    assert str(info.value).startswith(f"{path}:5: tag 2 is 'U-LOC' (BILOU) but 'S-PER' (line 1)")
    assert "\n" not in str(info.value)


def test_strict_bio_names_the_tag_as_written(tmp_path, caplog):
    path = _conll(tmp_path, ["B-PER", "E-PER", None, "O", "E-LOC"])
    with pytest.raises(DataError) as info:
        read_examples(path, strict_bio=True)
    assert str(info.value) == (
        f"{path}:5: tag 2 is 'E-LOC' (BIO 'I-LOC') but does not continue a LOC span "
        "(expected B-LOC; strict_bio is on)"
    )
    with caplog.at_level(logging.WARNING, logger="polyhead"):
        assert read_examples(path)[1].tags == ["O", "B-LOC"]
    assert "1 I- tags did not continue a span" in caplog.text


def test_strict_bio_reads_an_io_looking_file_as_broken_bio(tmp_path):
    path = _conll(tmp_path, ["O", "I-LOC"])
    assert read_examples(path)[0].tags == ["O", "B-LOC"]  # auto: IO, nothing to repair
    with pytest.raises(DataError, match=r":2: tag 2 is 'I-LOC' but does not continue a LOC"):
        read_examples(path, strict_bio=True)


# --- seqeval -------------------------------------------------------------------------------


def _f1(gold, pred, scheme):
    return f1_score(gold, pred, zero_division=0, **seqeval_mode(scheme))


@pytest.mark.parametrize("scheme", ["bioes", "bilou"])
def test_entity_f1_in_the_users_scheme_equals_bio_f1(scheme):
    gold = [WRITTEN[scheme], from_bio(["B-X", "I-X", "O", "B-Y"], scheme)]
    pred_bio = [
        ["B-PER", "O", "B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O"],
        ["B-X", "I-X", "O", "B-X"],
    ]
    pred = [from_bio(p, scheme) for p in pred_bio]
    bio_f1 = _f1([to_bio(g, scheme) for g in gold], [to_bio(p, scheme) for p in pred], "bio")
    assert bio_f1 == pytest.approx(6 / 13)  # 3 of 6 predicted entities right, 7 gold
    assert _f1(gold, pred, scheme) == pytest.approx(bio_f1)


@given(gold=st.lists(valid_bio, min_size=1, max_size=4), data=st.data())
def test_strict_f1_on_converted_tags_equals_bio_f1(gold, data):
    pred = [data.draw(bio_tags(len(g), len(g)) | st.just(g)) for g in gold]
    for scheme in ("bioes", "bilou", "iob1"):
        ours = _f1([from_bio(g, scheme) for g in gold], [from_bio(p, scheme) for p in pred], scheme)
        assert ours == pytest.approx(_f1(gold, pred, "bio"))
