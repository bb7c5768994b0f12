"""Portable copies of a trained model: one ONNX graph, a sentence-transformers folder, the
backbone in plain Hugging Face format plus the heads, or one `transformers.pipeline` folder per
head (see `polyhead.export.formats`)."""
