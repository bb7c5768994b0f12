"""Task heads. Each reads the features dict: sentence heads the pooled vector, token heads
the per-token hidden states."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from polyhead.errors import PolyheadError
from polyhead.model.crf import CRF
from polyhead.model.spec import TaskSpec


class SentenceHead(nn.Module):
    """dropout -> linear, or dropout -> linear -> tanh -> dropout -> linear with `hidden_size`."""

    kind = "sentence"

    def __init__(self, spec: TaskSpec, input_size: int):
        super().__init__()
        n = len(spec.labels)
        if spec.hidden_size:
            self.net = nn.Sequential(
                nn.Dropout(spec.dropout),
                nn.Linear(input_size, spec.hidden_size),
                nn.Tanh(),
                nn.Dropout(spec.dropout),
                nn.Linear(spec.hidden_size, n),
            )
        else:
            self.net = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(input_size, n))

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(features["pooled"])  # (B, L)


class TokenHead(nn.Module):
    """dropout -> linear over every subword; labels sit on first subwords only."""

    kind = "token"

    def __init__(self, spec: TaskSpec, input_size: int):
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(spec.dropout), nn.Linear(input_size, len(spec.labels)))
        # `crf: true`: the logits become CRF emissions; loss and decoding go through the CRF.
        self.crf = CRF(spec.labels) if spec.crf else None

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.net(features["token_embeddings"])  # (B, T, L)


def build_head(spec: TaskSpec, input_size: int) -> nn.Module:
    if not spec.labels:
        raise ValueError(f"task {spec.name!r} has no labels; build label sets from data first")
    return (SentenceHead if spec.kind == "sentence" else TokenHead)(spec, input_size)


class HeadsPart:
    """Every trainable head's weights in one file, keyed `<task>.<param>`."""

    kind = "heads"
    FILE = "heads.safetensors"

    @staticmethod
    def present(model) -> bool:
        return True

    @classmethod
    def save(cls, model, folder: Path) -> None:
        save_file(heads_state(model.heads), str(Path(folder) / cls.FILE))

    @classmethod
    def load(cls, model, folder: Path) -> None:
        load_heads(model.heads, Path(folder) / cls.FILE)


def heads_state(heads: nn.ModuleDict) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value.detach().cpu().contiguous()
        for name, head in heads.items()
        for key, value in head.state_dict().items()
    }


def load_heads(heads: nn.ModuleDict, path: Path, only: list[str] | None = None) -> list[str]:
    """Load `<task>.*` tensors into each head (or the heads in `only`); names loaded."""
    state = load_file(str(path))
    loaded = []
    for name, head in heads.items():
        if only is not None and name not in only:
            continue
        prefix = f"{name}."
        own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        try:
            head.load_state_dict(own)
        except RuntimeError:  # missing tensor, or a label count the weights do not have
            raise PolyheadError(
                f"{path}: head {name!r} does not fit its weights ({_misfit(name, head, own)})"
            ) from None
        loaded.append(name)
    return loaded


def _misfit(name: str, head: nn.Module, saved: dict[str, torch.Tensor]) -> str:
    """What differs between a head built from the spec and the tensors saved for it."""
    wanted = head.state_dict()
    missing = [k for k in wanted if k not in saved]
    if missing:
        return f"no tensor {name}.{missing[0]} in the file"
    for key, value in wanted.items():
        if saved[key].shape != value.shape:
            return (
                f"{name}.{key} is {tuple(saved[key].shape)} in the file; the spec's labels "
                f"need {tuple(value.shape)}"
            )
    extra = [k for k in saved if k not in wanted]
    return f"unexpected tensor {name}.{extra[0]}" if extra else "state dict mismatch"
