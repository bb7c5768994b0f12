"""Issue 17 item 5: inference precision. `auto` runs float32 on CPU and bf16 on a CUDA card that
has it; `bf16` can be asked for anywhere (checked here on CPU: the backbone's matmuls run in
bf16, the answers stay float32 and close to the float32 model's)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.predict import Predictor, autocast, encode

TEXTS = ["wake me up at five am", "play the rolling stones", "what is the weather in paris"]


@pytest.fixture(scope="module")
def model(tiny_bert):
    torch.manual_seed(0)
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=["a", "b", "c"]),
        TaskSpec(name="slots", kind="token", labels=["O", "B-x", "I-x"]),
    ]
    return MultiTaskModel(ModelSpec(backbone=str(tiny_bert), max_length=16, tasks=tasks)).eval()


def linear_dtypes(model, run) -> set[torch.dtype]:
    """The dtypes the backbone's Linear layers computed in while `run()` ran."""
    seen: set[torch.dtype] = set()
    hooks = [
        m.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
        for m in model.backbone.modules()
        if isinstance(m, torch.nn.Linear)
    ]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_auto_is_float32_on_cpu_and_bf16_runs_in_bf16(model):
    fp32 = Predictor(model, precision="auto")
    bf16 = Predictor(model, precision="bf16")
    assert linear_dtypes(model, lambda: fp32.predict(TEXTS)) == {torch.float32}
    assert linear_dtypes(model, lambda: bf16.predict(TEXTS)) == {torch.bfloat16}
    want, got = fp32.predict(TEXTS, embeddings=True), bf16.predict(TEXTS, embeddings=True)
    for w, g in zip(want, got, strict=True):
        assert all(isinstance(x, float) for x in g["embedding"])  # answers stay float32
        np.testing.assert_allclose(g["embedding"], w["embedding"], atol=0.05)
        assert g["intent"]["score"] == pytest.approx(w["intent"]["score"], abs=0.02)  # top-1


def test_encode_takes_the_same_precision(model):
    assert linear_dtypes(model, lambda: encode(model, TEXTS, precision="bf16")) == {torch.bfloat16}
    a, b = encode(model, TEXTS), encode(model, TEXTS, precision="bf16")
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(b, a, atol=0.05)


def test_a_bad_precision_is_refused(model):
    with pytest.raises(ValueError, match="auto, bf16 or fp32"):
        autocast(torch.device("cpu"), "fp16")
    with pytest.raises(ValueError, match="auto, bf16 or fp32"):  # when built, not at predict
        Predictor(model, precision="fp16")
