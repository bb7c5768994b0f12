"""Portable copies of a trained model: one ONNX graph, a sentence-transformers folder, or the
backbone in plain Hugging Face format plus the heads (see `polyhead.export.formats`)."""
