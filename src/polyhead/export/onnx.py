"""ONNX export: one graph, token ids in, the sentence embedding and every head's logits out.

    model.onnx             inputs input_ids, attention_mask (+ token_type_ids when the backbone
                           reads them), all (batch, sequence); outputs `embedding` (batch, H)
                           and `logits.<task>`: (batch, L) per text (sentence, multilabel,
                           regression, pair), (batch, sequence, L) token
    tokenizer/             the fast tokenizer, so the folder is self-contained
    heads.safetensors      the heads again, for decoding-side parts (a CRF's transitions,
                           multilabel thresholds, regression target mean and std)
    polyhead_onnx.json     spec, input/output names, opset, parity result, versions

torch's TorchScript-based exporter (`dynamo=False`) is used: the torch.export-based default
needs the `onnxscript` package, and tracing with `dynamic_axes` is the path HF encoders are
known to export through. A trace can bake in a data-dependent branch, so every export is
checked against PyTorch on batches of other sizes (padded and unpadded) before it is kept.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from polyhead.errors import PolyheadError
from polyhead.model.backbone import portable_name
from polyhead.model.heads import heads_state
from polyhead.predict import tokenize
from polyhead.version import __version__

ONNX_FILE = "model.onnx"
META_FILE = "polyhead_onnx.json"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17
# Traced with padding present, so the attention-mask path (not a no-padding shortcut) is recorded.
TRACE_TEXTS = ["wake me up at five am tomorrow", "play jazz"]
PARITY_BATCHES = [
    ["", "x", "set an alarm for seven thirty in the morning please", "what is the weather"],
    ["a single unpadded sentence about the rolling stones and their new album"],
    [" ".join(["word"] * 400)],  # truncated at max_length: the longest sequence the model takes
]


class OnnxGraph(nn.Module):
    """Tensors in, tensors out: the features dict is not a traceable output."""

    def __init__(self, model, input_names: list[str], tasks: list[str]):
        super().__init__()
        self.model, self.input_names, self.tasks = model, input_names, tasks

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.model.features(dict(zip(self.input_names, tensors, strict=True)))
        logits = self.model.head_logits(feats)
        return (feats["embedding"], *(logits[t] for t in self.tasks))


def output_names(tasks: list[str]) -> list[str]:
    return ["embedding", *(f"logits.{t}" for t in tasks)]


def export_onnx(model, out: Path, opset: int = OPSET, tolerance: float = 1e-3) -> dict:
    """Write the graph, tokenizer, heads and metadata into `out`; returns the metadata.

    Raises PolyheadError when onnxruntime's outputs differ from PyTorch's by more than
    `tolerance` (max absolute difference over every output)."""
    model.eval()
    sample = tokenize(model, TRACE_TEXTS)
    input_names = list(model.backbone_inputs(sample))
    with torch.inference_mode():
        tasks = list(model.head_logits(model.features(sample)))
    graph = OnnxGraph(model, input_names, tasks).eval()
    outputs = output_names(tasks)
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes["embedding"] = {0: "batch"}
    for task, name in zip(tasks, outputs[1:], strict=True):
        per_text = model.spec.task(task).head_kind != "token"
        axes[name] = {0: "batch"} if per_text else axes["input_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        # Deprecation and tracer warnings about branches the parity check below covers.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(sample[k] for k in input_names),
            str(out / ONNX_FILE),
            dynamo=False,
            input_names=input_names,
            output_names=outputs,
            dynamic_axes=axes,
            opset_version=opset,
        )
    model.tokenizer.save_pretrained(out / "tokenizer")
    _save_heads(model, out / "heads.safetensors")
    diff = parity(model, graph, make_session(out / ONNX_FILE))
    if diff > tolerance:
        raise PolyheadError(f"ONNX parity check failed: max abs diff {diff:.2e} > {tolerance}")
    meta = _meta(model, input_names, outputs, opset, diff)
    (out / META_FILE).write_text(json.dumps(meta, indent=2))
    return meta


def _save_heads(model, path: Path) -> None:
    save_file(heads_state(model.heads), str(path))


def _meta(model, input_names, outputs, opset, diff) -> dict:
    import onnxruntime
    import transformers

    return {
        "format": "polyhead-onnx",
        "format_version": 1,
        "spec": {**model.spec.model_dump(), "backbone": portable_name(model.spec.backbone)},
        "model_type": model.backbone.config.model_type,
        "embedding_dim": model.hidden_size,
        "inputs": input_names,
        "outputs": outputs,
        "opset": opset,
        "parity_max_abs_diff": diff,
        "versions": {
            "polyhead": __version__,
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "trained_with": getattr(model, "artifact_meta", {}).get("versions", {}),
    }


def make_session(path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3  # keep ORT's graph-optimisation notices off the console
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def parity(model, graph: OnnxGraph, session) -> float:
    """Max absolute difference between PyTorch and onnxruntime over every output."""
    worst = 0.0
    for texts in PARITY_BATCHES:
        batch = tokenize(model, texts)
        with torch.inference_mode():
            expected = graph(*(batch[k] for k in graph.input_names))
        got = session.run(None, {k: batch[k].numpy() for k in graph.input_names})
        for e, g in zip(expected, got, strict=True):
            worst = max(worst, float(np.abs(e.float().numpy() - g).max()))
    return worst
