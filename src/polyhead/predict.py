"""Batched inference shared by the CLI, the server and export checks."""

from __future__ import annotations

import numpy as np


def length_sorted_batches(texts: list[str], batch_size: int, progress: bool = False, what=""):
    """Yield index arrays of similar-length texts, longest first (less padding per batch)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    chunks = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if not progress or len(chunks) < 4:
        yield from chunks
        return
    from rich.progress import track

    yield from track(chunks, description=f"{what} {len(texts)} texts")
