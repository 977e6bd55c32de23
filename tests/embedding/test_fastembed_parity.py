"""The embedder runs FastEmbed's text path without importing FastEmbed (cold start, docs/model.md): its
vectors must be bit for bit the ones FastEmbed itself computes from the same layer, for queries one at a time
as search sends them and for passages in ingest's batches, including texts past the 256-token window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastembed import TextEmbedding
from fastembed.common.model_description import ModelSource, PoolingType

from cinelibre.embedding import MODEL_ID, Embedder, verified_layer

from .conftest import Reference


@pytest.fixture(scope="module")
def fastembed_model(built_layer: Path, tmp_path_factory: pytest.TempPathFactory) -> TextEmbedding:
    layer = verified_layer(built_layer)
    if not any(model["model"] == MODEL_ID for model in TextEmbedding.list_supported_models()):
        TextEmbedding.add_custom_model(
            model=MODEL_ID,
            pooling=PoolingType.MEAN,
            normalization=True,
            sources=ModelSource(url=layer.path.as_uri()),  # never fetched: specific_model_path wins
            dim=layer.spec.dimension,
            model_file=layer.spec.model_file,
        )
    return TextEmbedding(
        MODEL_ID,
        cache_dir=str(tmp_path_factory.mktemp("fastembed")),
        threads=1,
        specific_model_path=str(layer.path),
        local_files_only=True,
        cuda=False,
    )


def test_query_vectors_are_fastembeds_bit_for_bit(
    embedder: Embedder, fastembed_model: TextEmbedding, reference: Reference
) -> None:
    texts = [*reference.queries, "Bahubali", "ಕನ್ನಡ ಚಲನಚಿತ್ರ", "🎬 café crème"]
    ours = np.array([embedder.embed_query(text) for text in texts], dtype=np.float32)
    theirs = np.array([next(iter(fastembed_model.query_embed([text]))) for text in texts])

    assert ours.shape == theirs.shape == (len(texts), 384)
    assert np.array_equal(ours, theirs)


def test_passage_batches_are_fastembeds_bit_for_bit(
    embedder: Embedder, fastembed_model: TextEmbedding, reference: Reference
) -> None:
    texts = [*reference.synopses, *reference.extras]
    ours = np.array(list(embedder.embed_passages(texts)), dtype=np.float32)
    theirs = np.array(list(fastembed_model.passage_embed(texts, batch_size=embedder.batch_size)))

    assert ours.shape == theirs.shape == (len(texts), 384)
    assert np.array_equal(ours, theirs)
