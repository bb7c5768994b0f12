"""LoRA adapters on the backbone (PEFT), their place in the layer groups and the artifact.

`add_adapters(model, settings)` wraps `model.backbone` with PEFT's `get_peft_model`: the base
weights stay where they were (renamed `...query.base_layer.weight` by PEFT) and each targeted
projection gains `lora_A` / `lora_B`. In the layer groups the adapters of block i form their
own group `lora:layer_i` (kind "adapter"), so the plan gives them an LR and a parameter count.

In the artifact the base weights go to `backbone/` under their original names (plain
`AutoModel.from_pretrained` loads it) and the adapters to `adapter/` in PEFT's own format
(`adapter_config.json` + `adapter_model.safetensors`), so PEFT users can also attach them by
hand. Heads are in `heads.safetensors` as for every model, never in PEFT's `modules_to_save`
(whose known pitfall is heads reloading with random weights).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

from polyhead.errors import ConfigError, PolyheadError
from polyhead.model.backbone import LayerGroup, backbone_layer_groups, portable_name

ADAPTER_DIR = "adapter"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_BASE_PREFIX = "backbone.base_model.model."  # PeftModel -> LoraModel -> the HF model

# Families PEFT's own table (TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING) lacks or
# names differently; every other family falls back to that table.
DEFAULT_TARGETS = {
    "bert": ["query", "value"],
    "roberta": ["query", "value"],
    "xlm-roberta": ["query", "value"],
    "distilbert": ["q_lin", "v_lin"],
    "deberta-v2": ["query_proj", "value_proj"],
    "mpnet": ["q", "v"],
}

# transformers 5 deprecates an attribute PEFT still reads; the warning says nothing to users.
warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.*is deprecated.*")


def has_adapters(backbone) -> bool:
    # PEFT not imported: no PeftModel exists. Importing it to ask cost a run without LoRA
    # ~0.3 s before its first step (plan building asks).
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(backbone, peft.PeftModel)


def target_modules(model_type: str, configured: list[str] | None) -> list[str]:
    if configured:
        return list(configured)
    from peft.utils import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_TARGETS

    targets = DEFAULT_TARGETS.get(model_type) or PEFT_TARGETS.get(model_type)
    if not targets:
        raise ConfigError(
            "plan.lora.target_modules",
            f"no default for model type {model_type!r}; name the attention projections, "
            "e.g. [query, value]",
        )
    return list(targets)


def add_adapters(model, settings) -> None:
    """Wrap `model.backbone` with fresh LoRA adapters (a no-op if it already has them)."""
    if has_adapters(model.backbone):
        return
    from peft import LoraConfig, get_peft_model

    targets = target_modules(model.backbone.config.model_type, settings.target_modules)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        bias="none",
    )
    try:
        model.backbone = get_peft_model(model.backbone, config)
    except ValueError as e:  # PEFT: "Target modules {...} not found in the base model"
        raise ConfigError("plan.lora.target_modules", f"{targets}: {e}") from None


def adapter_layer_groups(backbone) -> list[LayerGroup]:
    """The usual backbone groups over the base weights, plus `lora:layer_i` per block."""
    groups = backbone_layer_groups(backbone.get_base_model(), prefix=_BASE_PREFIX)
    adapters = []
    for g in groups:
        lora = [p for p in g.params if ".lora_" in p]
        if lora:
            g.params = [p for p in g.params if ".lora_" not in p]
            adapters.append(LayerGroup(f"lora:{g.name}", "adapter", lora, g.depth))
    return groups + adapters


def export_backbone(backbone):
    """What `backbone/` of the artifact is written from: the backbone, or its base weights."""
    return BaseBackbone(backbone) if has_adapters(backbone) else backbone


class BaseBackbone:
    """What the artifact writes as `backbone/`: the base weights under their original names,
    so `backbone/` stays a plain HF model folder (the adapters go to `adapter/`)."""

    def __init__(self, peft_backbone):
        self.model = peft_backbone.get_base_model()

    def state_dict(self) -> dict:
        # PEFT moves a targeted Linear's weights to `<name>.base_layer.*`; undo the rename.
        return {
            k.replace(".base_layer.", "."): v
            for k, v in self.model.state_dict().items()
            if ".lora_" not in k
        }

    def save_pretrained(self, path, **kwargs) -> None:
        self.model.save_pretrained(path, state_dict=self.state_dict(), **kwargs)


class LoraPart:
    """The adapters in PEFT's own format under `adapter/` (the base weights are backbone/)."""

    kind = "lora"

    @staticmethod
    def present(model) -> bool:
        return has_adapters(model.backbone)

    @staticmethod
    def save(model, folder: Path) -> None:
        out = Path(folder) / ADAPTER_DIR
        # polyhead never resizes the vocabulary: PEFT need not look up the base model's config
        # (a Hub request when the recorded base is a name) to decide on embedding weights.
        model.backbone.save_pretrained(out, safe_serialization=True, save_embedding_layers=False)
        _portable_base_name(out, model.spec.backbone)

    @staticmethod
    def load(model, folder: Path) -> None:
        restore_adapters(model, folder)


def _portable_base_name(folder: Path, backbone: str) -> None:
    """PEFT records the base model's local path (inside a venv, on the training machine);
    keep only a name that means something elsewhere."""
    config_path = folder / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = portable_name(backbone)
    config_path.write_text(json.dumps(config, indent=2))


def restore_adapters(model, path) -> None:
    """Attach the saved adapters to the freshly loaded base backbone (safetensors only)."""
    folder = Path(path) / ADAPTER_DIR
    if not folder.is_dir():
        return
    if not (folder / ADAPTER_WEIGHTS).exists():
        # PEFT would fall back to a pickled adapter_model.bin; polyhead never unpickles.
        raise PolyheadError(f"{folder}: no {ADAPTER_WEIGHTS} (only safetensors are loaded)")
    from peft import PeftModel

    model.backbone = PeftModel.from_pretrained(model.backbone, str(folder), is_trainable=False)


def merge_adapters(model) -> bool:
    """Fold the adapters into the backbone weights (W + B A * alpha / r); True if merged."""
    if not has_adapters(model.backbone):
        return False
    model.backbone = model.backbone.merge_and_unload()
    return True


def adapter_parameter_count(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)
