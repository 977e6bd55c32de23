"""Semantic search: the query embedded with the shipped model, matched against the stored embeddings, and
fused with a lexical title match by weighted reciprocal rank fusion.

Embeddings alone miss queries that are titles, above all misspelt or transliterated ones ("Bahubali" for
"Baahubali"), because a bare name carries little meaning for a sentence model. The lexical ranking (trigram
word similarity in SQL) catches those; fusing ranks rather than raw scores needs no calibration between a
cosine similarity and a trigram similarity.

This module never imports the embedding package: it receives any object with `embed_query`, so the
functions that do not search never load the model by importing it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from cinelibre.db.port import Database, ItemType, ItemTypeFilter, Row
from cinelibre.errors import ValidationError

MAX_QUERY_LENGTH = 500
MAX_RESULTS = 50
# How many nearest neighbours each kind contributes before fusion; the SQL functions cap it at 200.
MAX_VECTOR_CANDIDATES = 200
# search_titles caps its count at 50.
MAX_TITLE_CANDIDATES = 50

ItemKey = tuple[str, int]

# Threads are made on first use and reused by warm invocations.
_TITLE_LOOKUPS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cinelibre-title-match")


class QueryEmbedder(Protocol):
    def embed_query(self, text: str) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """Filters of the catalog. `genre` describes movies and `category` books, so a filter on one excludes
    the other kind unless both are given; `language` and the year range apply to both."""

    language: str | None = None
    genre: str | None = None
    category: str | None = None
    year_from: int | None = None
    year_to: int | None = None

    def __post_init__(self) -> None:
        if self.year_from is not None and self.year_to is not None and self.year_from > self.year_to:
            raise ValidationError("year_from must not be after year_to", details={"field": "year_from"})

    def kinds(self, item_type: ItemTypeFilter) -> tuple[ItemType, ...]:
        if item_type == "book" and self.genre is not None:
            raise ValidationError("genre filters movies; books have a category", details={"field": "genre"})
        if item_type == "movie" and self.category is not None:
            raise ValidationError(
                "category filters books; movies have a genre", details={"field": "category"}
            )
        kinds: tuple[ItemType, ...] = ("movie", "book") if item_type == "all" else (item_type,)
        if self.genre is not None and self.category is None:
            kinds = tuple(kind for kind in kinds if kind == "movie")
        elif self.category is not None and self.genre is None:
            kinds = tuple(kind for kind in kinds if kind == "book")
        return kinds


@dataclass(frozen=True, slots=True)
class SearchHit:
    item_id: int
    item_type: ItemType
    title: str
    year: int | None
    image_url: str | None
    # The fused rank score: only its order means something.
    score: float
    # Cosine similarity between the query and the item's embedding, when the item was among the
    # nearest candidates; a pure title match found further away has None.
    similarity: float | None
    title_similarity: float | None
    matched_by: tuple[str, ...]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    hits: list[SearchHit]
    embedding_ms: float
    database_ms: float


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[ItemKey]], weights: Sequence[Sequence[float]], *, k: int = 60
) -> dict[ItemKey, float]:
    """Weighted RRF: each ranking adds weight / (k + rank) to every item it holds (rank from 1).
    `weights[i][j]` is the weight of the j-th item of ranking i, so a ranking can count some of its
    items more than others (a near-exact title match more than a loose one)."""
    scores: dict[ItemKey, float] = {}
    for ranking, ranking_weights in zip(rankings, weights, strict=True):
        for rank, (key, weight) in enumerate(zip(ranking, ranking_weights, strict=True), start=1):
            scores[key] = scores.get(key, 0.0) + weight / (k + rank)
    return scores


_IMAGE_COLUMN = {"movie": "poster_url", "book": "thumbnail_url"}
_SUMMARY_COLUMNS = {
    "movie": ("original_language", "genres", "director", "overview", "vote_average"),
    "book": ("language", "categories", "authors", "description"),
}


class SemanticSearch:
    def __init__(
        self,
        database: Database,
        embedder: QueryEmbedder,
        *,
        rrf_k: int = 60,
        title_weight: float = 2.0,
        candidates_per_result: int = 3,
    ) -> None:
        self._database = database
        self._embedder = embedder
        self._rrf_k = rrf_k
        # A title match counts up to twice a semantic rank: a query that names a title should find it
        # first, while loose title overlaps (title_similarity near the SQL cut-off of 0.5) count less.
        self._title_weight = title_weight
        self._candidates_per_result = candidates_per_result

    def search(
        self,
        query: str,
        *,
        item_type: ItemTypeFilter = "all",
        limit: int = 10,
        threshold: float = 0.3,
        filters: SearchFilters | None = None,
    ) -> SearchOutcome:
        text = " ".join(query.split())
        if not text:
            raise ValidationError("q must not be empty", details={"field": "q"})
        if len(text) > MAX_QUERY_LENGTH:
            raise ValidationError(f"q must be at most {MAX_QUERY_LENGTH} characters", details={"field": "q"})
        if not 1 <= limit <= MAX_RESULTS:
            raise ValidationError(f"limit must be 1 to {MAX_RESULTS}", details={"field": "limit"})
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError("threshold must be between 0 and 1", details={"field": "threshold"})
        filters = filters or SearchFilters()
        kinds = filters.kinds(item_type)

        # The title match needs no embedding: it runs on the database while the model embeds the query.
        title_count = min(MAX_TITLE_CANDIDATES, max(10, limit))
        started = time.perf_counter()
        title_lookup = _TITLE_LOOKUPS.submit(self._title_rows, text, kinds, title_count, filters)
        query_embedding = self._embedder.embed_query(text)
        embedded = time.perf_counter()
        title_rows_found = title_lookup.result()

        candidate_count = min(MAX_VECTOR_CANDIDATES, max(20, limit * self._candidates_per_result))
        # Threshold 0 in SQL: candidates under the threshold still lend a title match their similarity; the
        # threshold is applied to the semantic ranking below.
        candidates: dict[ItemKey, Row] = {}
        for kind in kinds:
            for row in self._match(kind, query_embedding, candidate_count, filters):
                candidates[(kind, int(row["id"]))] = row
        title_rows = self._title_matches(text, title_rows_found, kinds)
        finished = time.perf_counter()

        semantic = sorted(
            (key for key, row in candidates.items() if row["similarity"] >= threshold),
            key=lambda key: -candidates[key]["similarity"],
        )
        titles = [(row["item_type"], int(row["item_id"])) for row in title_rows]
        title_similarity = {
            key: float(row["title_similarity"]) for key, row in zip(titles, title_rows, strict=True)
        }
        fused = reciprocal_rank_fusion(
            [semantic, titles],
            [[1.0] * len(semantic), [self._title_weight * title_similarity[key] for key in titles]],
            k=self._rrf_k,
        )
        title_row_by_key = dict(zip(titles, title_rows, strict=True))
        semantic_keys = set(semantic)
        ordered = sorted(
            fused,
            key=lambda key: (
                -fused[key],
                -(candidates[key]["similarity"] if key in candidates else 0.0),
                key,
            ),
        )
        hits = [
            self._hit(key, fused[key], candidates.get(key), title_row_by_key.get(key), key in semantic_keys)
            for key in ordered[:limit]
        ]
        return SearchOutcome(
            hits=hits,
            embedding_ms=(embedded - started) * 1000,
            database_ms=(finished - embedded) * 1000,
        )

    def _match(self, kind: ItemType, embedding: list[float], count: int, filters: SearchFilters) -> list[Row]:
        if kind == "movie":
            return self._database.match_movies(
                query_embedding=embedding,
                threshold=0.0,
                count=count,
                language=filters.language,
                genre=filters.genre,
                year_from=filters.year_from,
                year_to=filters.year_to,
            )
        return self._database.match_books(
            query_embedding=embedding,
            threshold=0.0,
            count=count,
            language=filters.language,
            category=filters.category,
            year_from=filters.year_from,
            year_to=filters.year_to,
        )

    def _title_rows(
        self, text: str, kinds: tuple[ItemType, ...], count: int, filters: SearchFilters
    ) -> list[Row]:
        item_type: ItemTypeFilter = kinds[0] if len(kinds) == 1 else "all"
        return self._database.search_titles(
            query=text, item_type=item_type, count=count, language=filters.language, genre=filters.genre,
            category=filters.category, year_from=filters.year_from, year_to=filters.year_to,
        )

    @staticmethod
    def _title_matches(text: str, rows: list[Row], kinds: tuple[ItemType, ...]) -> list[Row]:
        # The database applied the filters; only the kinds asked for remain to be picked.
        kept = [row for row in rows if row["item_type"] in kinds]
        folded = text.casefold()
        # Equal trigram scores ("Drishyam" and "Drishyam 2" both contain the word fully): the exact title
        # first, then the shorter, i.e. closer, one.
        kept.sort(
            key=lambda row: (
                -float(row["title_similarity"]),
                row["title"].casefold() != folded,
                len(row["title"]),
            )
        )
        return kept

    @staticmethod
    def _hit(
        key: ItemKey, score: float, candidate: Row | None, title_row: Row | None, semantic: bool
    ) -> SearchHit:
        kind, item_id = key
        matched_by = tuple(
            name for name, present in (("semantic", semantic), ("title", title_row)) if present
        )
        if candidate is not None:
            return SearchHit(
                item_id=item_id,
                item_type=kind,
                title=candidate["title"],
                year=candidate["year"],
                image_url=candidate[_IMAGE_COLUMN[kind]],
                score=score,
                similarity=float(candidate["similarity"]),
                title_similarity=float(title_row["title_similarity"]) if title_row else None,
                matched_by=matched_by,
                details={column: candidate.get(column) for column in _SUMMARY_COLUMNS[kind]},
            )
        assert title_row is not None  # fusion only holds keys from the two rankings
        return SearchHit(
            item_id=item_id,
            item_type=kind,
            title=title_row["title"],
            year=title_row["year"],
            image_url=title_row["image_url"],
            score=score,
            similarity=None,
            title_similarity=float(title_row["title_similarity"]),
            matched_by=matched_by,
        )
