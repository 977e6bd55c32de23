"""The embedder: the verified model layer run by ONNX Runtime, created once per process and reused.

A Lambda container calls `get_embedder(settings)` at import (cold start) and every warm invocation reuses the
same ONNX Runtime session. The session runs on `settings.embed_threads` intra-op threads: a 512 MB Lambda sees
two cores but gets about a third of one, where ONNX Runtime's default of one thread per visible core makes
single queries slower. Passages go through in batches of `settings.embed_batch_size`, which bounds memory.

Why not FastEmbed at run time (docs/model.md, "Cold start"): for a mean-pooled text model FastEmbed is the
HF `tokenizers` tokenizer, an ONNX Runtime session, mean pooling and L2 normalisation. Its package
`__init__` imports every embedding family it has, so `import fastembed` also loads its image stack (Pillow),
huggingface_hub, tqdm and loguru, which cost about 1.2 s of a 512 MB Lambda's cold start and a dozen MB of
package, and none of which the text path uses. The steps below are FastEmbed 0.9's text path
(`PooledNormalizedEmbedding`) on the same two libraries, with the same session options and the same
arithmetic; tests/embedding/test_fastembed_parity.py checks, with FastEmbed installed for the tests, that the
vectors are bit for bit the ones FastEmbed gives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import batched
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cinelibre.embedding.layer import EMBEDDING_DIMENSION, MODEL_ID, verified_layer
from cinelibre.errors import CineLibreError, ModelUnavailableError, ValidationError
from cinelibre.observability import logger

if TYPE_CHECKING:
    import numpy as np
    import onnxruntime
    from tokenizers import Tokenizer

    from cinelibre.embedding.layer import VerifiedLayer
    from cinelibre.settings import Settings

# Nothing past the model's 256 tokens is read, and 256 WordPiece tokens span at most about 26,000 characters
# (words longer than 100 characters become one [UNK]), so this cut never changes a vector; it only bounds
# the tokenizer's work on a hostile input.
MAX_INPUT_CHARS = 32_768


class _TextModel:
    """Tokenizer, session, mean pooling and normalisation: what FastEmbed's text path does for this model."""

    def __init__(self, layer: VerifiedLayer, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(layer.tokenizer_file))
        # The layer's tokenizer.json already truncates at the model's window and pads to the longest text of a
        # batch (layers/model/build.py); the manifest is the record, so it is applied again from there.
        tokenizer.enable_truncation(max_length=layer.spec.max_tokens)
        self.tokenizer: Tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = threads
        self.session: onnxruntime.InferenceSession = onnxruntime.InferenceSession(
            str(layer.model_file), options, providers=["CPUExecutionProvider"]
        )
        self.input_names = {node.name for node in self.session.get_inputs()}

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": input_ids}
        if "attention_mask" in self.input_names:
            feeds["attention_mask"] = attention_mask
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        hidden = self.session.run(None, feeds)[0]
        # Mean over the real tokens, summed in float64, then L2-normalised before casting back.
        summed = np.sum(hidden, axis=1, where=attention_mask[:, :, np.newaxis].astype(bool), dtype=np.float64)
        pooled = summed / np.maximum(np.sum(attention_mask, axis=1, keepdims=True), 1e-9)
        norms = np.maximum(np.linalg.norm(pooled, ord=2, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(hidden.dtype, copy=False)


class Embedder:
    """Query and passage embeddings from the layer at `model_path`; the session loads on first use."""

    def __init__(self, model_path: Path, *, threads: int = 1, batch_size: int = 8) -> None:
        if threads < 1 or batch_size < 1:
            raise ValueError("threads and batch_size must be at least 1")
        self.model_path = Path(model_path)
        self.threads = threads
        self.batch_size = batch_size
        self._model: _TextModel | None = None
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
            try:
                model = _TextModel(layer, self.threads)
            except CineLibreError:
                raise
            except Exception as exc:  # onnxruntime and tokenizers raise their own bare types
                raise ModelUnavailableError(f"cannot load the embedding model from {layer.path}: {exc}") from exc
            self._load_seconds = time.perf_counter() - started
            self._model = model
            logger.info(
                "embedding model loaded",
                extra={"model_id": MODEL_ID, "model_path": str(layer.path), "threads": self.threads,
                       "load_ms": round(self._load_seconds * 1000, 1)},
            )  # fmt: skip

    def _session(self) -> _TextModel:
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
            vectors.extend(model.embed(list(batch)).tolist())
        return vectors

    def embed_passages(self, texts: Iterable[str]) -> Iterator[list[float]]:
        """One vector per text, in order, computed `batch_size` texts at a time as the caller reads them."""
        model = self._session()
        for batch in batched(texts, self.batch_size, strict=False):
            checked = [self._checked(text) for text in batch]
            yield from model.embed(checked).tolist()

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


def get_embedder(settings: Settings) -> Embedder:
    """The process-wide embedder for these settings (one per model path, thread count and batch size)."""
    return _embedder_for(Path(settings.model_path).resolve(), settings.embed_threads, settings.embed_batch_size)
