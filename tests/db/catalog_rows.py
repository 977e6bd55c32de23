"""Small movie and book rows with hand-made embeddings whose nearest neighbours are known."""

from __future__ import annotations

import math
import random

DIMENSION = 384


def unit(seed: int, *, near: list[float] | None = None, noise: float = 0.0) -> list[float]:
    """A deterministic unit vector; with `near`, that vector plus a little seeded noise."""
    rng = random.Random(seed)
    base = near if near is not None else [rng.gauss(0, 1) for _ in range(DIMENSION)]
    values = [b + noise * rng.gauss(0, 1) for b in base] if near is not None else base
    norm = math.sqrt(sum(v * v for v in values))
    return [v / norm for v in values]


_UNSET: list[float] = []


def movie(tmdb_id: int, title: str, *, embedding: list[float] | None = _UNSET, **fields) -> dict:
    row = {
        "tmdb_id": tmdb_id, "title": title, "original_title": title, "overview": f"About {title}.",
        "release_date": "2015-07-10", "original_language": "te", "genres": ["Action"], "director": "Someone",
        "cast_members": [{"name": "A", "character": "B"}], "crew": [{"name": "C", "job": "Writer"}],
        "runtime": 159, "popularity": 10.0, "vote_average": 7.5, "vote_count": 100, "poster_url": None,
        "content_hash": f"hash-{tmdb_id}", "embedding": unit(tmdb_id) if embedding is _UNSET else embedding,
    }
    row.update(fields)
    return row


def book(google_id: str, title: str, *, embedding: list[float] | None = _UNSET, **fields) -> dict:
    row = {
        "google_id": google_id, "title": title, "subtitle": None, "authors": ["An Author"],
        "description": f"About {title}.", "categories": ["Fiction"], "published_date": "1999",
        "language": "en", "page_count": 300, "isbn_10": None, "isbn_13": None, "thumbnail_url": None,
        "publisher": None, "average_rating": None, "ratings_count": None,
        "content_hash": f"hash-{google_id}",
        "embedding": unit(sum(map(ord, google_id)) * 7919) if embedding is _UNSET else embedding,
    }
    row.update(fields)
    return row
