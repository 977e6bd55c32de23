"""Semantic search with the real model and the real database: meaning, titles (misspelt too), filters."""

from __future__ import annotations

import pytest

from cinelibre.errors import ValidationError
from cinelibre.search import SearchFilters, SemanticSearch


@pytest.fixture
def search(db, embedder, search_catalog):
    return SemanticSearch(db, embedder)


def titles(outcome) -> list[str]:
    return [hit.title for hit in outcome.hits]


@pytest.mark.parametrize(
    "query, expected",
    [
        ("Bahubali", "Baahubali: The Beginning"),  # misspelt transliteration
        ("baahubali 2", "Baahubali 2: The Conclusion"),
        ("Drishyam", "Drishyam"),
        ("drishyam 2", "Drishyam 2"),
        ("Dangal", "Dangal"),
        ("pather panchali", "Pather Panchali"),
        ("Interstelar", "Interstellar"),
        ("The Hobit", "The Hobbit"),
    ],
)
def test_a_query_that_is_a_title_finds_that_title_first(search, query, expected):
    outcome = search.search(query, limit=5)
    assert titles(outcome)[0] == expected
    assert "title" in outcome.hits[0].matched_by


def test_both_baahubali_films_lead_a_search_for_the_name(search):
    assert set(titles(search.search("Bahubali", limit=5))[:2]) == {
        "Baahubali: The Beginning",
        "Baahubali 2: The Conclusion",
    }


@pytest.mark.parametrize(
    "query, expected",
    [
        ("a film-loving cable operator outwits a police inspector to shield his family", "Drishyam"),
        ("astronauts travel through a wormhole to save humanity from a dying earth", "Interstellar"),
        ("village farmers play cricket against british officers to avoid taxes", "Lagaan"),
        ("a hobbit and dwarves go on a quest to take treasure back from a dragon", "The Hobbit"),
        ("a father trains his daughters to become wrestling champions", "Dangal"),
    ],
)
def test_a_description_finds_the_work_by_meaning(search, query, expected):
    outcome = search.search(query, limit=3)
    assert expected in titles(outcome)
    hit = next(hit for hit in outcome.hits if hit.title == expected)
    assert "semantic" in hit.matched_by
    assert 0.3 <= hit.similarity <= 1.0


def test_stranded_on_mars_finds_the_film_and_the_novel(search):
    outcome = search.search("stranded alone on mars growing potatoes to survive", limit=4)
    kinds = {(hit.item_type, hit.title) for hit in outcome.hits[:2]}
    assert kinds == {("movie", "The Martian"), ("book", "The Martian")}


def test_results_are_fused_in_order_and_carry_scores_but_never_vectors(search):
    outcome = search.search("science fiction in space", limit=10)
    scores = [hit.score for hit in outcome.hits]
    assert scores == sorted(scores, reverse=True)
    for hit in outcome.hits:
        assert "embedding" not in hit.details
        assert hit.similarity is None or 0.0 <= hit.similarity <= 1.0
    assert outcome.embedding_ms > 0


def test_item_type_and_filters_apply_to_semantic_and_title_matches(search, search_catalog):
    books = search.search("The Martian", item_type="book", limit=5)
    assert books.hits[0].title == "The Martian" and {hit.item_type for hit in books.hits} == {"book"}

    telugu = search.search("Bahubali", limit=10, filters=SearchFilters(language="te"))
    assert titles(telugu)[0] == "Baahubali: The Beginning"
    assert all(hit.details.get("language") == "te" for hit in telugu.hits)

    malayalam = search.search("Bahubali", limit=10, filters=SearchFilters(language="ml"))
    assert not any(title.startswith("Baahubali") for title in titles(malayalam))

    sport = search.search("an underdog team from a village", limit=10, filters=SearchFilters(genre="Sport"))
    assert set(titles(sport)) <= {"Dangal", "Lagaan"} and titles(sport)
    assert {hit.item_type for hit in sport.hits} == {"movie"}

    old = search.search("Drishyam", limit=10, filters=SearchFilters(year_from=1950, year_to=2000))
    assert "Drishyam" not in titles(old)
    assert all(hit.year is not None and 1950 <= hit.year <= 2000 for hit in old.hits)

    romance = search.search("love and first impressions", limit=5, filters=SearchFilters(category="Romance"))
    assert titles(romance) == ["Pride and Prejudice"]


def test_a_title_match_survives_a_threshold_that_drops_every_semantic_match(search):
    outcome = search.search("Drishyam", limit=5, threshold=0.99)
    assert titles(outcome)[:2] == ["Drishyam", "Drishyam 2"]
    assert all("title" in hit.matched_by for hit in outcome.hits[:2])
    # The threshold bounds the semantic ranking only; lexical (title and full-text) matches stay.
    assert all("semantic" not in hit.matched_by for hit in outcome.hits)
    quiet = search.search("a quiet afternoon of tea", limit=5, threshold=0.99)
    assert all(hit.matched_by == ("text",) for hit in quiet.hits)


@pytest.mark.parametrize(
    "arguments, field",
    [
        ({"query": "   "}, "q"),
        ({"query": "x" * 501}, "q"),
        ({"query": "ok", "limit": 0}, "limit"),
        ({"query": "ok", "limit": 51}, "limit"),
        ({"query": "ok", "threshold": 1.5}, "threshold"),
    ],
)
def test_bad_arguments_are_refused_with_the_field(search, arguments, field):
    query = arguments.pop("query")
    with pytest.raises(ValidationError) as raised:
        search.search(query, **arguments)
    assert raised.value.details == {"field": field}


class _CallLog:
    """The real database, with the names of the calls made through it."""

    def __init__(self, database):
        self.database = database
        self.calls: list[str] = []

    def __getattr__(self, name):
        method = getattr(self.database, name)

        def recorded(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return recorded


def test_a_refused_search_sends_no_search_to_the_database(db, embedder, search_catalog):
    """The admission check (the per-IP limit) runs beside the embedding; a refusal stops the search before it
    reaches the database, and an admitted search runs after the check."""
    from cinelibre.errors import RateLimitedError

    log = _CallLog(db)
    refusals = 0

    def refuse() -> None:
        nonlocal refusals
        refusals += 1
        raise RateLimitedError("too many searches", retry_after_s=5)

    with pytest.raises(RateLimitedError):
        SemanticSearch(log, embedder).search("Bahubali", limit=5, admit=refuse)
    assert refusals == 1 and log.calls == []

    order: list[str] = []
    log.calls = order
    outcome = SemanticSearch(log, embedder).search("Bahubali", limit=5, admit=lambda: order.append("admit"))
    assert titles(outcome)[0].startswith("Baahubali")
    assert order[0] == "admit" and sorted(order[1:]) == ["match_items", "search_lexical"]


def test_the_query_vector_sent_in_binary_is_the_text_literal_bit_for_bit(db, embedder, search_catalog, pg_url):
    """Issue 12, session 6: the adapter sends a vector argument in pgvector's binary form. The server sees the
    same float4 values as from the text literal, so match_items answers the same rows with the same similarities."""
    import numpy as np
    import psycopg
    from pgvector import Vector

    from cinelibre.db.postgres import vector_literal

    vectors = [embedder.embed_query(text) for text in ("a heist in a casino", "Bahubali", "दृश्यम", "x")]
    with psycopg.connect(pg_url) as conn:
        for vector in vectors:
            as_binary, as_text = conn.execute(
                "select %s::extensions.vector::text, %s::extensions.vector::text",
                (Vector(vector), vector_literal(vector)),
            ).fetchone()
            assert as_binary == as_text
            stored = np.array(as_binary.strip("[]").split(","), dtype=np.float32)
            assert stored.tolist() == vector  # the model's float32s, none rounded
    for vector in vectors:
        through_binary = db.match_items(query_embedding=vector, count=20, item_type="all")
        through_text = db.match_items(query_embedding=vector_literal(vector), count=20, item_type="all")
        assert through_binary == through_text and len(through_binary) == 22
