"""search_lexical's lookup for short title queries (migration 20261229000200) returns what the function before it
did.

The lookup finds a short query's title matches among the closest titles first. It is meant to change the work, not
the answer: this test runs the function it replaced (migration 20261229000100, which scores every title) beside the
current one on a catalog where the lookup fills the page, and where it does not, and compares every row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cinelibre.text import phonetic_key, spoken_key
from tests.db.catalog_rows import movie

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
        current = sorted(conn.execute(CALL.format(name="search_lexical"), params).fetchall())
        counted = sorted(conn.execute(CALL.format(name="search_lexical_counted"), params).fetchall())
    return current, counted


def test_a_short_title_query_finds_the_same_titles_among_the_closest_first(db, pg_url, counted_function):
    # "bera" is keyed "per": twelve titles hold the word exactly (at least the lookup's 0.6 similar), many more
    # hold it inside a longer word ("paper", 0.5): the closest twelve fill a page of ten, not one of thirty.
    db.upsert_movies(movies=[movie(number, f"Per Kingdom {number}", original_language="te")
                             for number in range(1, 13)]
                     + [movie(number, f"Paper Moon {number}", original_language="hi") for number in range(13, 41)])
    with psycopg.connect(pg_url) as conn:
        close = conn.execute(
            "select count(*) from public.movie_search where extensions.word_similarity('per', title_keys) >= 0.6"
        ).fetchone()[0]
        loose = conn.execute(
            "select count(*) from public.movie_search where extensions.word_similarity('per', title_keys) >= 0.5"
        ).fetchone()[0]
    assert 10 <= close < 30 < loose
    for query, count, language in (("bera", 10, None), ("bera", 30, None), ("bera", 10, "hi"), ("bera", 10, "te"),
                                   ("per kingdom", 10, None), ("papr", 10, None), ("paper moon 17", 10, None)):
        current, counted = _both(pg_url, query, count=count, language=language)
        assert current == counted, (query, count, language)
        assert any(row[11] is not None for row in current), query  # title matches were found
    titles = [row[2] for row in sorted(_both(pg_url, "bera")[0], key=lambda row: -(row[11] or 0))]
    assert all(re.fullmatch(r"Per Kingdom \d+", title) for title in titles[:10])
