"""Cache keys: everything that changes a backbone output goes into the key, so a changed
input means a new entry and never a stale read.

A key covers the backbone weights (a hash of every tensor), the tokenizer (its serialised
vocabulary and rules), max length, the layer selection or boundary layer, pooling, the
storage dtype, the library versions that compute the features, the data file's content hash
and the exact token ids of the rows (which also captures subsampling and dev carving).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from polyhead.data.align import tokenizer_fingerprint as tokenizer_fingerprint  # re-exported


def sha256_file(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def backbone_fingerprint(backbone: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes), in name order."""
    return tensors_fingerprint(backbone.state_dict().items())


def tensors_fingerprint(items) -> str:
    """sha256 over (name, tensor) pairs: name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name, tensor in sorted(items, key=lambda kv: kv[0]):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        # viewed as bytes: numpy has no bfloat16, and the bytes are what the hash is about
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def rows_fingerprint(rows: list[dict]) -> str:
    """The exact model inputs: token ids (and token type ids) of every row, in order."""
    h = hashlib.sha256()
    for row in rows:
        h.update(np.asarray(row["input_ids"], dtype=np.int64).tobytes())
        h.update(b"|")
        if "token_type_ids" in row:
            h.update(np.asarray(row["token_type_ids"], dtype=np.int64).tobytes())
        h.update(b"\n")
    return h.hexdigest()


def data_files(source_config, split: str) -> list[Path]:
    """The files a source's split is read from (one file with splits, or a file per split)."""
    if source_config is None or not (source_config.path or source_config.train):
        return []  # hf or in-memory data: data_fingerprint hashes its content instead
    if source_config.path:
        paths = [source_config.path]
    else:
        named = getattr(source_config, split, None)
        # A dev split carved from train is read from the train file.
        paths = [named or source_config.train]
    out = []
    for p in paths:
        p = Path(p)
        out.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    return out


def data_fingerprint(source_config, split: str) -> list[str]:
    """Content hashes only: the same data under another name or folder is the same data."""
    hashes = [sha256_file(p) for p in data_files(source_config, split) if p.exists()]
    content = source_config.content_id() if source_config is not None else None
    return hashes + ([content] if content else [])


def entry_key(parts: dict) -> str:
    """A stable hex key for a dict of key parts."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
