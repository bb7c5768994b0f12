"""polyhead: train one pretrained transformer, many task heads."""

__version__ = "0.1.0"
