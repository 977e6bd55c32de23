"""search_lexical's shortcut for short title queries (issue 12, session 4) returns what the function before it did.

Migration 20261226000100 finds a short query's title matches among the closest titles first. It is meant to change
the work, not the answer: this test runs the session-2 function (migration 20261214000200, which scored every
title) beside the current one on a catalog where the shortcut is taken, and where it is not, and compares every row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cinelibre.text import phonetic_key, spoken_key
from tests.db.catalog_rows import movie

SESSION_2_FUNCTION = (
    Path(__file__).parents[2] / "supabase" / "migrations" / "20261214000200_bound_lexical_search.sql"
)
CALL = (
    "select * from public.{name}(%(q)s, %(key)s, 'all', %(count)s, %(language)s, null, null, null, null,"
    " '{{0.1,0.2,0.4,0.1}}', null, %(spoken)s)"
)


@pytest.fixture
def counted_function(db, pg_url: str) -> Iterator[None]:
    """The session-2 search_lexical as public.search_lexical_counted."""
    text = SESSION_2_FUNCTION.read_text()
    create = text[text.index("create function public.search_lexical("):text.index("revoke execute")]
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
        current = sorted(conn.execute(CALL.format(name="search_lexical"), params).fetchall())
        counted = sorted(conn.execute(CALL.format(name="search_lexical_counted"), params).fetchall())
    return current, counted


def test_a_short_title_query_finds_the_same_titles_among_the_closest_first(db, pg_url, counted_function):
    # "bera" is keyed "per": twelve titles hold the word exactly (at least the tier's 0.6 similar), many more
    # hold it inside a longer word ("paper", 0.5): the closest twelve fill a page of ten, not one of thirty.
    db.upsert_movies(movies=[movie(number, f"Per Kingdom {number}") for number in range(1, 13)]
                     + [movie(number, f"Paper Moon {number}") for number in range(13, 41)])
    with psycopg.connect(pg_url) as conn:
        close = conn.execute(
            "select count(*) from public.movies where extensions.word_similarity('per', title_keys) >= 0.6"
        ).fetchone()[0]
        loose = conn.execute(
            "select count(*) from public.movies where extensions.word_similarity('per', title_keys) >= 0.5"
        ).fetchone()[0]
    assert 10 <= close < 30 < loose
    for query, count in (("bera", 10), ("bera", 30), ("per kingdom", 10), ("papr", 10), ("paper moon 17", 10)):
        current, counted = _both(pg_url, query, count=count)
        assert current == counted, (query, count)
        assert any(row[11] is not None for row in current), query  # title matches were found
    titles = [row[2] for row in sorted(_both(pg_url, "bera")[0], key=lambda row: -(row[11] or 0))]
    assert all(re.fullmatch(r"Per Kingdom \d+", title) for title in titles[:10])

