"""Run an exported ONNX folder on onnxruntime with the same post-processing as PyTorch.

`OnnxModel` offers what `Predictor` reads from a model (spec, tokenizer, CRF heads);
`OnnxPredictor` swaps only the forward pass, so windows, word alignment, decoding and the
output format are shared code.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from polyhead.errors import PolyheadError
from polyhead.export.onnx import META_FILE, ONNX_FILE, make_session
from polyhead.model.backbone import SHORT_NAMES, load_tokenizer
from polyhead.model.heads import HeadsPart, load_heads
from polyhead.model.kinds import build_task_head
from polyhead.model.loading import load_any
from polyhead.model.spec import ModelSpec
from polyhead.predict import Predictor


class OnnxModel:
    def __init__(self, folder, threads: int | None = None):
        folder = Path(folder)
        self.meta = read_onnx_meta(folder)
        self.spec = ModelSpec.model_validate(self.meta["spec"])
        self.hidden_size = self.meta["embedding_dim"]
        self.tokenizer = load_tokenizer(str(folder / "tokenizer"), self.meta["model_type"])
        self.session = make_session(folder / ONNX_FILE, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]
        # Torch copies of the heads; only their decoding parts are used (a CRF, multilabel
        # thresholds, regression standardisation).
        self.heads = _load_heads(folder, self.spec, self.hidden_size)

    def eval(self) -> OnnxModel:
        return self

    def crf_heads(self) -> dict:
        return {n: h.crf for n, h in self.heads.items() if getattr(h, "crf", None) is not None}

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        feed = {k: v.astype(np.int64) for k, v in inputs.items() if k in self.input_names}
        return dict(zip(self.output_names, self.session.run(None, feed), strict=True))


def read_onnx_meta(folder: Path) -> dict:
    meta_path = folder / META_FILE
    if not (folder / ONNX_FILE).exists() or not meta_path.exists():
        raise PolyheadError(
            f"{folder}: not an ONNX export (no {ONNX_FILE} / {META_FILE}); create one with "
            f"`polyhead export {folder} --format onnx --out DIR`"
        )
    return json.loads(meta_path.read_text())


def _load_heads(folder: Path, spec: ModelSpec, hidden: int) -> nn.ModuleDict:
    heads = nn.ModuleDict({t.name: build_task_head(t, hidden) for t in spec.tasks})
    load_heads(heads, folder / HeadsPart.FILE)
    return heads.eval()


class OnnxPredictor(Predictor):
    """`Predictor` whose forward pass runs the exported graph."""

    def _forward(self, inputs: dict[str, torch.Tensor]):
        out = self.model.run({k: v.numpy() for k, v in inputs.items()})
        logits = {
            name.removeprefix("logits."): torch.from_numpy(v)
            for name, v in out.items()
            if name.startswith("logits.")
        }
        return torch.from_numpy(out["embedding"]), logits


def load_predictor(
    source: str, onnx: bool = False, batch_size: int = 32, threads=None, verify: bool = True
):
    """A Predictor for an artifact (or any encoder, embeddings only), or for an ONNX export.
    `verify`: check an artifact's files against their recorded sha256."""
    if onnx:
        return OnnxPredictor(OnnxModel(source, threads=threads), batch_size=batch_size)
    if (Path(source) / ONNX_FILE).exists():
        raise PolyheadError(f"{source}: an ONNX export; run it with --onnx")
    if source.lower() not in SHORT_NAMES and not Path(source).exists():
        raise PolyheadError(f"{source}: no such artifact or model folder")
    return Predictor(load_any(source, verify=verify), batch_size=batch_size)
