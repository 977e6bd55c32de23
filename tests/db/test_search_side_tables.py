"""The search side tables (migration 20261229000100): every write path keeps them, the migration moves what the
catalog rows held, and catalog rows stay narrow enough to keep their embeddings in the row."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from cinelibre.db.migrate import apply_migrations, discover
from cinelibre.text import SEARCH_KEYS_VERSION, movie_title_keys, phonetic_key, spoken_key
from tests.db.catalog_rows import book, movie

SIDE_TABLES = "20261229000100_move_search_columns_to_side_tables.sql"
# The weighted document the generated column made (migration 20261204000100), to compare the trigger's with.
MOVIE_DOCUMENT = """
  setweight(to_tsvector('english', coalesce(m.title, '')), 'A')
  || setweight(to_tsvector('simple', coalesce(nullif(m.original_title, m.title), '')), 'A')
  || setweight(to_tsvector('simple', coalesce(m.director, '')), 'B')
  || setweight(jsonb_to_tsvector('simple', jsonb_path_query_array(m.cast_members, '$[*].name'), '["string"]'), 'B')
  || setweight(to_tsvector('english', public.search_words(m.genres)), 'C')
  || setweight(to_tsvector('english', coalesce(m.overview, '')), 'D')"""
BOOK_DOCUMENT = """
  setweight(to_tsvector('english', coalesce(b.title, '') || ' ' || coalesce(b.subtitle, '')), 'A')
  || setweight(to_tsvector('simple', public.search_words(b.authors)), 'B')
  || setweight(to_tsvector('english', public.search_words(b.categories)), 'C')
  || setweight(to_tsvector('english', coalesce(b.description, '')), 'D')"""


def _lexical_ids(db, query: str, **filters) -> list[int]:
    rows = db.search_lexical(query=query, query_key=phonetic_key(query), item_type=filters.pop("item_type", "all"),
                             count=10, query_spoken_key=spoken_key(query), **filters)
    return [int(row["item_id"]) for row in rows]


def _side_row(pg_url: str, table: str, item_id: int) -> tuple | None:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            f"select title, search_document::text, title_keys, search_keys_version from public.{table}"
            " where item_id = %s",
            (item_id,),
        ).fetchone()


def _item_id(pg_url: str, title: str) -> int:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "select item_id from public.movies where title = %s union all select item_id from public.books"
            " where title = %s", (title, title)
        ).fetchone()[0]


def test_an_upsert_makes_the_search_row_with_the_document_and_keys(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kaithi", original_title="கைதி", director="Lokesh Kanagaraj",
                                   overview="A prisoner drives a lorry of poisoned policemen through the night.")])
    db.upsert_books(books=[book("b1", "Godaan", authors=["Premchand"], description="A peasant dreams of a cow.")])
    with psycopg.connect(pg_url) as conn:
        movie_matches = conn.execute(
            f"select s.search_document = ({MOVIE_DOCUMENT}) from public.movie_search s"
            " join public.movies m using (item_id)"
        ).fetchall()
        book_matches = conn.execute(
            f"select s.search_document = ({BOOK_DOCUMENT}) from public.book_search s"
            " join public.books b using (item_id)"
        ).fetchall()
    assert movie_matches == [(True,)] and book_matches == [(True,)]
    title, _, keys, version = _side_row(pg_url, "movie_search", _item_id(pg_url, "Kaithi"))
    assert (title, version) == ("Kaithi", SEARCH_KEYS_VERSION)
    assert keys == movie_title_keys(movie(1, "Kaithi", original_title="கைதி"))
    assert _lexical_ids(db, "poisoned policemen") == [_item_id(pg_url, "Kaithi")]
    assert _lexical_ids(db, "peasant cow") == [_item_id(pg_url, "Godaan")]


def test_a_changed_catalog_row_changes_its_search_row(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kaithi", overview="A prisoner on parole.", original_language="ta")])
    kaithi = _item_id(pg_url, "Kaithi")
    db.upsert_movies(movies=[movie(1, "Kaithi", overview="A lorry full of poisoned policemen.",
                                   original_language="ta", content_hash="hash-changed")])
    assert _lexical_ids(db, "poisoned policemen") == [kaithi]
    assert _lexical_ids(db, "parole") == []
    # A direct update of a copied column (not through the upsert) is followed too.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("update public.movies set original_language = 'te', genres = '{Thriller}' where item_id = %s",
                     (kaithi,))
        copied = conn.execute("select original_language, genres from public.movie_search where item_id = %s",
                              (kaithi,)).fetchone()
    assert copied == ("te", ["Thriller"])
    assert _lexical_ids(db, "poisoned policemen", language="ta") == []
    assert _lexical_ids(db, "poisoned policemen", language="te", genre="Thriller") == [kaithi]


def test_a_deleted_item_leaves_no_search_row(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kaithi")])
    db.upsert_books(books=[book("b1", "Godaan")])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("delete from public.movies")
        conn.execute("delete from public.books")
        left = conn.execute(
            "select (select count(*) from public.movie_search) + (select count(*) from public.book_search)"
        ).fetchone()[0]
    assert left == 0


def test_catalog_rows_keep_their_embeddings_in_the_row(db, pg_url):
    """Regression: issue 12's search columns in the catalog rows pushed them over the TOAST threshold, and
    the embedding (the largest value, stored EXTERNAL) went out of line, so every vector search fetched its
    candidates' vectors from the TOAST table. Rows sized like the benchmark's stay whole; a row too long even so
    (a long, varied overview and cast) sends those out of line, never the vector."""
    db.upsert_movies(movies=[movie(i, f"Lagaan {i}", overview="A village cricket team takes on the British.")
                             for i in range(1, 21)])
    with psycopg.connect(pg_url) as conn:
        toast = conn.execute(
            "select reltoastrelid::regclass::text from pg_class where oid = 'public.movies'::regclass"
        ).fetchone()[0]
        assert conn.execute(f"select count(*) from {toast}").fetchone()[0] == 0
    words = [f"word{n * 7919 % 100003}" for n in range(400)]
    db.upsert_movies(movies=[
        movie(100 + i, f"Epic {i}", overview=" ".join(words[i:] + words[:i]),
              cast_members=[{"name": f"Actor {i} {n}", "character": f"Role {n}"} for n in range(40)])
        for i in range(5)
    ])
    vector_bytes = 384 * 4 + 8  # pgvector's varlena: header, dimension, unused, then the floats
    with psycopg.connect(pg_url) as conn:
        sizes = [size for (size,) in conn.execute(
            f"select sum(length(chunk_data)) from {toast} group by chunk_id"
        ).fetchall()]
    assert sizes, "nothing went out of line, so these rows prove nothing"
    assert vector_bytes not in sizes


def test_the_migration_moves_documents_and_keys_of_existing_rows(pg_url, tmp_path: Path):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database if exists side_tables with (force)")
        conn.execute("create database side_tables")
    url = pg_url.replace("/cinelibre?", "/side_tables?", 1)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for migration in discover():
        if migration.path.name < SIDE_TABLES:
            (earlier / migration.path.name).write_text(migration.text, encoding="utf-8")
    apply_migrations(url, earlier)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "with new_items as (insert into public.items (item_type) values ('movie'), ('movie') returning id)"
            " insert into public.movies (item_id, tmdb_id, title, original_title, overview, director, genres,"
            " original_language, release_year, title_keys, people_keys, search_keys_version, embedding)"
            " select id, id, 'Drishyam ' || id, 'ദൃശ്യം', 'A family hides a crime.', 'Jeethu Joseph', '{Thriller}',"
            " 'ml', 2013, 'trisyam', 'jitu josep', 2, array_fill(0.5, array[384])::real[]::extensions.vector"
            " from new_items"
        )
        conn.execute(
            "with new_items as (insert into public.items (item_type) values ('book') returning id)"
            " insert into public.books (item_id, google_id, title, authors, description, categories,"
            " published_date, language, title_keys) select id, 'g1', 'Godaan', '{Premchand}', 'A peasant.',"
            " '{Fiction}', '1936', 'hi', 'kotan' from new_items"
        )
        before = conn.execute(
            "select m.item_id, m.title, m.original_language, m.genres, m.release_year, m.search_document::text,"
            " m.title_keys, m.people_keys, m.search_keys_version from public.movies m"
            " union all select b.item_id, b.title, b.language, b.categories, b.published_year,"
            " b.search_document::text, b.title_keys, b.people_keys, b.search_keys_version from public.books b"
            " order by 1"
        ).fetchall()
    assert apply_migrations(url)[0] == SIDE_TABLES
    with psycopg.connect(url) as conn:
        after = conn.execute(
            "select item_id, title, original_language, genres, release_year, search_document::text, title_keys,"
            " people_keys, search_keys_version from public.movie_search"
            " union all select item_id, title, language, categories, published_year, search_document::text,"
            " title_keys, people_keys, search_keys_version from public.book_search order by 1"
        ).fetchall()
        moved = conn.execute(
            "select count(*) from information_schema.columns where table_schema = 'public'"
            " and table_name in ('movies', 'books')"
            " and column_name in ('search_document', 'title_keys', 'people_keys', 'search_keys_version')"
        ).fetchone()[0]
    assert after == before and len(after) == 3
    assert moved == 0
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database side_tables with (force)")


@pytest.mark.parametrize("table", ["movie_search", "book_search"])
def test_the_side_tables_are_public_to_read_and_closed_to_write(pg_url, table):
    with psycopg.connect(pg_url) as conn:
        privileges = conn.execute(
            "select grantee, privilege_type from information_schema.role_table_grants"
            " where table_schema = 'public' and table_name = %s and grantee in ('anon', 'authenticated')",
            (table,),
        ).fetchall()
        secured = conn.execute("select relrowsecurity from pg_class where oid = %s::regclass",
                               (f"public.{table}",)).fetchone()[0]
    assert sorted(privileges) == [("anon", "SELECT"), ("authenticated", "SELECT")]
    assert secured
