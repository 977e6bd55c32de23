"""The SQL functions (the RPCs the Lambda functions call), on the real database with known answers."""

from __future__ import annotations

import psycopg
import pytest

from cinelibre.errors import NotFoundError
from tests.db.catalog_rows import book, movie, unit

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"
ANCHOR = unit(1)


def _ids_by_title(db) -> dict[str, int]:
    movies, _ = db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=100, offset=0)
    books, _ = db.list_books(language=None, category=None, year_from=None, year_to=None, limit=100, offset=0)
    return {row["title"]: row["id"] for row in movies + books}


@pytest.fixture
def catalog(db) -> dict[str, int]:
    db.upsert_movies(movies=[
        movie(1, "Baahubali: The Beginning", embedding=unit(2, near=ANCHOR, noise=0.005), genres=["Action", "Fantasy"]),
        movie(2, "Baahubali 2: The Conclusion", embedding=unit(3, near=ANCHOR, noise=0.01), release_date="2017-04-28"),
        movie(3, "Drishyam", embedding=unit(4, near=ANCHOR, noise=0.05), original_language="ml",
              genres=["Crime", "Thriller"], release_date="2013-12-19", vote_average=8.3, vote_count=900),
        movie(4, "Kumbalangi Nights", embedding=unit(5), original_language="ml", genres=["Drama"],
              release_date="2019-02-07"),
        movie(5, "Unembedded", embedding=None, content_hash=None),
    ])
    db.upsert_books(books=[
        book("b1", "The Palace of Illusions", embedding=unit(6, near=ANCHOR, noise=0.04), categories=["Mythology"]),
        book("b2", "A Suitable Boy", embedding=unit(7), categories=["Fiction", "Indian Literature"],
             published_date="1993-05"),
    ])
    return _ids_by_title(db)


def test_match_movies_orders_by_cosine_similarity(db, catalog):
    rows = db.match_movies(query_embedding=ANCHOR, threshold=0.0, count=3)
    assert [r["title"] for r in rows] == ["Baahubali: The Beginning", "Baahubali 2: The Conclusion", "Drishyam"]
    sims = [r["similarity"] for r in rows]
    assert sims == sorted(sims, reverse=True) and 0.99 < sims[0] <= 1.0
    assert all("embedding" not in r for r in rows)


def test_match_movies_applies_threshold_and_filters(db, catalog):
    assert [r["title"] for r in db.match_movies(query_embedding=ANCHOR, threshold=0.9, count=10)] == [
        "Baahubali: The Beginning", "Baahubali 2: The Conclusion"]
    malayalam = db.match_movies(query_embedding=ANCHOR, threshold=0.0, count=10, language="ml")
    assert [r["title"] for r in malayalam] == ["Drishyam", "Kumbalangi Nights"]
    crime = db.match_movies(query_embedding=ANCHOR, threshold=0.0, count=10, genre="Crime")
    assert [r["title"] for r in crime] == ["Drishyam"]
    since_2017 = db.match_movies(query_embedding=ANCHOR, threshold=0.0, count=10, year_from=2017, year_to=2019)
    assert [r["title"] for r in since_2017] == ["Baahubali 2: The Conclusion", "Kumbalangi Nights"]


def test_match_count_is_capped(db, catalog, pg_url):
    with psycopg.connect(pg_url) as conn:
        source = conn.execute("select prosrc from pg_proc where proname = 'match_movies'").fetchone()[0]
    assert "least(greatest(match_count, 1), 200)" in source
    assert len(db.match_movies(query_embedding=ANCHOR, threshold=-1.0, count=10_000)) == 4


def test_match_books_filters_by_category_and_year(db, catalog):
    rows = db.match_books(query_embedding=ANCHOR, threshold=0.0, count=5, category="Mythology")
    assert [r["title"] for r in rows] == ["The Palace of Illusions"]
    assert [r["title"] for r in db.match_books(query_embedding=ANCHOR, threshold=-1.0, count=5, year_from=1993,
                                               year_to=1993)] == ["A Suitable Boy"]


def test_search_titles_finds_a_misspelt_title_first(db, catalog):
    rows = db.search_titles(query="Bahubali", item_type="all", count=5)
    assert rows[0]["title"].startswith("Baahubali")
    assert {r["title"] for r in rows} == {"Baahubali: The Beginning", "Baahubali 2: The Conclusion"}
    assert db.search_titles(query="drishyam", item_type="book", count=5) == []
    assert db.search_titles(query="suitable boy", item_type="all", count=5)[0]["item_type"] == "book"


def test_similar_items_cross_from_a_movie_to_books(db, catalog):
    source = catalog["Baahubali: The Beginning"]
    movies = db.get_similar_items(item_id=source, target_type="movie", count=2)
    assert [r["title"] for r in movies] == ["Baahubali 2: The Conclusion", "Drishyam"]
    books = db.get_similar_items(item_id=source, target_type="book", count=1)
    assert [r["title"] for r in books] == ["The Palace of Illusions"]
    with pytest.raises(NotFoundError):
        db.get_similar_items(item_id=987654, target_type="movie", count=3)
    assert db.get_similar_items(item_id=catalog["Unembedded"], target_type="movie", count=3) == []


def test_get_movie_returns_full_details_without_the_embedding(db, catalog):
    details = db.get_movie(movie_id=catalog["Drishyam"])
    assert details["year"] == 2013 and details["genres"] == ["Crime", "Thriller"]
    assert details["cast_members"] == [{"name": "A", "character": "B"}] and details["runtime"] == 159
    assert "embedding" not in details and details["is_demo"] is False
    assert db.get_movie(movie_id=catalog["A Suitable Boy"]) is None
    assert db.get_book(book_id=catalog["A Suitable Boy"])["year"] == 1993


def test_list_movies_paginates_with_a_total(db, catalog):
    first, total = db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=2, offset=0)
    second, _ = db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=2, offset=2)
    assert total == 5 and len(first) == 2 and len(second) == 2
    assert not {r["id"] for r in first} & {r["id"] for r in second}
    empty, total_empty = db.list_movies(language="xx", genre=None, year_from=None, year_to=None, limit=2, offset=0)
    assert (empty, total_empty) == ([], 0)


def test_upsert_twice_writes_nothing_the_second_time(db, pg_url):
    rows = [movie(10, "Ten"), movie(11, "Eleven")]
    assert db.upsert_movies(movies=rows) == {"inserted": 2, "updated": 0, "unchanged": 0}
    with psycopg.connect(pg_url) as conn:
        before = conn.execute("select item_id, xmin::text, updated_at from movies order by 1").fetchall()
    assert db.upsert_movies(movies=rows) == {"inserted": 0, "updated": 0, "unchanged": 2}
    changed = [movie(10, "Ten"), movie(11, "Eleven", vote_count=101)]
    assert db.upsert_movies(movies=changed) == {"inserted": 0, "updated": 1, "unchanged": 1}
    with psycopg.connect(pg_url) as conn:
        after = conn.execute("select item_id, xmin::text, updated_at from movies order by 1").fetchall()
        assert conn.execute("select count(*) from items").fetchone()[0] == 2
    assert after[0] == before[0] and after[1] != before[1]


def test_upsert_without_embedding_keeps_the_stored_one(db, pg_url):
    db.upsert_movies(movies=[movie(20, "Twenty")])
    db.upsert_movies(movies=[movie(20, "Twenty", embedding=None, content_hash=None, vote_count=5)])
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select embedding is not null, content_hash from movies").fetchone() == (True, "hash-20")


def test_books_with_a_known_isbn_under_another_volume_id_are_skipped(db):
    db.upsert_books(books=[book("v1", "Dune", isbn_13="9780441013593")])
    assert db.upsert_books(books=[book("v2", "Dune (reissue)", isbn_13="9780441013593")]) == {
        "inserted": 0, "updated": 0, "unchanged": 1}
    assert db.get_content_hashes(source="google_books", external_ids=["v1", "v2"]) == {"v1": "hash-v1"}


def test_content_hashes_by_tmdb_id(db):
    db.upsert_movies(movies=[movie(30, "Thirty")])
    assert db.get_content_hashes(source="tmdb", external_ids=["30", "31", "not-a-number"]) == {"30": "hash-30"}


def test_ingest_runs_record_and_resume_from_checkpoints(db, pg_url):
    run = db.start_ingest_run(source="tmdb", trigger="schedule")
    assert run["checkpoint"] is None
    db.save_ingest_checkpoint(run_id=run["id"], source="tmdb", checkpoint={"language": "te", "page": 7},
                              stats={"fetched": 140})
    db.finish_ingest_run(run_id=run["id"], status="partial", stats={"fetched": 150},
                         checkpoint={"language": "te", "page": 8}, error=None)
    again = db.start_ingest_run(source="tmdb", trigger="schedule")
    assert again["checkpoint"] == {"language": "te", "page": 8} and again["id"] != run["id"]
    with psycopg.connect(pg_url) as conn:
        status, stats, finished = conn.execute(
            "select status, stats, finished_at is not null from ingest_runs where id = %s", (run["id"],)
        ).fetchone()
    assert (status, stats, finished) == ("partial", {"fetched": 150}, True)


def test_health_counts_the_catalog(db, catalog):
    health = db.health()
    assert (health["movies"], health["books"], health["embedded_movies"]) == (5, 2, 4)
    assert health["schema_version"].isdigit()


def test_a_connection_the_server_dropped_is_replaced_not_failed(pg_url, monkeypatch):
    """A Lambda container frozen for minutes finds its connection closed by the server or the pooler."""
    from cinelibre.db import postgres
    from cinelibre.db.postgres import PostgresDatabase

    database = PostgresDatabase(pg_url, max_connections=1)
    try:
        assert database.count_user_ratings(user_id="00000000-0000-0000-0000-000000000000") == 0
        with psycopg.connect(pg_url, autocommit=True) as admin:
            terminated = admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where application_name = '' and pid <> pg_backend_pid() and datname = current_database()"
                " and backend_type = 'client backend' and query like '%count_user_ratings%'"
            ).fetchall()
        assert terminated == [(True,)]
        monkeypatch.setattr(postgres, "CHECK_AFTER_IDLE_S", 0.0)  # as if it had sat idle for a while
        assert database.count_user_ratings(user_id="00000000-0000-0000-0000-000000000000") == 0
    finally:
        database.close()


def test_search_titles_applies_the_catalog_filters(db, catalog):
    assert {r["title"] for r in db.search_titles(query="Bahubali", item_type="movie", count=5, year_from=2017)} == {
        "Baahubali 2: The Conclusion"}
    assert db.search_titles(query="Bahubali", item_type="movie", count=5, language="ml") == []
    assert [r["title"] for r in db.search_titles(query="drishyam", item_type="all", count=5, language="ml",
                                                 genre="Crime")] == ["Drishyam"]
    assert db.search_titles(query="palace of illusions", item_type="book", count=5, category="Fiction") == []
    assert [r["title"] for r in db.search_titles(query="palace of illusions", item_type="book", count=5,
                                                 category="Mythology")] == ["The Palace of Illusions"]
