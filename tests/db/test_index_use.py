"""The search functions must use their indexes, inside the function, as PostgREST would call them.

auto_explain logs the plan of every statement a function runs; with client_min_messages = log the plans
arrive as notices on the test's own connection. The catalog is 12,000 movies and 12,000 books: with fewer
rows a sequential scan really is cheaper than an HNSW search at ef_search = 100, and the planner rightly
takes it, so a small table would prove nothing."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from cinelibre.db.migrate import apply_migrations
from tests.db.catalog_rows import unit

ROWS = 12_000
_RANDOM_VECTOR = (
    "(select array_agg(random() - 0.5) from generate_series(1, 384) where id > 0)::real[]::extensions.vector"
)


@pytest.fixture(scope="module")
def scale_url(pg_url: str) -> Iterator[str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database if exists index_scale with (force)")
        conn.execute("create database index_scale")
    url = pg_url.replace("/cinelibre?", "/index_scale?", 1)
    apply_migrations(url)
    with psycopg.connect(url, autocommit=True) as conn:
        # Bulk load first and build the HNSW indexes afterwards (the per-language ones too), as one would for a
        # large import.
        hnsw = dict(conn.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'public'"
            " and tablename in ('movies', 'books') and indexdef like '%USING hnsw%'"
        ).fetchall())
        conn.execute("drop index " + ", ".join(f"public.{name}" for name in hnsw))
        conn.execute(
            f"with new_items as (insert into items (item_type) select 'movie' from generate_series(1, {ROWS})"
            " returning id)"
            " insert into movies (item_id, tmdb_id, title, original_language, release_year, embedding)"
            " select id, id, 'Film ' || substr(md5(id::text), 1, 10), (array['te', 'ml', 'hi'])[1 + id % 3],"
            " 1990 + id % 35,"
            f" {_RANDOM_VECTOR} from new_items"
        )
        conn.execute(
            f"with new_items as (insert into items (item_type) select 'book' from generate_series(1, {ROWS})"
            " returning id)"
            " insert into books (item_id, google_id, title, published_date, categories, embedding)"
            " select id, 'vol' || id, 'Book ' || id, (1900 + id % 120)::text, array['Fiction'],"
            f" {_RANDOM_VECTOR} from new_items"
        )
        conn.execute("set maintenance_work_mem = '256MB'")
        for definition in hnsw.values():
            conn.execute(definition)
        conn.execute("analyze")
    yield url
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database index_scale with (force)")


def _plans(url: str, statement: str, params: dict, *, calls_before: int = 0) -> str:
    """The plans of `statement`'s queries, after `calls_before` calls in the same session (a function's
    cached generic plan replaces its custom ones after five)."""
    notices: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(calls_before):
            conn.execute(statement, params).fetchall()
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        conn.execute("load 'auto_explain'")
        conn.execute("set auto_explain.log_min_duration = 0")
        conn.execute("set auto_explain.log_nested_statements = on")
        conn.execute("set client_min_messages = log")
        rows = conn.execute(statement, params).fetchall()
    assert rows, "the query returned nothing, so its plan proves nothing"
    return "\n".join(notices)


QUERY = "[" + ",".join(str(v) for v in unit(77)) + "]"


@pytest.mark.parametrize(
    ("statement", "index"),
    [
        ("select * from public.match_movies(query_embedding => %(q)s::extensions.vector, match_count => 10)",
         "movies_embedding_idx"),
        # A catalog language has its own index (migration 20270102000200).
        ("select * from public.match_movies(query_embedding => %(q)s::extensions.vector, match_count => 10,"
         " filter_language => 'ml', year_from => 2010)", "movies_embedding_ml_idx"),
        ("select * from public.match_books(query_embedding => %(q)s::extensions.vector, match_count => 10)",
         "books_embedding_idx"),
        ("select * from public.match_books(query_embedding => %(q)s::extensions.vector, match_count => 10,"
         " filter_category => 'Fiction')", "books_embedding_idx"),
    ],
)
def test_vector_search_uses_the_hnsw_index(scale_url, statement, index):
    assert f"Index Scan using {index}" in _plans(scale_url, statement, {"q": QUERY})


def test_filtered_search_still_returns_a_full_page(scale_url):
    """Without iterative scans a filtered HNSW query stops at ef_search candidates and returns too few."""
    with psycopg.connect(scale_url) as conn:
        rows = conn.execute(
            "select original_language from public.match_movies(%s::extensions.vector, -1, 50, 'hi')", (QUERY,)
        ).fetchall()
    assert len(rows) == 50 and {r[0] for r in rows} == {"hi"}


def test_similar_items_uses_the_hnsw_index(scale_url):
    plans = _plans(scale_url, "select * from public.get_similar_items(42, 'book', 5)", {})
    assert "Index Scan using books_embedding_idx" in plans


def test_title_search_uses_the_trigram_index(scale_url):
    with psycopg.connect(scale_url) as conn:
        title = conn.execute("select title from movies where tmdb_id = 1234").fetchone()[0]
    misspelt = title[:-2] + "x"  # one character lost, one wrong: still found, through the index
    plans = _plans(scale_url, "select * from public.search_titles(%(q)s, 'movie', 5)", {"q": misspelt})
    assert "movies_title_trgm_idx" in plans


def test_lexical_search_uses_the_title_word_and_full_text_indexes(scale_url):
    with psycopg.connect(scale_url, autocommit=True) as conn:
        # Keys as set_title_keys would store them (the bulk load above bypassed the upsert path).
        conn.execute("update movie_search set title_keys = lower(title) where title_keys is null")
        conn.execute("analyze movie_search")
        title, language = conn.execute("select title, original_language from movies where tmdb_id = 4321").fetchone()
    # Without the word "Film", which every generated title holds: a term in every row is rightly scanned.
    misspelt = title.removeprefix("Film ")[:-1] + "x"  # one letter changed: still found, through the index
    plans = _plans(
        scale_url,
        "select * from public.search_lexical(%(q)s, %(key)s, 'movie', 10)",
        {"q": misspelt, "key": misspelt.lower()},
    )
    assert "title_vocabulary_neighbours_idx" in plans
    assert "movie_search_title_words_idx" in plans
    assert "movie_search_document_idx" in plans
    # Once the plan is cached (generic), filtered or not, every ranking still goes through its index.
    filtered = _plans(
        scale_url,
        "select * from public.search_lexical(%(q)s, %(key)s, 'all', 10, %(language)s)",
        {"q": misspelt, "key": misspelt.lower(), "language": language},
        calls_before=6,
    )
    _assert_rankings_use_their_indexes(filtered)


def _assert_rankings_use_their_indexes(plans: str) -> None:
    # The title matches are scored by their own statement, once per tier of covers tried (titles holding 80% of
    # the query's trigrams, then half: migration 20270102000100), before the one that ranks the rest; all read
    # the side tables (migration 20261229000100), the catalog only for hits.
    ranking_plans = [plan for plan in plans.split("duration:") if "movie_filter" in plan]
    lookups = [plan for plan in ranking_plans if "array_agg(h.item_id" in plan]
    assert 1 <= len(lookups) <= 2, "the title match did not run"
    assert len(ranking_plans) == len(lookups) + 1
    assert all("movie_search_title_words_idx" in plan for plan in lookups)
    # The full-text candidates through the words' index, or through the language's (migration 20270102000200)
    # when the planner expects the filter to hold fewer rows than the words.
    assert any("movie_search_document_idx" in plan or "movie_search_language_year_idx" in plan
               for plan in ranking_plans)
    for plan in ranking_plans:
        for table in ("movie_search", "book_search", "movies", "books"):
            assert f"Seq Scan on {table} " not in plan


def test_a_tiny_catalogs_statistics_do_not_turn_the_title_lookup_into_a_scan(db, pg_url):
    """Regression: session 4's lookup, left to the statistics, scanned movies whole once its generic plan was
    cached in one fresh CI run. With a few rows analysed, a scan is what the planner would pick if it could."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "with new_items as (insert into items (item_type) select 'movie' from generate_series(1, 30) returning id)"
            " insert into movies (item_id, tmdb_id, title, original_language, overview)"
            " select id, id, 'Per Kingdom ' || id, 'hi', 'A kingdom at war.' from new_items"
        )
        conn.execute("update movie_search set title_keys = lower(title)")
        conn.execute("analyze movies, books, movie_search, book_search")
    plans = _plans(
        pg_url,
        "select * from public.search_lexical(%(q)s, %(key)s, 'all', 10, %(language)s)",
        {"q": "per kingdm", "key": "per kingdm", "language": "hi"},
        calls_before=6,
    )
    _assert_rankings_use_their_indexes(plans)
