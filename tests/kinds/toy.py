"""Small data sets for the vector task kinds, made from the shipped demo data (MASSIVE)."""

from __future__ import annotations

import json
from pathlib import Path

from polyhead.data.jsonl import read_massive
from polyhead.data.labels import split_tag

DEMO = Path(__file__).resolve().parents[2] / "src" / "polyhead" / "demo_data"


def slot_types(tags: list[str]) -> list[str]:
    """The slot types present in a sentence (MASSIVE as a multilabel task)."""
    return sorted({split_tag(t)[1] for t in tags if t != "O"})


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def demo_split(split: str, n: int):
    return read_massive(DEMO / f"{split}.jsonl")[:n]


def multilabel_files(folder: Path, n_train: int = 48, n_eval: int = 24) -> dict[str, str]:
    """Slot types present per utterance, as JSON lists."""
    out = {}
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        records = [{"text": ex.text, "label": slot_types(ex.tags)} for ex in demo_split(split, n)]
        out[split] = str(write(folder / f"ml-{split}.jsonl", records))
    return out


def regression_files(folder: Path, n_train: int = 48, n_eval: int = 24) -> dict[str, str]:
    """The number of slot words in an utterance: a target the text determines."""
    out = {}
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        records = [
            {"text": ex.text, "label": float(sum(t != "O" for t in ex.tags))}
            for ex in demo_split(split, n)
        ]
        out[split] = str(write(folder / f"reg-{split}.jsonl", records))
    return out


def pair_files(folder: Path, n_train: int = 48, n_eval: int = 24) -> dict[str, str]:
    """Two utterances; target 1.0 when they share the intent, else 0.0."""
    out = {}
    for split, n in (("train", n_train), ("dev", n_eval), ("test", n_eval)):
        examples = demo_split(split, 2 * n)
        records = [
            {"text": a.text, "text_pair": b.text, "label": float(a.label == b.label)}
            for a, b in zip(examples[0::2], examples[1::2], strict=True)
        ]
        out[split] = str(write(folder / f"pair-{split}.jsonl", records))
    return out
