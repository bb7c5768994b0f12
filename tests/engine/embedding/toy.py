"""A toy pair set for embedding tasks on tiny backbones: sentences drawn from four topics'
words, so "same topic" is learnable in a few steps (scored pairs, triples, labels)."""

from __future__ import annotations

import json
import random
from pathlib import Path

TOPICS = {
    "music": ["play", "song", "jazz", "album", "band", "rock", "radio", "track"],
    "weather": ["rain", "sunny", "forecast", "cold", "wind", "snow", "storm", "warm"],
    "alarm": ["wake", "alarm", "morning", "timer", "seven", "clock", "remind", "snooze"],
    "food": ["pizza", "order", "dinner", "restaurant", "lunch", "sushi", "menu", "cook"],
}


def sentence(rng: random.Random, topic: str) -> str:
    return " ".join(rng.sample(TOPICS[topic], 4))


def scored_pairs(n: int, seed: int) -> list[dict]:
    """Half same-topic pairs (score 5), half other-topic (0), on STS's 0..5 scale: only the
    two groups' order is learnable, so a loss can fall far."""
    rng, names = random.Random(seed), sorted(TOPICS)
    out = []
    for i in range(n):
        a = rng.choice(names)
        b = a if i % 2 == 0 else rng.choice([t for t in names if t != a])
        score = 5.0 if a == b else 0.0
        out.append({"text": sentence(rng, a), "text_pair": sentence(rng, b), "score": score})
    return out


def triples(n: int, seed: int) -> list[dict]:
    """(anchor, positive, negative): the positive is the anchor's words reordered with one
    word swapped, the negative other words; each pair is its own, so in-batch negatives are
    true negatives."""
    rng = random.Random(seed)
    vocab = sorted(w for words in TOPICS.values() for w in words)
    out = []
    for _ in range(n):
        words = rng.sample(vocab, 5)
        positive = words[:4] + [rng.choice([w for w in vocab if w not in words])]
        rng.shuffle(positive)
        negative = rng.sample([w for w in vocab if w not in words], 5)
        out.append(
            {
                "anchor": " ".join(words),
                "positive": " ".join(positive),
                "negative": " ".join(negative),
            }
        )
    return out


def labelled(n: int, seed: int) -> list[dict]:
    """Sentences with their topic as the label (a sentence task's JSONL)."""
    rng, names = random.Random(seed), sorted(TOPICS)
    return [
        {"text": sentence(rng, t), "label": t} for t in (names[i % len(names)] for i in range(n))
    ]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def pair_files(folder: Path, kind: str, n_train: int = 64, n_dev: int = 32) -> dict[str, str]:
    """train / dev files of scored pairs or triples in `folder`."""
    make = scored_pairs if kind == "scored" else triples
    return {
        split: str(write_jsonl(folder / f"{kind}-{split}.jsonl", make(n, seed)))
        for split, n, seed in (("train", n_train, 0), ("dev", n_dev, 1))
    }


def embedding_raw(backbone, tasks: dict, **sections) -> dict:
    """A config dict of `tasks` (embedding tasks, maybe heads) on a tiny backbone: full
    fine-tuning, batch 16, no progress bar, no early stopping."""
    raw = {
        "model": {"backbone": str(backbone), "max_length": 16},
        "tasks": tasks,
        "plan": {"strategy": "full", "head_lr": 3e-3, "backbone_lr": 1e-3, "warmup_ratio": 0},
        "trainer": {"epochs": 3, "batch_size": 16, "progress": False, "patience": None},
    }
    for key, value in sections.items():
        raw[key] = {**raw.get(key, {}), **value}
    return raw
