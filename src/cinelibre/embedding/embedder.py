"""The embedder: FastEmbed over the verified model layer, created once per process and reused.

A Lambda container calls `get_embedder(settings)` at import (cold start) and every warm invocation reuses the
same ONNX Runtime session. The session runs on `settings.embed_threads` intra-op threads: a 512 MB Lambda sees
two cores but gets about a third of one, where ONNX Runtime's default of one thread per visible core makes
single queries slower. Passages go through in batches of `settings.embed_batch_size`, which bounds memory.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import batched
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cinelibre.embedding.layer import EMBEDDING_DIMENSION, MODEL_ID, VerifiedLayer, verified_layer
from cinelibre.errors import CineLibreError, ModelUnavailableError, ValidationError
from cinelibre.observability import logger

if TYPE_CHECKING:
    from fastembed import TextEmbedding

    from cinelibre.settings import Settings

# Nothing past the model's 256 tokens is read, and 256 WordPiece tokens span at most about 26,000 characters
# (words longer than 100 characters become one [UNK]), so this cut never changes a vector; it only bounds
# the tokenizer's work on a hostile input.
MAX_INPUT_CHARS = 32_768


def _point_caches_at_writable_dirs() -> Path:
    """FastEmbed wants a cache dir and ONNX Runtime writes small files under XDG_CACHE_HOME; in Lambda only
    /tmp is writable. Also forbid hub lookups: the model comes from the layer, never from the network."""
    temp = Path(tempfile.gettempdir())
    default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    nearest = next((p for p in (default_cache, *default_cache.parents) if p.exists()), None)
    if "AWS_LAMBDA_FUNCTION_NAME" in os.environ or nearest is None or not os.access(nearest, os.W_OK):
        os.environ["XDG_CACHE_HOME"] = str(temp / "cinelibre-cache")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return temp / "fastembed_cache"


def _register_with_fastembed(layer: VerifiedLayer) -> None:
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    if any(model["model"] == MODEL_ID for model in TextEmbedding.list_supported_models()):
        return
    TextEmbedding.add_custom_model(
        model=MODEL_ID,
        pooling=PoolingType.MEAN,
        normalization=layer.spec.normalize,
        # Never fetched: the session always loads from `specific_model_path`.
        sources=ModelSource(url=layer.path.as_uri()),
        dim=layer.spec.dimension,
        model_file=layer.spec.model_file,
        license="apache-2.0",
        description="all-MiniLM-L6-v2, int8 ONNX built by layers/model/build.py",
    )


class Embedder:
    """Query and passage embeddings from the layer at `model_path`; the session loads on first use."""

    def __init__(self, model_path: Path, *, threads: int = 1, batch_size: int = 8) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError("threads and batch_size must be at least 1")
        self.model_path = Path(model_path)
        self.threads = threads
        self.batch_size = batch_size
        self._model: TextEmbedding | None = None
        self._load_lock = threading.Lock()
        self._load_seconds: float | None = None

    @property
    def model_id(self) -> str:
        return MODEL_ID

    @property
    def dimension(self) -> int:
        return EMBEDDING_DIMENSION

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Check the layer and create the ONNX Runtime session, once. Raises `ModelUnavailableError`."""
        if self._model is not None:
            return
        with self._load_lock:
            if self._model is not None:
                return
            started = time.perf_counter()
            layer = verified_layer(self.model_path)
            cache_dir = _point_caches_at_writable_dirs()
            _register_with_fastembed(layer)
            from fastembed import TextEmbedding

            try:
                model = TextEmbedding(
                    MODEL_ID,
                    cache_dir=str(cache_dir),
                    threads=self.threads,
                    specific_model_path=str(layer.path),
                    local_files_only=True,
                    cuda=False,
                )
            except CineLibreError:
                raise
            except Exception as exc:  # onnxruntime and tokenizers raise their own bare types
                raise ModelUnavailableError(
                    f"cannot load the embedding model from {layer.path}: {exc}"
                ) from exc
            self._load_seconds = time.perf_counter() - started
            self._model = model
            logger.info(
                "embedding model loaded",
                extra={"model_id": MODEL_ID, "model_path": str(layer.path), "threads": self.threads,
                       "load_ms": round(self._load_seconds * 1000, 1)},
            )  # fmt: skip

    def _session(self) -> TextEmbedding:
        self.load()
        assert self._model is not None  # load() either set it or raised
        return self._model

    @staticmethod
    def _checked(text: object) -> str:
        if not isinstance(text, str):
            raise ValidationError(f"text to embed must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValidationError("text to embed must not be empty")
        return text[:MAX_INPUT_CHARS]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Iterable[str]) -> list[list[float]]:
        checked = [self._checked(text) for text in texts]
        if not checked:
            return []
        model = self._session()
        vectors: list[list[float]] = []
        for batch in batched(checked, self.batch_size, strict=False):
            vectors.extend(vector.tolist() for vector in model.query_embed(list(batch)))
        return vectors

    def embed_passages(self, texts: Iterable[str]) -> Iterator[list[float]]:
        """One vector per text, in order, computed `batch_size` texts at a time as the caller reads them."""
        model = self._session()
        for batch in batched(texts, self.batch_size, strict=False):
            checked = [self._checked(text) for text in batch]
            for vector in model.passage_embed(checked, batch_size=self.batch_size):
                yield vector.tolist()

    def readiness(self) -> dict[str, Any]:
        """For health endpoints: whether the model can serve, without loading a session that is not loaded."""
        status: dict[str, Any] = {
            "model_id": MODEL_ID,
            "model_path": str(self.model_path),
            "loaded": self.loaded,
        }
        if self._model is not None:
            return {**status, "ok": True, "load_ms": round((self._load_seconds or 0) * 1000, 1)}
        try:
            verified_layer(self.model_path)
        except ModelUnavailableError as exc:
            return {**status, "ok": False, "error": exc.message}
        return {**status, "ok": True}


@lru_cache(maxsize=4)
def _embedder_for(model_path: Path, threads: int, batch_size: int) -> Embedder:
    return Embedder(model_path, threads=threads, batch_size=batch_size)


@lru_cache(maxsize=4)
def _embedder_for_setting(model_path: str, threads: int, batch_size: int) -> Embedder:
    # Keyed by the setting as given, so a warm search does not resolve the model path (filesystem calls) again;
    # _embedder_for, keyed by the resolved path, keeps one embedder for two spellings of the same path.
    return _embedder_for(Path(model_path).resolve(), threads, batch_size)


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (one per model path, thread count and batch size)."""
    return _embedder_for_setting(str(settings.model_path), settings.embed_threads, settings.embed_batch_size)
