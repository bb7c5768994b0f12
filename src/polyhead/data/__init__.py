"""Data: readers for every supported format, label sets, and subword alignment."""

from polyhead.data.align import (
    IGNORE_INDEX,
    EncodedWords,
    encode_words,
    first_subwords,
    merge_window_predictions,
    windows_for_long_input,
    word_predictions,
    word_windows,
)
from polyhead.data.example import Example, split_words
from polyhead.data.labels import LabelSet, repair_bio, split_tag
from polyhead.data.readers import FORMATS, detect_format, read_examples

__all__ = [
    "FORMATS",
    "IGNORE_INDEX",
    "EncodedWords",
    "Example",
    "LabelSet",
    "detect_format",
    "encode_words",
    "first_subwords",
    "merge_window_predictions",
    "read_examples",
    "repair_bio",
    "split_tag",
    "split_words",
    "windows_for_long_input",
    "word_predictions",
    "word_windows",
]
