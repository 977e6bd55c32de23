"""Each search word's document count, kept by the catalog's writes (migration 20270103000100): every kind of
write keeps it equal to a count of the documents, and concurrent writers never wait for each other on it."""

from __future__ import annotations

import psycopg
import pytest

from tests.db.catalog_rows import book, movie

KEPT = (
    "select item_type, lexeme, sum(documents)::integer from public.search_word_documents"
    " group by item_type, lexeme having sum(documents) <> 0"
)
COUNTED = (
    "select 'movie', w.lexeme, count(*)::integer from public.movie_search s"
    " cross join unnest(tsvector_to_array(s.search_document)) as w(lexeme) group by w.lexeme"
    " union all"
    " select 'book', w.lexeme, count(*)::integer from public.book_search s"
    " cross join unnest(tsvector_to_array(s.search_document)) as w(lexeme) group by w.lexeme"
)


def _kept_and_counted(pg_url: str) -> tuple[set[tuple], set[tuple]]:
    with psycopg.connect(pg_url) as conn:
        return set(conn.execute(KEPT).fetchall()), set(conn.execute(COUNTED).fetchall())


def _documents(pg_url: str, item_type: str, lexeme: str) -> tuple[int, int]:
    """A lexeme's count, and how many rows hold it."""
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "select coalesce(sum(documents), 0)::integer, count(*)::integer from public.search_word_documents"
            " where item_type = %s and lexeme = %s",
            (item_type, lexeme),
        ).fetchone()


def test_every_catalog_write_keeps_the_counts(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kingdom of Sand", overview="A kingdom at war in the desert."),
                             movie(2, "Sand Storm", overview="A storm over the kingdom."),
                             movie(3, "Harbour Lights", overview="Fishermen at night.")])
    db.upsert_books(books=[book("b1", "The Sand Kingdom", description="A desert kingdom.", authors=["Ada Sand"])])
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted
    assert ("movie", "kingdom", 2) in kept and ("book", "kingdom", 1) in kept

    # A changed overview moves its words; an unchanged upsert and new title keys (the same document) move none.
    db.upsert_movies(movies=[movie(1, "Kingdom of Sand", overview="A river town in the rain.", content_hash="new"),
                             movie(2, "Sand Storm", overview="A storm over the kingdom.")])
    db.set_title_keys(rows=[{"item_type": "movie", "external_id": "3", "title_keys": "harbor laits"}])
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted
    assert ("movie", "kingdom", 2) in kept and ("movie", "river", 1) in kept  # "Kingdom of Sand" keeps its title
    assert not any(lexeme in ("desert", "war") and item_type == "movie" for item_type, lexeme, _ in kept)

    _next_write_merges(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("delete from items where id in (select item_id from movies where tmdb_id = 2)")
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted
    assert _documents(pg_url, "movie", "storm") == (0, 0)  # merged, a word no document holds leaves no row


def test_emptying_the_catalog_empties_its_counts(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kingdom of Sand")])
    db.upsert_books(books=[book("b1", "The Sand Kingdom")])
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("truncate public.items cascade")  # the side tables go by cascade, as the tests' cleanup does
        assert conn.execute("select count(*) from public.search_word_documents").fetchone()[0] == 0


def _insert_movie(conn: psycopg.Connection, tmdb_id: int) -> None:
    # Every title word is in the vocabulary already: its insert would otherwise wait for the other writer's.
    conn.execute(
        "with new_item as (insert into items (item_type) values ('movie') returning id)"
        " insert into movies (item_id, tmdb_id, title, original_language, overview)"
        " select id, %s, 'Kingdom of Sand', 'hi', 'A kingdom at war.' from new_item",
        (tmdb_id,),
    )


def _next_write_merges(pg_url: str) -> None:
    """Every sixteenth write of the counts merges: make it the next one."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("select setval('public.search_word_documents_writes',"
                     " (nextval('public.search_word_documents_writes') / 16 + 1) * 16 - 1)")


def test_concurrent_writers_never_wait_for_each_other_and_no_count_is_lost(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kingdom of Sand", overview="A kingdom at war.", original_language="hi")])
    _next_write_merges(pg_url)
    db.upsert_movies(movies=[movie(2, "Kingdom of Sand", overview="A kingdom at war.", original_language="hi")])
    assert _documents(pg_url, "movie", "kingdom") == (2, 1)
    with psycopg.connect(pg_url) as first, psycopg.connect(pg_url) as second:
        second.execute("set lock_timeout = '5s'")  # waiting for the first writer would fail the test, not hang it
        _next_write_merges(pg_url)
        _insert_movie(first, 3)  # merges, and holds the merge lock until it commits
        _next_write_merges(pg_url)
        _insert_movie(second, 4)  # would merge, finds the lock taken, leaves its rows
        second.commit()
        first.commit()
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted
    assert _documents(pg_url, "movie", "kingdom") == (4, 2)
    _next_write_merges(pg_url)
    db.upsert_movies(movies=[movie(5, "Kingdom Come", original_language="hi")])
    assert _documents(pg_url, "movie", "kingdom") == (5, 1)  # the next merging write of the word folds them
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted


def test_a_common_words_rows_stay_few_however_many_items_are_written(db, pg_url):
    db.upsert_movies(movies=[movie(number, f"Kingdom {number}", overview="A kingdom at war.", original_language="hi")
                             for number in range(1, 65)])
    documents, rows = _documents(pg_url, "movie", "kingdom")
    assert documents == 64
    assert rows <= 16  # the catalog's triggers wrote the 64 items one statement each
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted


@pytest.mark.parametrize("isolation", [psycopg.IsolationLevel.REPEATABLE_READ, psycopg.IsolationLevel.SERIALIZABLE])
def test_a_writer_whose_snapshot_is_its_transactions_leaves_the_merge_to_others(db, pg_url, isolation):
    # Its snapshot may predate another writer's merge, whose rows it would then delete a second time.
    db.upsert_movies(movies=[movie(1, "Kingdom of Sand", overview="A kingdom at war.", original_language="hi")])
    _next_write_merges(pg_url)
    with psycopg.connect(pg_url) as conn:
        conn.isolation_level = isolation
        _insert_movie(conn, 2)
        conn.commit()
    assert _documents(pg_url, "movie", "kingdom") == (2, 2)
    kept, counted = _kept_and_counted(pg_url)
    assert kept == counted


def test_the_counts_are_public_to_read_and_closed_to_write(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kingdom of Sand")])
    with psycopg.connect(pg_url) as conn:
        conn.execute("set role anon")
        assert conn.execute("select count(*) from public.search_word_documents").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("insert into public.search_word_documents values ('movie', 'kingdom', 1)")
