"""Artifact parts: the pieces of a model beyond `backbone/`, each saving and loading itself
(as sentence-transformers' modules do).

`polyhead.json` lists the parts an artifact holds by kind; the loader finds each kind in
PART_KINDS, a fixed table, so nothing in the JSON decides which code is imported or run.
"""

from __future__ import annotations

from pathlib import Path

from polyhead.errors import PolyheadError
from polyhead.model.heads import HeadsPart
from polyhead.model.linear import DIR as EXTERNAL_DIR
from polyhead.model.linear import ExternalPart
from polyhead.model.lora import ADAPTER_DIR, LoraPart

PART_KINDS = {part.kind: part for part in (HeadsPart, LoraPart, ExternalPart)}


def parts_of(model) -> list[str]:
    """The kinds of part this model has now (heads always; adapters, external classifiers)."""
    return [kind for kind, part in PART_KINDS.items() if part.present(model)]


def save_parts(model, folder: Path) -> list[str]:
    kinds = parts_of(model)
    for kind in kinds:
        PART_KINDS[kind].save(model, folder)
    return kinds


def listed_parts(folder: Path, meta: dict) -> list[str]:
    """The part kinds `polyhead.json` names; format 1 artifacts named none, so theirs are
    read from the folders present."""
    if "parts" not in meta:
        found = {"lora": ADAPTER_DIR, "external": EXTERNAL_DIR}
        return ["heads", *(k for k, d in found.items() if (Path(folder) / d).is_dir())]
    kinds = meta["parts"]
    unknown = [k for k in kinds if k not in PART_KINDS] if isinstance(kinds, list) else [kinds]
    if unknown:
        raise PolyheadError(
            f"{Path(folder) / 'polyhead.json'}: unknown part kind {unknown[0]!r}; "
            f"this polyhead reads {', '.join(PART_KINDS)}"
        )
    return kinds


def load_parts(model, folder: Path, meta: dict) -> None:
    for kind in listed_parts(folder, meta):
        PART_KINDS[kind].load(model, folder)
