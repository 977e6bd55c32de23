"""FastEmbed loads the layer with the configuration the layer's recipe means: its tokenizer (truncation at the
model's 256-token window, padding to the longest text of a batch), the ONNX session, mean pooling over the
real tokens and unit length. Checked bit for bit against those four steps written out on ONNX Runtime and
tokenizers directly, for queries one at a time as search sends them and passages in ingest's batches,
including texts past the token window, Indic scripts and emoji. (issue 14 measured this direct path as a
cold-start alternative to FastEmbed; docs/model.md, "Cold start".)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from tokenizers import Tokenizer

from cinelibre.embedding import Embedder, verified_layer

from .conftest import Reference


class _LayerRecipe:
    def __init__(self, model_path: Path) -> None:
        layer = verified_layer(model_path)
        self.tokenizer = Tokenizer.from_file(str(layer.tokenizer_file))
        self.tokenizer.enable_truncation(max_length=layer.spec.max_tokens)
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(layer.model_file), options, providers=["CPUExecutionProvider"]
        )

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": input_ids, "attention_mask": mask, "token_type_ids": np.zeros_like(input_ids)}
        hidden = self.session.run(None, feeds)[0]
        summed = np.sum(hidden, axis=1, where=mask[:, :, np.newaxis].astype(bool), dtype=np.float64)
        pooled = summed / np.maximum(np.sum(mask, axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(hidden.dtype)


@pytest.fixture(scope="module")
def recipe(built_layer: Path) -> _LayerRecipe:
    return _LayerRecipe(built_layer)


def test_query_vectors_are_the_recipes_bit_for_bit(
    embedder: Embedder, recipe: _LayerRecipe, reference: Reference
) -> None:
    texts = [*reference.queries, "Bahubali", "ಕನ್ನಡ ಚಲನಚಿತ್ರ", "🎬 café crème"]
    ours = np.array([embedder.embed_query(text) for text in texts], dtype=np.float32)
    direct = np.concatenate([recipe.embed([text]) for text in texts])

    assert ours.shape == direct.shape == (len(texts), 384)
    assert np.array_equal(ours, direct)


def test_passage_batches_are_the_recipes_bit_for_bit(
    embedder: Embedder, recipe: _LayerRecipe, reference: Reference
) -> None:
    texts = [*reference.synopses, *reference.extras]
    ours = np.array(list(embedder.embed_passages(texts)), dtype=np.float32)
    size = embedder.batch_size
    direct = np.concatenate([recipe.embed(texts[i : i + size]) for i in range(0, len(texts), size)])

    assert ours.shape == direct.shape == (len(texts), 384)
    assert np.array_equal(ours, direct)
