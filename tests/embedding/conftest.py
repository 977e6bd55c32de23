"""Fixtures of the embedding tests. The model itself is the root conftest's session `embedder`."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from cinelibre.embedding import layer as layer_module
from cinelibre.settings import load_settings

REFERENCE_FILE = Path(__file__).parent / "reference" / "reference_vectors.json"


@dataclass(frozen=True)
class Reference:
    """Texts and their vectors from the original PyTorch model (reference/make_reference.py)."""

    queries: list[str]
    query_vectors: np.ndarray
    synopses: list[str]
    synopsis_vectors: np.ndarray
    extras: list[str]
    extra_vectors: np.ndarray


@pytest.fixture(scope="session")
def reference() -> Reference:
    document = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))

    def vectors(entries: list[dict]) -> np.ndarray:
        return np.array([entry["vector"] for entry in entries], dtype=np.float64)

    return Reference(
        queries=[entry["text"] for entry in document["queries"]],
        query_vectors=vectors(document["queries"]),
        synopses=[entry["text"] for entry in document["synopses"]],
        synopsis_vectors=vectors(document["synopses"]),
        extras=[entry["text"] for entry in document["extras"]],
        extra_vectors=vectors(document["extras"]),
    )


@pytest.fixture(scope="session")
def built_layer() -> Path:
    """The layer `make layer` built, which the tests never modify."""
    path = load_settings().model_path
    if not (path / layer_module.MANIFEST_NAME).is_file():
        pytest.fail(f"no model layer at {path}: run `make layer` (the test command does) before the tests")
    return path


@pytest.fixture
def layer_copy(built_layer: Path, tmp_path: Path) -> Path:
    """A private copy of the built layer that a test may break."""
    copy = tmp_path / "model"
    shutil.copytree(built_layer, copy)
    return copy


@pytest.fixture(autouse=True)
def _fresh_layer_checks():
    """Checksums are remembered per process; a test that breaks a copy must see its own check run."""
    layer_module.forget_verified_layers()
    yield
    layer_module.forget_verified_layers()
