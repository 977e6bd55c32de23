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
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from cinelibre.db.port import Database, ItemType, ItemTypeFilter, Row
from cinelibre.errors import ValidationError
from cinelibre.text import clean_query, has_words, phonetic_key, scripts, sound_key, spoken_key

MAX_QUERY_LENGTH = 500
MAX_RESULTS = 50
# How many nearest neighbours each kind contributes before fusion; the SQL functions cap it at 200.
MAX_VECTOR_CANDIDATES = 200
# search_lexical caps each of its rankings at 50.
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


# Every hit carries these, whichever ranking found it (issue 12: a title-only hit was a bare card).
DETAIL_FIELDS = ("language", "genres", "director", "overview", "authors", "categories")


def _item_type(kinds: tuple[ItemType, ...]) -> ItemTypeFilter:
    return kinds[0] if len(kinds) == 1 else "all"


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """Weights of the three rankings in reciprocal rank fusion, tuned on bench/relevance (see
    docs/search.md). A title match counts by how closely the query matches a title word
    (title_similarity) and how much of the whole title it covers, so a one-word topic query ("love") is
    not led by a long title that merely contains the word ("Dr. Strangelove ... Love the Bomb"), while an
    exact or near-exact title still comes first."""

    rrf_k: int = 60
    semantic: float = 1.0
    # The shipped model is English only: a query with no Latin letters is carried by the lexical rankings.
    semantic_non_latin: float = 0.25
    title: float = 3.0
    title_coverage_power: float = 1.0
    # A title match covering less of the title than this is a word that happens to be in a title, not a
    # title asked for: it does not count as a title match (RRF would otherwise reward it for being in two
    # rankings, title and full text, over items that match the query's meaning).
    title_min_coverage: float = 0.25
    # A full-text hit counts text x text_coverage**text_coverage_power: text_coverage is the share of the
    # query's words its document holds, each word weighted by its rarity in the catalog (search_lexical), so
    # one common word of a long description ("family", also a genre) cannot outvote the query's meaning.
    text: float = 1.75
    text_coverage_power: float = 1.0
    # ts_rank's weights of overview/description (D), genres/categories (C), people (B) and titles (A).
    text_fields: tuple[float, float, float, float] = (0.1, 0.2, 0.4, 0.1)
    # A match of the query's phonetic key to an item's people (director, cast, authors) counts
    # people x people_similarity: a name typed in another script or spelling ("मणिरत्नम्", "Mamooty"),
    # which full text, matching names as written, misses.
    people: float = 1.0


class SemanticSearch:
    def __init__(
        self,
        database: Database,
        embedder: QueryEmbedder,
        *,
        weights: FusionWeights | None = None,
        candidates_per_result: int = 3,
    ) -> None:
        self._database = database
        self._embedder = embedder
        self._weights = weights or FusionWeights()
        self._candidates_per_result = candidates_per_result

    def search(
        self,
        query: str,
        *,
        item_type: ItemTypeFilter = "all",
        limit: int = 10,
        threshold: float = 0.3,
        filters: SearchFilters | None = None,
        admit: Callable[[], None] | None = None,
    ) -> SearchOutcome:
        """`admit`, if given, decides whether this search may use the database (the per-IP rate limit): it runs
        beside the embedding of the query, and raises to refuse. Nothing is sent to the database for the
        search before it returns; a refused search costs its embedding and nothing else."""
        if len(query) > MAX_QUERY_LENGTH:
            raise ValidationError(f"q must be at most {MAX_QUERY_LENGTH} characters", details={"field": "q"})
        text = clean_query(query)
        if not has_words(text):
            raise ValidationError("q has no letters or digits to search for", details={"field": "q"})
        if not 1 <= limit <= MAX_RESULTS:
            raise ValidationError(f"limit must be 1 to {MAX_RESULTS}", details={"field": "limit"})
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError("threshold must be between 0 and 1", details={"field": "threshold"})
        filters = filters or SearchFilters()
        kinds = filters.kinds(item_type)
        weights = self._weights

        # The lexical rankings need no embedding: they run on the database while the model embeds the query.
        lexical_count = min(MAX_TITLE_CANDIDATES, max(10, limit))
        started = time.perf_counter()
        query_key = phonetic_key(text)
        # Sounded only without Latin letters: an English title typed phonetically in an Indian script. A Latin
        # query is its own spelling, which the key already matches.
        query_sound = (sound_key(text) or None) if "latin" not in scripts(text) else None
        # The admission check (a database round trip) runs while the model embeds the query, not before it
        # (issue 12, session 5); the lexical rankings wait for it on their own thread.
        admission = _TITLE_LOOKUPS.submit(admit) if admit is not None else None
        lexical_lookup = _TITLE_LOOKUPS.submit(
            self._lexical_rows, text, (query_key, query_sound, spoken_key(text)), kinds, lexical_count, filters,
            admission,
        )
        query_embedding = self._embedder.embed_query(text)
        embedded = time.perf_counter()
        if admission is not None:
            admission.result()  # raises if refused, before any search work reaches the database

        candidate_count = min(MAX_VECTOR_CANDIDATES, max(20, limit * self._candidates_per_result))
        # Threshold 0 in SQL: candidates under the threshold still lend a lexical match their similarity;
        # the threshold is applied to the semantic ranking below.
        # Both kinds' nearest neighbours in one call (match_items), movies first.
        candidates: dict[ItemKey, Row] = {
            (row["item_type"], int(row["item_id"])): row
            for row in self._database.match_items(
                query_embedding=query_embedding, count=candidate_count, item_type=_item_type(kinds),
                language=filters.language, genre=filters.genre, category=filters.category,
                year_from=filters.year_from, year_to=filters.year_to,
            )
            if row["item_type"] in kinds
        }
        lexical = {
            (row["item_type"], int(row["item_id"])): row
            for row in lexical_lookup.result()
            if row["item_type"] in kinds
        }
        finished = time.perf_counter()

        semantic = sorted(
            (key for key, row in candidates.items() if row["similarity"] >= threshold),
            key=lambda key: -candidates[key]["similarity"],
        )
        folded = text.casefold()

        def title_weight(row: Row) -> float:
            coverage = float(row["title_coverage"] or 0.0)
            return weights.title * float(row["title_similarity"]) * coverage**weights.title_coverage_power

        # Equal scores ("Drishyam" and "Drishyam 2"): the exact title first, then the shorter, closer one.
        titles = sorted(
            (
                key for key, row in lexical.items()
                if row["title_similarity"] is not None
                and float(row["title_coverage"] or 0.0) >= weights.title_min_coverage
            ),
            key=lambda key: (-title_weight(lexical[key]), lexical[key]["title"].casefold() != folded,
                             len(lexical[key]["title"]), key),
        )

        def text_coverage(row: Row) -> float:
            coverage = row.get("text_coverage")
            return 1.0 if coverage is None else float(coverage)

        # As search_lexical orders them: the share of the query's words held first, then ts_rank.
        texts = sorted(
            (key for key, row in lexical.items() if row["text_rank"] is not None),
            key=lambda key: (-text_coverage(lexical[key]), -float(lexical[key]["text_rank"]), key),
        )
        people = sorted(
            (key for key, row in lexical.items() if row.get("people_similarity") is not None),
            key=lambda key: (-float(lexical[key]["people_similarity"]), key),
        )
        semantic_weight = weights.semantic if "latin" in scripts(text) else weights.semantic_non_latin
        fused = reciprocal_rank_fusion(
            [semantic, titles, texts, people],
            [
                [semantic_weight] * len(semantic),
                [title_weight(lexical[key]) for key in titles],
                [weights.text * text_coverage(lexical[key]) ** weights.text_coverage_power for key in texts],
                [weights.people * float(lexical[key]["people_similarity"]) for key in people],
            ],
            k=weights.rrf_k,
        )
        ranked_by = {"semantic": set(semantic), "title": set(titles), "text": set(texts), "people": set(people)}
        ordered = sorted(
            fused,
            key=lambda key: (
                -fused[key],
                -(candidates[key]["similarity"] if key in candidates else 0.0),
                key,
            ),
        )
        hits = [
            self._hit(key, fused[key], candidates.get(key), lexical.get(key), ranked_by)
            for key in ordered[:limit]
        ]
        return SearchOutcome(
            hits=hits,
            embedding_ms=(embedded - started) * 1000,
            database_ms=(finished - embedded) * 1000,
        )

    def _lexical_rows(
        self, text: str, query_keys: tuple[str, str | None, str | None], kinds: tuple[ItemType, ...], count: int,
        filters: SearchFilters, admission: Future[None] | None,
    ) -> list[Row]:
        if admission is not None:
            admission.result()
        query_key, query_sound, query_spoken_key = query_keys
        return self._database.search_lexical(
            query=text, query_key=query_key, item_type=_item_type(kinds), count=count, language=filters.language,
            genre=filters.genre, category=filters.category, year_from=filters.year_from,
            year_to=filters.year_to, rank_weights=self._weights.text_fields, query_sound=query_sound,
            query_spoken_key=query_spoken_key,
        )

    @staticmethod
    def _hit(
        key: ItemKey, score: float, candidate: Row | None, lexical_row: Row | None, ranked_by: dict[str, set]
    ) -> SearchHit:
        kind, item_id = key
        matched_by = tuple(name for name, keys in ranked_by.items() if key in keys)
        title_similarity = (
            float(lexical_row["title_similarity"])
            if lexical_row is not None and lexical_row["title_similarity"] is not None
            else None
        )
        if candidate is not None:
            return SearchHit(
                item_id=item_id,
                item_type=kind,
                title=candidate["title"],
                year=candidate["year"],
                image_url=candidate["image_url"],
                score=score,
                similarity=float(candidate["similarity"]),
                title_similarity=title_similarity,
                matched_by=matched_by,
                details={name: candidate.get(name) for name in DETAIL_FIELDS},
            )
        if lexical_row is None:  # fusion only holds keys from the rankings
            raise AssertionError(f"{key} was fused without a row")
        return SearchHit(
            item_id=item_id,
            item_type=kind,
            title=lexical_row["title"],
            year=lexical_row["year"],
            image_url=lexical_row["image_url"],
            score=score,
            similarity=None,
            title_similarity=title_similarity,
            matched_by=matched_by,
            details={name: lexical_row.get(name) for name in DETAIL_FIELDS},
        )
