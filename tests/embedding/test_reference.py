"""Fidelity of the shipped int8 model to the original PyTorch all-MiniLM-L6-v2 (committed reference vectors).

The figures these tests print with -s are the ones in docs/model.md; bench/bench_embedding.py prints them too.
"""

from __future__ import annotations

import numpy as np
import pytest

from cinelibre.embedding import Embedder

from .conftest import Reference

TOP_K = 10


@pytest.fixture(scope="module")
def shipped(embedder: Embedder, reference: Reference) -> dict[str, np.ndarray]:
    """The shipped model's vectors, queries one at a time as search does, synopses in ingest's batches."""
    return {
        "queries": np.array([embedder.embed_query(text) for text in reference.queries]),
        "synopses": np.array(list(embedder.embed_passages(reference.synopses))),
        "extras": np.array(list(embedder.embed_passages(reference.extras))),
    }


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_reference_set_is_the_varied_one_it_claims(reference: Reference) -> None:
    words = [len(text.split()) for text in reference.synopses]

    assert len(reference.queries) >= 30 and len(reference.synopses) >= 60
    assert min(words) >= 50 and max(words) <= 150
    assert reference.query_vectors.shape[1] == reference.synopsis_vectors.shape[1] == 384


def test_mean_cosine_to_the_original_is_at_least_0_99(
    shipped: dict[str, np.ndarray], reference: Reference
) -> None:
    cosines = np.concatenate([
        _cosines(shipped["queries"], reference.query_vectors),
        _cosines(shipped["synopses"], reference.synopsis_vectors),
        _cosines(shipped["extras"], reference.extra_vectors),
    ])  # fmt: skip
    print(
        f"\ncosine to reference: mean {cosines.mean():.5f}, min {cosines.min():.5f} over {cosines.size} texts"
    )

    assert cosines.mean() >= 0.99
    # Not only on average: no single text may drift far (the 128-token tokenizer trap gave 0.89).
    assert cosines.min() >= 0.99


def test_long_and_non_english_texts_match_the_original(
    shipped: dict[str, np.ndarray], reference: Reference
) -> None:
    # A 311-word synopsis (past the 256-token window), Hindi, Tamil, and accents with emoji.
    cosines = _cosines(shipped["extras"], reference.extra_vectors)

    assert cosines.min() >= 0.99, dict(zip(reference.extras, cosines.round(4), strict=True))


def test_top10_retrieval_agrees_with_the_original(
    shipped: dict[str, np.ndarray], reference: Reference
) -> None:
    reference_scores = reference.query_vectors @ reference.synopsis_vectors.T
    shipped_scores = shipped["queries"] @ shipped["synopses"].T
    reference_top = np.argsort(-reference_scores, axis=1)[:, :TOP_K]
    shipped_top = np.argsort(-shipped_scores, axis=1)[:, :TOP_K]
    overlaps = np.array([len(set(r) & set(s)) for r, s in zip(reference_top, shipped_top, strict=True)])
    print(
        f"\ntop-{TOP_K} overlap per query: mean {overlaps.mean():.2f}, "
        f"histogram of overlaps 0..10: {np.bincount(overlaps, minlength=TOP_K + 1)}"
    )

    # Near-ties at rank 10 may swap; anything more than one swap is a real ranking change.
    assert (overlaps >= TOP_K - 1).sum() >= len(overlaps) - 1
    # What a user sees first: the original's best three always within the shipped top ten, and its best
    # hit within the shipped top three.
    for query, r, s in zip(reference.queries, reference_top, shipped_top, strict=True):
        assert set(r[:3]) <= set(s), query
        assert r[0] in s[:3], query
