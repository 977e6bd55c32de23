"""search_lexical's shortcuts (issue 12, session 4) return what the function before them returned.

Migration 20261226000100 stops counting the holders of words the planner's statistics already put over the cap,
and finds a short query's title matches among the closest titles first. Both are meant to change the work, not
the answer: these tests run the session-2 function (migration 20261214000200, which scored every title and
counted every word) beside the current one on catalogs where each shortcut is taken, and compare every row.
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


def test_common_words_weigh_what_counting_their_holders_gave(db, pg_url, counted_function):
    # 1,700 movies all holding "river" (more than 1.5 x the cap of 1,000, so the statistics decide), a few
    # also holding the rarer words; analysed, as autovacuum would.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "with new_items as (insert into public.items (item_type) select 'movie' from generate_series(1, 1700)"
            " returning id)"
            " insert into public.movies (item_id, tmdb_id, title, overview, original_language, release_year)"
            " select id, id, 'Film ' || id, 'A boat on the river'"
            " || case when id % 50 = 0 then ' and a ghost' else '' end"
            " || case when id % 170 = 0 then ' in a lighthouse' else '' end,"
            " (array['te', 'ml', 'hi'])[1 + id % 3], 1990 + id % 30 from new_items"
        )
        conn.execute("analyze public.movies")
        shares = conn.execute(
            "select most_common_elem_freqs[array_position(most_common_elems::text::text[], 'river')]"
            " from pg_catalog.pg_stats where tablename = 'movies' and attname = 'search_document'"
        ).fetchone()[0]
    assert shares * 1700 >= 1500  # the shortcut is taken for "river"
    for query in ("river", "a ghost on the river", "lighthouse river ghost boat", "river boat"):
        for language in (None, "ml"):
            current, counted = _both(pg_url, query, count=20, language=language)
            assert current == counted, (query, language)
            assert current  # something was ranked
    coverage = {row[0]: row[14] for row in _both(pg_url, "lighthouse river ghost boat", count=20)[0]}
    # The movies holding every word lead and cover all of the query.
    assert max(coverage.values()) == pytest.approx(1.0)


def test_a_short_title_query_finds_the_same_titles_among_the_closest_first(db, pg_url, counted_function):
    # "bera" is keyed "per": twelve titles hold the word exactly (at least the tier's 0.75 similar), many more
    # hold it inside a longer word ("paper", 0.5): the closest twelve are enough for a page of ten, never for thirty.
    db.upsert_movies(movies=[movie(number, f"Per Kingdom {number}") for number in range(1, 13)]
                     + [movie(number, f"Paper Moon {number}") for number in range(13, 41)])
    with psycopg.connect(pg_url) as conn:
        close = conn.execute(
            "select count(*) from public.movies where extensions.word_similarity('per', title_keys) >= 0.75"
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
