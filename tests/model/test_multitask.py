import numpy as np
import pytest
import torch

from polyhead.data.align import IGNORE_INDEX
from polyhead.model import ModelSpec, MultiTaskModel, TaskSpec
from polyhead.predict import encode, tokenize
from tests.conftest import FAMILIES


def _spec(backbone, **kw) -> ModelSpec:
    tasks = [
        TaskSpec(name="intent", kind="sentence", labels=["a", "b", "c"], hidden_size=8),
        TaskSpec(name="slots", kind="token", labels=["O", "B-x", "I-x"], loss_weight=0.5),
    ]
    return ModelSpec(backbone=str(backbone), tasks=tasks, max_length=32, **kw)


TEXTS = ["wake me up at five am", "play some jazz", "", "x"]


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_shapes_and_layer_groups(tiny_backbones, family):
    model = MultiTaskModel(_spec(tiny_backbones[family])).eval()
    batch = tokenize(model, TEXTS)
    out = model(batch)
    B, T = batch["input_ids"].shape
    assert out.embedding.shape == (B, 32)
    assert out.logits["intent"].shape == (B, 3)
    assert out.logits["slots"].shape == (B, T, 3)
    assert out.loss is None  # no labels, no loss
    groups = model.layer_groups()
    names = [g.name for g in groups]
    assert names[:3] == ["embeddings", "layer_0", "layer_1"]
    assert names[-2:] == ["head:intent", "head:slots"]
    every = {n for g in groups for n in g.params}
    assert every == {n for n, _ in model.named_parameters()}  # each parameter in exactly one group
    assert sum(len(g.params) for g in groups) == len(every)


def test_loss_is_weighted_sum_over_present_tasks(tiny_bert):
    model = MultiTaskModel(_spec(tiny_bert)).eval()
    batch = tokenize(model, TEXTS[:2])
    T = batch["input_ids"].shape[1]
    slots = torch.full((2, T), IGNORE_INDEX)
    slots[:, 1] = 1
    batch["labels.slots"] = slots
    batch["labels.intent"] = torch.tensor([0, IGNORE_INDEX])
    out = model(batch)
    assert set(out.losses) == {"intent", "slots"}
    expected = out.losses["intent"] + 0.5 * out.losses["slots"]
    assert torch.allclose(out.loss, expected)
    batch["labels.intent"] = torch.tensor([IGNORE_INDEX, IGNORE_INDEX])
    assert set(model(batch).losses) == {"slots"}  # all-ignored task adds nothing


@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_bit_identical(tiny_backbones, family, tmp_path):
    torch.manual_seed(1)
    model = MultiTaskModel(_spec(tiny_backbones[family], pooling="max")).eval()
    model.save(tmp_path / "art")
    loaded = MultiTaskModel.load(tmp_path / "art")
    batch = tokenize(model, TEXTS)
    a, b = model(batch), loaded(batch)
    assert torch.equal(a.embedding, b.embedding)
    for name in a.logits:
        assert torch.equal(a.logits[name], b.logits[name])
    # the saved spec names the backbone without this machine's paths (its folder's name)
    assert loaded.spec == model.spec.model_copy(update={"backbone": family})
    assert str(tmp_path) not in (tmp_path / "art" / "polyhead.json").read_text()
    assert not list(tmp_path.glob(".art.tmp-*"))  # temp dir renamed away


def test_artifact_has_no_pickles(tiny_bert, tmp_path):
    MultiTaskModel(_spec(tiny_bert)).save(tmp_path / "art")
    suffixes = {p.suffix for p in (tmp_path / "art").rglob("*") if p.is_file()}
    assert suffixes <= {".json", ".safetensors", ".txt", ".model", ".md"}, suffixes


def test_encode_normalised_and_order_preserved(tiny_bert):
    model = MultiTaskModel(_spec(tiny_bert))
    emb = encode(model, TEXTS, batch_size=2)
    assert emb.shape == (4, 32) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    single = encode(model, [TEXTS[1]])
    np.testing.assert_allclose(emb[1], single[0], atol=1e-5)


def test_pooling_modes_differ(tiny_bert):
    embs = {
        mode: encode(MultiTaskModel(_spec(tiny_bert, pooling=mode, normalize=False)), TEXTS[:2])
        for mode in ("mean", "cls", "max")
    }
    assert not np.allclose(embs["mean"], embs["cls"])
    assert not np.allclose(embs["mean"], embs["max"])


def test_duplicate_task_names_rejected():
    with pytest.raises(ValueError, match="unique"):
        ModelSpec(tasks=[TaskSpec(name="a", kind="token"), TaskSpec(name="a", kind="sentence")])
