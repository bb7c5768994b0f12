from polyhead.model.backbone import LayerGroup, load_backbone, resolve_backbone
from polyhead.model.multitask import IGNORE_INDEX, MultiTaskModel, MultiTaskOutput
from polyhead.model.spec import ModelSpec, TaskSpec

__all__ = [
    "IGNORE_INDEX",
    "LayerGroup",
    "ModelSpec",
    "MultiTaskModel",
    "MultiTaskOutput",
    "TaskSpec",
    "load_backbone",
    "resolve_backbone",
]
