"""Backbone, pooling, heads and the MultiTaskModel.

Names resolve on first use (PEP 562): `polyhead.config` needs only `model.spec`, and a CLI
that rejects a bad config should not first spend seconds importing transformers.
"""

from importlib import import_module

_WHERE = {
    "LayerGroup": "backbone",
    "load_backbone": "backbone",
    "resolve_backbone": "backbone",
    "IGNORE_INDEX": "multitask",
    "MultiTaskModel": "multitask",
    "MultiTaskOutput": "multitask",
    "ModelSpec": "spec",
    "TaskSpec": "spec",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'polyhead.model' has no attribute {name!r}")
    return getattr(import_module(f"polyhead.model.{_WHERE[name]}"), name)
