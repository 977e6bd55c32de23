"""search_lexical's bounded work returns what the function that does all of it returned.

Each change here was meant to change the work, not the answer: these tests run the function that scores every
title and counts every word (migration 20261229000100) beside the current one and compare rows. Where the answer
does change (the title match through the titles' words, migration 20270102000100), a test says how.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cinelibre.text import phonetic_key, spoken_key
from tests.db.catalog_rows import movie
from tests.db.test_index_use import _plans

EARLIER_FUNCTION = (
    Path(__file__).parents[2] / "supabase" / "migrations" / "20261229000100_move_search_columns_to_side_tables.sql"
)
CALL = (
    "select * from public.{name}(%(q)s, %(key)s, 'all', %(count)s, %(language)s, null, null, null, null,"
    " '{{0.1,0.2,0.4,0.1}}', null, %(spoken)s)"
)


@pytest.fixture
def counted_function(db, pg_url: str) -> Iterator[None]:
    """The search_lexical of migration 20261229000100 as public.search_lexical_counted."""
    text = EARLIER_FUNCTION.read_text()
    start = text.index("create or replace function public.search_lexical(")
    create = text[start:text.index("revoke execute", start)]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(create.replace("public.search_lexical(", "public.search_lexical_counted(", 1))
    try:
        yield
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("drop function public.search_lexical_counted")


def _both(pg_url: str, query: str, *, count: int = 10, language: str | None = None) -> tuple[list, list]:
    params = {"q": query, "key": phonetic_key(query), "spoken": spoken_key(query), "count": count,
              "language": language}
    with psycopg.connect(pg_url) as conn:
        # Parallel workers would make the counted function's first candidates depend on which worker came first.
        conn.execute("set max_parallel_workers_per_gather = 0")
        current = sorted(conn.execute(CALL.format(name="search_lexical"), params).fetchall())
        counted = sorted(conn.execute(CALL.format(name="search_lexical_counted"), params).fetchall())
    return current, counted


def test_a_title_query_finds_what_scoring_every_title_finds_when_the_titles_hold_its_words(
    db, pg_url, counted_function
):
    # Title matches are scored among the titles holding a close word of the query's words (migration
    # 20270102000100): where every match holds them, the rows are those of the function that scores every title.
    db.upsert_movies(movies=[movie(number, f"Per Kingdom {number}", original_language="te")
                             for number in range(1, 13)]
                     + [movie(number, f"Paper Moon {number}", original_language="hi") for number in range(13, 41)])
    for query, count, language in (("bera", 10, None), ("bera", 10, "te"), ("per kingdom", 10, None),
                                   ("per kingdom", 30, None), ("papr", 10, None), ("paper mon", 10, "hi"),
                                   ("paper moon 17", 10, None)):
        current, counted = _both(pg_url, query, count=count, language=language)
        assert current == counted, (query, count, language)
        assert any(row[11] is not None for row in current), query  # title matches were found
    titles = [row[2] for row in sorted(_both(pg_url, "bera")[0], key=lambda row: -(row[11] or 0))]
    assert all(re.fullmatch(r"Per Kingdom \d+", title) for title in titles[:10])


def test_a_word_inside_a_longer_title_word_is_no_longer_a_title_match(db, pg_url, counted_function):
    # What the word lookup gives up: "per" (the key of "bera") is half of the trigrams of "paper", so scoring
    # every title filled a page of thirty with "Paper Moon"s at 0.5. A title must now hold the word, or one a
    # letter away.
    db.upsert_movies(movies=[movie(number, f"Per Kingdom {number}", original_language="te")
                             for number in range(1, 13)]
                     + [movie(number, f"Paper Moon {number}", original_language="hi") for number in range(13, 41)])
    current, counted = _both(pg_url, "bera", count=30)
    titles = {row[2] for row in current if row[11] is not None}
    assert titles == {f"Per Kingdom {number}" for number in range(1, 13)}
    assert {row[2] for row in counted if row[11] is not None} > titles


def test_a_query_of_more_than_ten_known_words_is_matched_as_before(db, pg_url, counted_function):
    # Covers are sets of a way's words (2^n of them); past ten words in the vocabulary the function scores
    # every title, as the function before it did.
    words = "amber basil cedar dahlia elder fennel ginger hazel iris juniper kale"
    db.upsert_movies(movies=[movie(1, words.title(), original_language="hi"),
                             movie(2, "Amber Basil", original_language="hi"),
                             movie(3, "Juniper Kale Iris", original_language="te")])
    for count in (10, 30):
        current, counted = _both(pg_url, words, count=count)
        assert current == counted, count
        assert any(row[11] is not None for row in current)
    plans = _plans(pg_url, "select * from public.search_lexical(%(q)s, %(key)s)", {"q": words, "key": words})
    assert "movie_search_title_keys_trgm_idx" in plans  # the trigram match, not the title words
    assert "movie_search_title_words_idx" not in plans


# -- Words' holders read from the counts the catalog's writes keep (migration 20270103000100, issue 12, session 8)

COMMON_DOCUMENTS = 1_200  # over search_lexical's word_count_cap (1,000): counting would stop at the cap


def _add_movies(conn: psycopg.Connection, count: int, title: str, overview: str) -> None:
    conn.execute(
        "with new_items as (insert into items (item_type) select 'movie' from generate_series(1, %(count)s)"
        " returning id)"
        " insert into movies (item_id, tmdb_id, title, original_language, overview)"
        " select id, id, %(title)s || ' ' || id, 'hi', %(overview)s from new_items",
        {"count": count, "title": title, "overview": overview},
    )


def _held_by(pg_url: str, lexeme: str) -> int:
    """How many movies hold `lexeme`, as search_lexical reads it."""
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "select coalesce(sum(documents), 0)::integer from public.search_word_documents"
            " where item_type = 'movie' and lexeme = %s",
            (lexeme,),
        ).fetchone()[0]


def test_words_weigh_as_counting_their_holders_weighs_them_after_every_write(db, pg_url, counted_function):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _add_movies(conn, COMMON_DOCUMENTS, "Film", "A kingdom at war.")
        _add_movies(conn, 10, "Dune", "A kingdom of sand.")
        _add_movies(conn, 25, "Desert", "Sand and wind.")
    assert _held_by(pg_url, "kingdom") == COMMON_DOCUMENTS + 10
    queries = ("kingdom sand", "sand kingdom war", "kingdom", "a desert kingdom", "dune 17")
    for query in queries:
        current, counted = _both(pg_url, query)
        assert current == counted, query
        assert current, query

    # Most holders of "kingdom" go: it weighs as the rare word it has become at once (no ANALYZE in between).
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("delete from items where id in (select item_id from movies where title like 'Film %%'"
                     " order by item_id limit %s)", (COMMON_DOCUMENTS - 5,))
    assert _held_by(pg_url, "kingdom") == 15
    for query in queries:
        current, counted = _both(pg_url, query, count=50)
        assert current == counted, query
    coverage = {row[2]: row[14] for row in _both(pg_url, "kingdom sand", count=50)[0] if row[14] is not None}
    # "kingdom" now weighs more than "sand" (15 holders against 35): the Films left, holding "kingdom" alone,
    # cover more than half of the query; a Dune, holding both, all of it.
    films = [value for title, value in coverage.items() if title.startswith("Film")]
    assert len(films) == 5 and all(0.5 < value < 1 for value in films)
    assert {value for title, value in coverage.items() if title.startswith("Dune")} == {1.0}


def test_the_counts_are_read_as_row_level_security_applies(db, pg_url):
    """search_lexical runs as its caller (anon through PostgREST), whom row level security applies to: the counts
    it reads are public, so anon's search weighs words as the owner's does."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _add_movies(conn, 50, "Film", "A kingdom at war.")
        _add_movies(conn, 5, "Dune", "A kingdom of sand.")
    params = {"q": "kingdom sand", "key": phonetic_key("kingdom sand"), "spoken": None, "count": 20,
              "language": None}
    with psycopg.connect(pg_url) as conn:
        owner = sorted(conn.execute(CALL.format(name="search_lexical"), params).fetchall())
        conn.execute("set role anon")
        anon = sorted(conn.execute(CALL.format(name="search_lexical"), params).fetchall())
    assert anon == owner
    # "sand" (5 holders) weighs more than "kingdom" (55): were the counts hidden, both would weigh the same.
    assert {row[14] for row in owner if row[2].startswith("Dune")} == {1.0}
    films = [row[14] for row in owner if row[2].startswith("Film")]
    assert films and all(0 < value < 0.5 for value in films)


SCANNED_DOCUMENTS = 51_000  # over 50 times the candidate budget (1,000): the table is read in order


def test_a_word_in_most_documents_finds_the_same_candidates_by_reading_the_table(
    db, pg_url, counted_function
):
    """When one word held by tens of thousands of documents picks the full-text candidates, search_lexical reads
    the table in order until it has them rather than building the word's posting list: the same first 1,000."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        _add_movies(conn, SCANNED_DOCUMENTS // 2, "Film", "A thriller at sea.")
        _add_movies(conn, 300, "Storm", "A storm at sea, and a thriller on the shore.")
        _add_movies(conn, SCANNED_DOCUMENTS // 2, "Film", "A thriller in the city.")
    assert _held_by(pg_url, "thriller") >= 50 * 1_000
    plans: list[str] = []
    for query, count in (("thriller", 10), ("storm thriller", 30), ("a thriller in the city", 50),
                         ("city thriller shore", 10)):
        current, counted = _both(pg_url, query, count=count)
        assert current == counted, query
        assert any(row[13] is not None for row in current), query  # full-text hits were found
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
        conn.execute("load 'auto_explain'")
        conn.execute("set auto_explain.log_min_duration = 0")
        conn.execute("set auto_explain.log_nested_statements = on")
        conn.execute("set client_min_messages = log")
        conn.execute(CALL.format(name="search_lexical"),
                     {"q": "thriller", "key": "triler", "spoken": None, "count": 10, "language": None}).fetchall()
    assert any("Seq Scan on movie_search" in plan for plan in plans)
    # A filter thins the holders out: the posting list is read as before.
    plans.clear()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
        conn.execute("load 'auto_explain'")
        conn.execute("set auto_explain.log_min_duration = 0")
        conn.execute("set auto_explain.log_nested_statements = on")
        conn.execute("set client_min_messages = log")
        conn.execute(CALL.format(name="search_lexical"),
                     {"q": "thriller", "key": "triler", "spoken": None, "count": 10, "language": "hi"}).fetchall()
    assert not any("Seq Scan" in plan for plan in plans)
    current, counted = _both(pg_url, "thriller", language="hi")
    assert current == counted
