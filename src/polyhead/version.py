"""The package version, importable from every layer (the package's `__init__` is the top one)."""

__version__ = "0.1.0"
