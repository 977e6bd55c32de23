"""Each constraint the schema promises, proven on the real database through the adapter."""

from __future__ import annotations

import threading

import psycopg
import pytest

from cinelibre.errors import ConflictError, NotFoundError, ValidationError
from tests.db.catalog_rows import book, movie

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"


@pytest.fixture
def user(db):
    return db.create_user(email="ana@example.com", password_hash=HASH, name="Ana")


@pytest.fixture
def movie_id(db) -> int:
    db.upsert_movies(movies=[movie(27205, "Inception")])
    return db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=1, offset=0)[0][0]["id"]


def test_duplicate_email_is_a_conflict(db, user):
    with pytest.raises(ConflictError):
        db.create_user(email="ana@example.com", password_hash=HASH, name="Other")


def test_email_must_be_normalised(db):
    with pytest.raises(ValidationError):
        db.create_user(email="Ana@Example.com", password_hash=HASH, name="Ana")


def test_concurrent_registration_of_one_email_creates_one_user(db, pg_url):
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def register():
        barrier.wait()
        try:
            db.create_user(email="race@example.com", password_hash=HASH, name="Racer")
            outcomes.append("created")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "created"]
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from users where email = 'race@example.com'").fetchone()[0] == 1


@pytest.mark.parametrize("value", [0.0, 0.25, 4.75, 5.5, -1.0, 10.0])
def test_ratings_outside_half_steps_from_half_to_five_are_refused(db, user, movie_id, value):
    with pytest.raises(ValidationError):
        db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=value)


@pytest.mark.parametrize("value", [0.5, 1.0, 3.5, 5.0])
def test_ratings_on_half_steps_are_stored_exactly(db, user, movie_id, value):
    assert db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=value)["rating"] == value


def test_rating_an_unknown_item_is_not_found(db, user):
    with pytest.raises(NotFoundError, match="item not found"):
        db.upsert_rating(user_id=user["id"], item_id=999_999, rating=4.0)


def test_an_interaction_with_an_unknown_item_is_not_found(db, user):
    with pytest.raises(NotFoundError):
        db.record_interaction(user_id=user["id"], kind="view", item_id=424242, query=None)


def test_an_interaction_must_name_its_target(db, user):
    with pytest.raises(ValidationError):
        db.record_interaction(user_id=user["id"], kind="view", item_id=None, query=None)
    with pytest.raises(ValidationError):
        db.record_interaction(user_id=user["id"], kind="purchase", item_id=None, query="x")  # type: ignore[arg-type]
    row = db.record_interaction(user_id=user["id"], kind="search", item_id=None, query="rainy noir")
    assert row["kind"] == "search" and row["query"] == "rainy noir"


def test_rating_again_updates_the_one_row(db, user, movie_id):
    first = db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=3.0)
    second = db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=4.5)
    assert first["created"] is True and second["created"] is False
    assert second["id"] == first["id"] and second["rating"] == 4.5
    rows, total = db.list_user_ratings(user_id=user["id"], item_type="all", limit=10, offset=0)
    assert total == 1 and rows[0]["title"] == "Inception"


def test_concurrent_upserts_of_one_rating_leave_exactly_one_row(db, user, movie_id, pg_url):
    barrier = threading.Barrier(6)
    errors: list[Exception] = []

    def rate(value: float):
        barrier.wait()
        try:
            db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=value)
        except Exception as exc:  # noqa: BLE001 (collected and asserted below)
            errors.append(exc)

    threads = [threading.Thread(target=rate, args=(v,)) for v in (1.0, 2.0, 3.0, 4.0, 5.0, 0.5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from ratings").fetchone()[0] == 1


def test_removing_an_item_leaves_nothing_dangling(db, user, movie_id, pg_url):
    db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=4.0)
    db.record_interaction(user_id=user["id"], kind="click", item_id=movie_id, query=None)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("delete from movies where item_id = %s", (movie_id,))
        counts = conn.execute(
            "select (select count(*) from items), (select count(*) from ratings), (select count(*) from interactions)"
        ).fetchone()
    assert counts == (0, 0, 0)


def test_a_movie_row_cannot_claim_a_book_item(db, pg_url):
    db.upsert_books(books=[book("vol1", "A Book")])
    with psycopg.connect(pg_url) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute(
            "insert into movies (item_id, tmdb_id, title) select item_id, 1, 'x' from books limit 1"
        )


def test_books_keep_year_only_dates_and_refuse_malformed_ones(db):
    db.upsert_books(books=[book("y1", "Year Only", published_date="1987")])
    stored = db.list_books(language=None, category=None, year_from=1987, year_to=1987, limit=5, offset=0)[0]
    assert [b["title"] for b in stored] == ["Year Only"]
    with pytest.raises(ValidationError):
        db.upsert_books(books=[book("y2", "Bad Date", published_date="June 1987")])


def test_delete_rating_only_deletes_the_owners_rating(db, user, movie_id):
    other = db.create_user(email="bo@example.com", password_hash=HASH, name="Bo")
    rating = db.upsert_rating(user_id=user["id"], item_id=movie_id, rating=4.0)
    assert db.delete_rating(user_id=other["id"], rating_id=rating["id"]) is False
    assert db.delete_rating(user_id=user["id"], rating_id=rating["id"]) is True
    assert db.delete_rating(user_id=user["id"], rating_id=rating["id"]) is False
