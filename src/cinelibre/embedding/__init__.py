"""Text embeddings with all-MiniLM-L6-v2 (384-d, cosine) from the model layer, and the text recipes.

embedder = get_embedder(get_settings())        # once per process; the session loads on first use
embedder.embed_query("space opera")             # list of 384 floats, unit length
embedder.embed_passages(movie_text(m) for m in movies)   # generator, bounded batches
"""

from cinelibre.embedding.embedder import MAX_INPUT_CHARS, Embedder, get_embedder
from cinelibre.embedding.layer import EMBEDDING_DIMENSION, MODEL_ID, ModelSpec, verified_layer
from cinelibre.embedding.recipes import book_text, content_hash, fit_to_model, movie_text
from cinelibre.errors import ModelUnavailableError

__all__ = [
    "EMBEDDING_DIMENSION",
    "MAX_INPUT_CHARS",
    "MODEL_ID",
    "Embedder",
    "ModelSpec",
    "ModelUnavailableError",
    "book_text",
    "content_hash",
    "fit_to_model",
    "get_embedder",
    "movie_text",
    "verified_layer",
]
