"""Registry of artifact parts added by later features (external classifiers, LoRA adapters).

Each restorer reads its own files from the artifact directory; none unpickles.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

RESTORERS: list[Callable] = []


def register(fn: Callable) -> Callable:
    RESTORERS.append(fn)
    return fn


def restore(model, path, meta) -> None:
    # An artifact names the polyhead modules that wrote its extra parts (the writer hook adds
    # them to `extra`); importing one registers its restorer.
    for name in (meta.get("extra") or {}).get("extension_modules", []):
        if name.startswith("polyhead."):
            importlib.import_module(name)
    for fn in RESTORERS:
        fn(model, path, meta)
