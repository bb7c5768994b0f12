"""polyhead: train one pretrained transformer, many task heads."""

from polyhead.version import __version__

__all__ = ["__version__"]
