"""polyhead: train one pretrained transformer, many task heads.

    import polyhead
    run = polyhead.train("run.yaml", data=dataset_dict, out="runs/first")
    model = polyhead.load("runs/first/model")     # or a Hub id: polyhead.load("org/name")
    model.predict(["wake me up at seven"])

Names resolve on first use (PEP 562): `import polyhead.config` (and a CLI that rejects a bad
config) does not first import the training engine.
"""

from importlib import import_module

from polyhead.version import __version__

# public name -> the module that defines it
_WHERE = {
    "load": "polyhead.api",
    "train": "polyhead.api",
    "training_plan": "polyhead.api",
    "compare_strategies": "polyhead.api",
    "push_to_hub": "polyhead.api",
    "build_config": "polyhead.api",
    "Model": "polyhead.api",
    "Run": "polyhead.api",
    "RunConfig": "polyhead.config",
    "load_config": "polyhead.config",
    "DataSource": "polyhead.data.sources",
    "PolyheadError": "polyhead.errors",
    "ConfigError": "polyhead.errors",
    "DataError": "polyhead.errors",
}

__all__ = ["__version__", *sorted(_WHERE)]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'polyhead' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
