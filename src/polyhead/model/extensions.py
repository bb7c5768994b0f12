"""Registry of artifact parts added by later features (external classifiers, LoRA adapters).

Each restorer reads its own files from the artifact directory; none unpickles.
"""

from __future__ import annotations

from collections.abc import Callable

RESTORERS: list[Callable] = []


def register(fn: Callable) -> Callable:
    RESTORERS.append(fn)
    return fn


def restore(model, path, meta) -> None:
    for fn in RESTORERS:
        fn(model, path, meta)
