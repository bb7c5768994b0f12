"""`make demo`: embed a handful of sentences with the default model, print cosine similarities."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

SENTENCES = [
    "wake me up at seven tomorrow",
    "set an alarm for 7 am",
    "what's the weather like in paris",
    "will it rain in london today",
    "play some jazz music",
]


def embedding_demo(console: Console) -> None:
    from polyhead.model.loading import load_any

    vectors = load_any("minilm").encode(SENTENCES)
    sims = vectors @ vectors.T  # (N, N), vectors are L2-normalised
    table = Table(title="cosine similarity, all-MiniLM-L6-v2 (mean pooling, normalised)")
    table.add_column("")
    for i in range(len(SENTENCES)):
        table.add_column(str(i), justify="right")
    for i, s in enumerate(SENTENCES):
        table.add_row(f"{i}: {s}", *[f"{v:.2f}" for v in sims[i]])
    console.print(table)


def main() -> None:
    embedding_demo(Console())


if __name__ == "__main__":
    main()
