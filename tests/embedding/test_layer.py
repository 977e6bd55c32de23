"""The model layer is checked before it loads: a missing, foreign or corrupt layer fails clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cinelibre.embedding import EMBEDDING_DIMENSION, MODEL_ID, Embedder, verified_layer
from cinelibre.errors import ModelUnavailableError


def _rewrite_manifest(layer: Path, **changes: object) -> None:
    manifest_path = layer / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest.update(changes)
    manifest_path.write_text(json.dumps(manifest))


def test_built_layer_describes_the_model_and_every_file(built_layer: Path) -> None:
    layer = verified_layer(built_layer)

    assert layer.spec.model_id == MODEL_ID
    assert layer.spec.dimension == EMBEDDING_DIMENSION == 384
    assert (layer.spec.pooling, layer.spec.normalize, layer.spec.max_tokens) == ("mean", True, 256)
    assert set(layer.spec.files) == {
        "model.onnx", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json",
    }  # fmt: skip


def test_layer_tokenizer_truncates_at_256_and_pads_to_the_batch(built_layer: Path) -> None:
    # The tokenizer shipped with the weights truncates at 128 and pads everything to 128 (worse vectors,
    # slower queries); FastEmbed reads model_max_length, which the source sets to 512.
    tokenizer = json.loads((built_layer / "tokenizer.json").read_text())
    tokenizer_config = json.loads((built_layer / "tokenizer_config.json").read_text())

    assert tokenizer["truncation"]["max_length"] == 256
    assert tokenizer["padding"]["strategy"] == "BatchLongest"
    assert tokenizer_config["model_max_length"] == 256


def test_missing_layer_names_the_fix(tmp_path: Path) -> None:
    embedder = Embedder(tmp_path / "nowhere")

    with pytest.raises(ModelUnavailableError, match=r"layer is missing.*make layer"):
        embedder.embed_query("space opera")
    assert not embedder.loaded


@pytest.mark.parametrize("damaged", ["model.onnx", "tokenizer.json", "tokenizer_config.json"])
def test_checksum_mismatch_is_refused(layer_copy: Path, damaged: str) -> None:
    target = layer_copy / damaged
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))

    with pytest.raises(
        ModelUnavailableError, match=rf"corrupt: {damaged} has sha256 [0-9a-f]{{64}}, the manifest says"
    ):
        Embedder(layer_copy).load()


def test_file_listed_in_manifest_but_absent_is_refused(layer_copy: Path) -> None:
    (layer_copy / "tokenizer.json").unlink()

    with pytest.raises(ModelUnavailableError, match="incomplete: tokenizer.json is missing"):
        verified_layer(layer_copy)


def test_layer_built_by_another_recipe_is_refused(layer_copy: Path) -> None:
    _rewrite_manifest(layer_copy, model_id="sentence-transformers/all-MiniLM-L6-v2@onnx-fp32-r0")

    with pytest.raises(
        ModelUnavailableError, match="holds 'sentence-transformers/all-MiniLM-L6-v2@onnx-fp32-r0'"
    ):
        verified_layer(layer_copy)


def test_layer_with_another_dimension_is_refused(layer_copy: Path) -> None:
    _rewrite_manifest(layer_copy, dimension=768)

    with pytest.raises(ModelUnavailableError, match="dimension 768"):
        verified_layer(layer_copy)


def test_malformed_manifest_is_refused(layer_copy: Path) -> None:
    (layer_copy / "manifest.json").write_text('{"model_id": ')

    with pytest.raises(ModelUnavailableError, match="cannot read the model manifest"):
        verified_layer(layer_copy)


def test_readiness_reports_a_broken_layer_without_raising(layer_copy: Path) -> None:
    (layer_copy / "config.json").write_text("{}")

    status = Embedder(layer_copy).readiness()

    assert status["ok"] is False
    assert status["loaded"] is False
    assert "corrupt: config.json" in status["error"]
    assert status["model_id"] == MODEL_ID
