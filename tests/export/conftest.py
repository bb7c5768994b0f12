from __future__ import annotations

import pytest

from polyhead.export.formats import export_artifact
from tests.serve.conftest import tiny_artifact


@pytest.fixture(scope="session")
def artifact(tiny_bert, tmp_path_factory):
    return tiny_artifact(tiny_bert, tmp_path_factory.mktemp("export") / "model")


@pytest.fixture(scope="session")
def onnx_export(artifact, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx") / "model-onnx"
    return out, export_artifact(str(artifact), "onnx", out)


@pytest.fixture(scope="session")
def transformers_export(artifact, tmp_path_factory):
    out = tmp_path_factory.mktemp("transformers") / "model-hf"
    return out, export_artifact(str(artifact), "transformers", out)
