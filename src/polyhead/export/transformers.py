"""transformers export: one folder per head, each a model `transformers.pipeline` runs with
polyhead's predictions.

    OUT/<task>/                    config.json (id2label, label2id), model.safetensors, tokenizer
    OUT/<task>/modeling_polyhead.py   sentence heads without an exact standard class
    OUT/<task>/pipeline_polyhead.py   token heads: a pipeline with polyhead's whitespace words
    OUT/polyhead_transformers.json    per task: class, pipeline task, notices; checks; versions

Token heads become the backbone family's `AutoModelForTokenClassification` (backbone weights
under its base-model prefix, `classifier` = the head's linear): polyhead's token head is
dropout -> linear on the last hidden state, which is what that class computes. The standard
pipeline's words can differ from polyhead's (see pipeline_polyhead.py), so the folder also
names `polyhead-token-classification` in config.json `custom_pipelines`. A CRF head is
refused (a pipeline cannot run Viterbi) unless `emissions_only`.

Sentence heads read the pooled vector. A standard class is used only where it computes the
same thing (cls pooling through a tanh layer as wide as the backbone: BERT's pooler and
classifier, RoBERTa's classification head); otherwise `PolyheadForSequenceClassification`
from the shipped modeling_polyhead.py, named in config.json's `auto_map`.

Each folder is reloaded from disk and checked before it is kept: the exported tokenizer reads
CHECK_TEXTS as the ids polyhead feeds, the reloaded model's logits match polyhead's, and a
token head's polyhead-token-classification pipeline gives the Predictor's entities.
Exact for texts within `max_length` tokens (polyhead windows longer ones; a pipeline truncates).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from polyhead.data.example import split_words
from polyhead.errors import PolyheadError
from polyhead.export.modeling_polyhead import PolyheadConfig, PolyheadForSequenceClassification
from polyhead.model.backbone import quiet_hf
from polyhead.predict import Predictor
from polyhead.version import __version__

META_FILE = "polyhead_transformers.json"
MODELING_FILE = "modeling_polyhead.py"
PIPELINE_FILE = "pipeline_polyhead.py"
TOKEN_PIPELINE = "polyhead-token-classification"
CHECK_TEXTS = [
    "",
    "wake me up at five am this week",
    "what's the weather like in new york at nine o'clock",
    "play the rolling stones' new album, please!",
    "set an alarm for 7:30 a.m.  and\tremind me at o'clock",
]
# family -> where a cls head's (tanh layer, output layer) go in *ForSequenceClassification.
STANDARD_SENTENCE_HEADS = {
    "bert": ("bert.pooler.dense", "classifier"),
    "roberta": ("classifier.dense", "classifier.out_proj"),
    "xlm-roberta": ("classifier.dense", "classifier.out_proj"),
    "camembert": ("classifier.dense", "classifier.out_proj"),
}
_FOLDER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass
class HeadExport:
    """How one head is written: its linears in order and the class that holds them."""

    task: str
    kind: str
    labels: list[str]
    linears: list[tuple[torch.Tensor, torch.Tensor]]
    model_class: str = ""
    trust_remote_code: bool = False
    notices: list[str] = field(default_factory=list)

    @property
    def pipeline_task(self) -> str:
        return "token-classification" if self.kind == "token" else "text-classification"


def export_transformers(
    model, out: Path, emissions_only: bool = False, tolerance: float = 1e-4
) -> dict:
    """Write one folder per head into `out`; returns per-task `<task>.max_abs_diff` and
    `notices` (one line each). Every head is vetted before anything is written."""
    heads = [plan_head(model, t.name, emissions_only) for t in model.spec.tasks]
    if not heads:
        raise PolyheadError(
            "the model has no task heads; --format transformers writes one folder per head "
            "(for embeddings use --format sentence-transformers)"
        )
    quiet_hf()
    checks = {}
    for head in heads:
        folder = out / head.task
        (write_token_folder if head.kind == "token" else write_sentence_folder)(model, head, folder)
        checks[f"{head.task}.max_abs_diff"] = check_folder(model, head, folder, tolerance)
    (out / META_FILE).write_text(json.dumps(_meta(model, heads, checks), indent=2))
    return {**checks, "notices": [n for h in heads for n in h.notices]}


# ---- what each head becomes ----------------------------------------------------------------
def plan_head(model, name: str, emissions_only: bool) -> HeadExport:
    task = model.spec.task(name)
    if task.kind not in ("sentence", "token"):  # no sigmoid cut / standardisation there yet
        raise PolyheadError(
            f"task {name!r} is {task.kind}: --format transformers writes sentence and token "
            "heads only; export this model with --format onnx or hf"
        )
    if not _FOLDER_NAME.fullmatch(name):
        raise PolyheadError(f"task {name!r}: not usable as a folder name (letters, digits, _.-)")
    head = HeadExport(name, task.kind, list(task.labels), head_linears(model, name))
    if task.kind == "token":
        _plan_token(model, head, emissions_only)
    elif _standard_class_is_exact(model, head):
        head.model_class = "AutoModelForSequenceClassification"
    else:
        head.model_class, head.trust_remote_code = "PolyheadForSequenceClassification", True
        pooling = model.spec.pooling + (" + tanh layer" if len(head.linears) > 1 else "")
        head.notices.append(
            f"{name}: no standard transformers class pools like polyhead ({pooling}); the folder "
            f"ships {MODELING_FILE}: load it with trust_remote_code=True"
        )
    return head


def head_linears(model, name: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) of each linear layer of the task's head, input side first; an external
    classifier (strategy frozen) is one linear layer."""
    external = model.external_heads.get(name)
    if external is not None:
        return [(external.weight.float(), external.bias.float())]
    return [(m.weight, m.bias) for m in model.heads[name].net if isinstance(m, nn.Linear)]


def _plan_token(model, head: HeadExport, emissions_only: bool) -> None:
    if model.spec.layers.last_n > 1:
        raise PolyheadError(
            f"{head.task}: the head reads the last {model.spec.layers.last_n} layers "
            f"({model.spec.layers.combine}); a token-classification class reads the last only"
        )
    if head.task in model.crf_heads():
        if not emissions_only:
            raise PolyheadError(
                f"{head.task}: a CRF head decodes with Viterbi, which a transformers pipeline "
                "cannot run; pass --emissions-only to export its per-token emission scores"
            )
        head.notices.append(
            f"{head.task}: emission scores only: the pipeline takes each token's best tag, "
            "not the CRF's Viterbi path, so its tags can differ from polyhead's"
        )
    head.model_class = "AutoModelForTokenClassification"
    backend = getattr(model.tokenizer, "backend_tokenizer", None)
    if getattr(getattr(backend, "model", None), "continuing_subword_prefix", None):
        # With a `##`-style tokenizer the pipeline's words are the tokenizer's (split at
        # punctuation too); with others it splits at spaces, like polyhead.
        head.notices.append(
            f"{head.task}: pipeline('token-classification') also splits words at punctuation "
            f"(o'clock: a tag per piece); pipeline('{TOKEN_PIPELINE}', model=..., "
            "trust_remote_code=True) splits them as polyhead does"
        )


def _standard_class_is_exact(model, head: HeadExport) -> bool:
    """The family's *ForSequenceClassification computes polyhead's sentence head: cls
    pooling, then a tanh layer as wide as the backbone (its pooler / dense layer)."""
    config = model.backbone.config
    family = config.model_type
    width = getattr(config, "hidden_size", None)
    return (
        family in STANDARD_SENTENCE_HEADS
        and model.spec.pooling == "cls"
        and model.spec.layers.last_n == 1
        and head.task not in model.external_heads
        and len(head.linears) == 2
        and tuple(head.linears[0][0].shape) == (width, width)
    )


# ---- writing -------------------------------------------------------------------------------
def write_token_folder(model, head: HeadExport, folder: Path) -> None:
    from transformers import AutoModelForTokenClassification

    config = _labelled_config(model, head)
    config.custom_pipelines = {
        TOKEN_PIPELINE: {
            "impl": "pipeline_polyhead.PolyheadTokenClassificationPipeline",
            "pt": ["AutoModelForTokenClassification"],
            "type": "text",
        }
    }
    hf = AutoModelForTokenClassification.from_config(config)
    _load_backbone(hf.base_model, model.backbone, head.task)
    classifier = getattr(hf, "classifier", None)
    weight, bias = head.linears[0]
    if not isinstance(classifier, nn.Linear) or classifier.weight.shape != weight.shape:
        raise PolyheadError(
            f"{head.task}: {type(hf).__name__} has no linear `classifier` of shape "
            f"{tuple(weight.shape)} to hold polyhead's token head"
        )
    _assign(classifier, weight, bias)
    _save(model, hf, folder)
    shutil.copy(Path(__file__).with_name(PIPELINE_FILE), folder / PIPELINE_FILE)


def write_sentence_folder(model, head: HeadExport, folder: Path) -> None:
    if head.trust_remote_code:
        hf = _polyhead_sequence_model(model, head)
    else:
        from transformers import AutoModelForSequenceClassification

        hf = AutoModelForSequenceClassification.from_config(_labelled_config(model, head))
        _load_backbone(hf.base_model, model.backbone, head.task)
        modules = dict(hf.named_modules())
        for key, (weight, bias) in zip(
            STANDARD_SENTENCE_HEADS[model.backbone.config.model_type], head.linears, strict=True
        ):
            _assign(modules[key], weight, bias)
    _save(model, hf, folder)
    if head.trust_remote_code:
        shutil.copy(Path(__file__).with_name(MODELING_FILE), folder / MODELING_FILE)


def _polyhead_sequence_model(model, head: HeadExport):
    spec, task = model.spec, model.spec.task(head.task)
    encoder = model.backbone.config.to_diff_dict()
    encoder["model_type"] = model.backbone.config.model_type
    for key in ("_name_or_path", "architectures", "transformers_version", "auto_map"):
        encoder.pop(key, None)
    config = PolyheadConfig(
        encoder_config=encoder,
        encoder_inputs=_encoder_inputs(model),
        pooling=spec.pooling,
        layers_last_n=spec.layers.last_n,
        layers_combine=spec.layers.combine,
        head_hidden_size=None if head.task in model.external_heads else task.hidden_size,
        head_dropout=task.dropout,
        **_label_maps(head),
        auto_map={
            "AutoConfig": "modeling_polyhead.PolyheadConfig",
            "AutoModelForSequenceClassification": (
                "modeling_polyhead.PolyheadForSequenceClassification"
            ),
        },
    )
    hf = PolyheadForSequenceClassification(config)
    _load_backbone(hf.encoder, model.backbone, head.task)
    linears = [m for m in hf.head if isinstance(m, nn.Linear)]
    for module, (weight, bias) in zip(linears, head.linears, strict=True):
        _assign(module, weight, bias)
    return hf


def _label_maps(head: HeadExport) -> dict:
    return {
        "id2label": dict(enumerate(head.labels)),
        "label2id": {label: i for i, label in enumerate(head.labels)},
        "problem_type": "single_label_classification",
    }


def _labelled_config(model, head: HeadExport):
    config = copy.deepcopy(model.backbone.config)
    for key, value in _label_maps(head).items():
        setattr(config, key, value)
    return config


def _load_backbone(target: nn.Module, backbone: nn.Module, task: str) -> None:
    """Backbone weights into the exported model's encoder; only the pooler may be left over
    (token-classification classes build BERT without one)."""
    missing, unexpected = target.load_state_dict(backbone.state_dict(), strict=False)
    unexpected = [k for k in unexpected if not k.startswith("pooler.")]
    if missing or unexpected:
        raise PolyheadError(
            f"{task}: the backbone's weights do not fit {type(target).__name__} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def _assign(linear: nn.Linear, weight: torch.Tensor, bias: torch.Tensor) -> None:
    with torch.no_grad():
        linear.weight.copy_(weight)
        linear.bias.copy_(bias)


def _encoder_inputs(model) -> list[str]:
    """The tokenizer outputs polyhead feeds the backbone."""
    sample = model.tokenizer(["x"], return_tensors="pt")
    return ["input_ids", *(k for k in model.backbone_inputs(sample) if k != "input_ids")]


def _save(model, hf, folder: Path) -> None:
    hf.config._name_or_path = ""  # never publish a local path
    hf.eval().save_pretrained(folder, safe_serialization=True)
    tokenizer = copy.deepcopy(model.tokenizer)
    # The pipeline truncates at model_max_length and feeds every name in model_input_names.
    tokenizer.model_max_length = model.spec.max_length
    tokenizer.model_input_names = _encoder_inputs(model)
    tokenizer.init_kwargs["model_input_names"] = tokenizer.model_input_names  # saves it
    tokenizer.save_pretrained(folder)


# ---- checking ------------------------------------------------------------------------------
def check_folder(model, head: HeadExport, folder: Path, tolerance: float) -> float:
    """Reload `folder` as a pipeline would; the max abs logit difference from polyhead's."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
    )

    auto = AutoModelForTokenClassification
    if head.kind == "sentence":
        auto = AutoModelForSequenceClassification
    exported = auto.from_pretrained(folder, trust_remote_code=head.trust_remote_code).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=head.trust_remote_code)
    worst = 0.0
    for text in CHECK_TEXTS:
        theirs = tokenizer(text, truncation=True, return_tensors="pt")  # as the pipeline does
        ours = model.tokenizer(
            [split_words(text)[0] or [""]],  # as polyhead's Predictor does
            is_split_into_words=True,
            truncation=True,
            max_length=model.spec.max_length,
            return_tensors="pt",
        )
        if theirs["input_ids"].tolist() != ours["input_ids"].tolist():
            raise PolyheadError(
                f"{head.task}: the exported tokenizer reads {text!r} as other tokens than "
                "polyhead's word-split input"
            )
        with torch.inference_mode():
            expected = model.head_logits(model.features(dict(ours)))[head.task]
            got = exported(**theirs).logits
        worst = max(worst, float((got.float() - expected.float()).abs().max()))
    if worst > tolerance:
        raise PolyheadError(f"{head.task}: exported logits differ from polyhead's by {worst:.2e}")
    if head.kind == "token" and head.task not in model.crf_heads():
        _check_entities(model, head.task, folder)
    return worst


def _check_entities(model, task: str, folder: Path) -> None:
    """The folder's polyhead-token-classification pipeline gives the Predictor's entities."""
    import warnings

    from transformers import pipeline

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers' notices about custom code
        tagger = pipeline(TOKEN_PIPELINE, model=str(folder), trust_remote_code=True)
    ours = Predictor(model, batch_size=1).predict(CHECK_TEXTS)
    for text, predicted in zip(CHECK_TEXTS, ours, strict=True):
        got = [(e["entity_group"], e["start"], e["end"]) for e in tagger(text)]
        expected = [(e["type"], e["start_char"], e["end_char"]) for e in predicted[task]]
        if got != expected:
            raise PolyheadError(f"{task}: the exported pipeline's entities on {text!r} differ")


def _meta(model, heads: list[HeadExport], checks: dict) -> dict:
    import transformers

    return {
        "format": "polyhead-transformers",
        "format_version": 1,
        "tasks": {
            h.task: {
                "kind": h.kind,
                "folder": h.task,
                "pipeline": h.pipeline_task,
                "class": h.model_class,
                "trust_remote_code": h.trust_remote_code,
                "max_abs_diff": checks[f"{h.task}.max_abs_diff"],
                "notices": h.notices,
            }
            for h in heads
        },
        "max_length": model.spec.max_length,
        "versions": {"polyhead": __version__, "transformers": transformers.__version__},
        "trained_with": getattr(model, "artifact_meta", {}).get("versions", {}),
    }
