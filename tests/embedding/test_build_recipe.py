"""The layer on disk was built by the recipe in layers/model/build.py, for the model id this code expects."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cinelibre.embedding import EMBEDDING_DIMENSION, MODEL_ID

BUILD_SCRIPT = Path(__file__).resolve().parents[2] / "layers" / "model" / "build.py"


@pytest.fixture(scope="module")
def build_module():
    spec = importlib.util.spec_from_file_location("layer_build", BUILD_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_build_script_and_embedder_agree_on_the_model(build_module) -> None:
    assert build_module.MODEL_ID == MODEL_ID
    assert build_module.DIMENSION == EMBEDDING_DIMENSION


def test_built_layer_comes_from_the_current_recipe(build_module, built_layer: Path) -> None:
    # `make layer` only builds when the manifest is missing: after a recipe change, rebuild by hand with
    # `rm -r layers/model/build && make layer`.
    manifest = json.loads((built_layer / "manifest.json").read_text())

    assert manifest["recipe"] == build_module.SHIPPED_RECIPE
    assert manifest["source"]["wheel_sha256"] == build_module.SOURCE_WHEEL_SHA256
    assert manifest["max_tokens"] == build_module.MAX_TOKENS == 256
