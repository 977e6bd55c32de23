"""The real int8 ONNX model through the embedder: shape, norm, determinism, meaning, bounded batches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from cinelibre.embedding import EMBEDDING_DIMENSION, MODEL_ID, Embedder, get_embedder
from cinelibre.embedding import embedder as embedder_module
from cinelibre.errors import ValidationError
from cinelibre.settings import load_settings


def _cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_query_vector_is_384_unit_floats(embedder: Embedder) -> None:
    vector = embedder.embed_query("space opera")

    assert len(vector) == EMBEDDING_DIMENSION
    assert all(isinstance(x, float) for x in vector)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_passage_vectors_are_384_unit_floats(embedder: Embedder) -> None:
    texts = [
        f"A film about {topic}." for topic in ("pirates", "chess", "monsoon weddings", "a lost dog", "Mars")
    ]

    vectors = list(embedder.embed_passages(texts))

    assert len(vectors) == len(texts)
    assert {len(v) for v in vectors} == {EMBEDDING_DIMENSION}
    assert np.linalg.norm(vectors, axis=1) == pytest.approx([1.0] * len(texts), abs=1e-5)


def test_embedding_is_deterministic(embedder: Embedder) -> None:
    text = "A retired detective returns to Kolkata to solve one last case during the monsoon."

    assert embedder.embed_query(text) == embedder.embed_query(text)


def test_vector_does_not_depend_on_the_rest_of_the_batch(embedder: Embedder) -> None:
    # A stored synopsis vector must be the same whether ingest embedded it alone or with seven others;
    # the layer's int8 kernels scale activations per row, never per batch.
    text = "Two brothers from a family of wedding band musicians in Jaipur drift apart."
    others = ["space opera", "x " * 200, "A haunted farmhouse in Vermont grows a new room every night."]

    alone = embedder.embed_query(text)
    in_batch = list(embedder.embed_passages([others[0], text, *others[1:]]))[1]

    assert in_batch == alone


def test_paraphrase_is_closer_than_an_unrelated_text(embedder: Embedder) -> None:
    query, paraphrase, unrelated = embedder.embed_queries([
        "A young girl trains in secret to become a wrestler in her Punjab village.",
        "In rural Punjab, a teenage girl secretly practises wrestling to become a champion.",
        "A hacker breaks into the power grid of a flooded megacity run by an AI.",
    ])  # fmt: skip

    assert _cosine(query, paraphrase) > 0.8
    assert _cosine(query, paraphrase) - _cosine(query, unrelated) > 0.5


def test_model_reads_256_tokens_not_128_nor_512(embedder: Embedder) -> None:
    # One token per word, so the cut points are exact: words 1..254 plus [CLS] and [SEP] fill 256 positions.
    words = [("space" if i % 3 == 0 else "opera" if i % 3 == 1 else "ship") for i in range(600)]
    full = " ".join(words)

    assert embedder.embed_query(full) == embedder.embed_query(" ".join(words[:254]))
    assert embedder.embed_query(full) != embedder.embed_query(" ".join(words[:126]))


def test_passages_are_consumed_one_batch_at_a_time(embedder: Embedder) -> None:
    consumed = 0

    def catalogue():
        nonlocal consumed
        for index in range(100):
            consumed += 1
            yield f"Synopsis number {index} of a very long catalogue."

    vectors = embedder.embed_passages(catalogue())
    next(vectors)

    assert consumed == embedder.batch_size
    assert sum(1 for _ in vectors) == 99


@pytest.mark.parametrize("bad", ["", "   \n\t", None, 42])
def test_empty_or_non_text_input_is_a_validation_error(embedder: Embedder, bad: object) -> None:
    with pytest.raises(ValidationError):
        embedder.embed_query(bad)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        list(embedder.embed_passages(["fine", bad]))  # type: ignore[list-item]


def test_no_queries_give_no_vectors(embedder: Embedder) -> None:
    assert embedder.embed_queries([]) == []


def test_get_embedder_is_one_instance_per_process(embedder: Embedder) -> None:
    settings = load_settings()

    assert get_embedder(settings) is get_embedder(load_settings())
    assert get_embedder(settings) is embedder


def test_batch_size_and_threads_come_from_settings() -> None:
    embedder = get_embedder(load_settings(embed_threads=2, embed_batch_size=3))

    assert (embedder.threads, embedder.batch_size) == (2, 3)
    assert not embedder.loaded  # nothing loads until it is used


def test_readiness_checks_the_layer_without_loading_a_session(built_layer: Path) -> None:
    fresh = Embedder(built_layer)

    status = fresh.readiness()

    assert status == {"model_id": MODEL_ID, "model_path": str(built_layer), "loaded": False, "ok": True}
    assert not fresh.loaded


def test_readiness_of_a_loaded_embedder(embedder: Embedder) -> None:
    embedder.embed_query("warm up")

    status = embedder.readiness()

    assert status["ok"] is True and status["loaded"] is True
    assert status["load_ms"] > 0


def test_caches_go_to_tmp_in_lambda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "cinelibre-search")
    monkeypatch.setenv("XDG_CACHE_HOME", "/home/sbx_user1051/.cache")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(embedder_module.tempfile, "gettempdir", lambda: str(tmp_path))

    fastembed_cache = embedder_module._point_caches_at_writable_dirs()

    assert os.environ["XDG_CACHE_HOME"] == str(tmp_path / "cinelibre-cache")
    assert fastembed_cache == tmp_path / "fastembed_cache"
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_caches_stay_where_they_are_when_writable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    embedder_module._point_caches_at_writable_dirs()

    assert os.environ["XDG_CACHE_HOME"] == str(tmp_path / "cache")
