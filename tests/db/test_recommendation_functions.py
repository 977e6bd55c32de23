"""Popularity and content-based SQL functions on data whose answer is known."""

from __future__ import annotations

from tests.db.catalog_rows import book, movie, unit

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"


def _users(db, *names: str) -> dict[str, str]:
    return {n: db.create_user(email=f"{n}@example.com", password_hash=HASH, name=n)["id"] for n in names}


def _items(db, count: int) -> list[int]:
    db.upsert_movies(movies=[movie(100 + i, f"Film {i}") for i in range(count)])
    rows, _ = db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=100, offset=0)
    by_title = {r["title"]: r["id"] for r in rows}
    return [by_title[f"Film {i}"] for i in range(count)]


def test_popularity_damps_a_single_five_star_rating(db):
    films = _items(db, 3)
    users = _users(db, *(f"u{i}" for i in range(12)))
    db.upsert_rating(user_id=users["u0"], item_id=films[0], rating=5.0)  # one perfect rating
    for i in range(1, 12):  # eleven good ratings
        db.upsert_rating(user_id=users[f"u{i}"], item_id=films[1], rating=4.5)
    ranked = db.get_popular_items(item_type="movie", count=3)
    assert [r["item_id"] for r in ranked][:2] == [films[1], films[0]]
    assert ranked[0]["rating_count"] == 11 and ranked[1]["rating_count"] == 1
    without_u1 = db.get_popular_items(item_type="movie", count=3, exclude_user_id=users["u1"])
    assert films[1] not in [r["item_id"] for r in without_u1]


def test_popularity_without_ratings_falls_back_on_source_votes(db):
    db.upsert_movies(movies=[
        movie(201, "Obscure", vote_average=9.5, vote_count=2),
        movie(202, "Beloved", vote_average=8.6, vote_count=20_000),
        movie(203, "Panned", vote_average=3.0, vote_count=5_000),
    ])
    assert [r["title"] for r in db.get_popular_items(item_type="movie", count=3)] == ["Beloved", "Obscure", "Panned"]
    assert db.get_popular_items(item_type="book", count=3) == []


def test_popular_means_most_rated_not_best_rated(db):
    """Issue 9: ranking by a damped mean made "popular" a "top rated" list (NDCG@10 0.090 against 0.171 for
    the rating count on MovieLens)."""
    films = _items(db, 3)
    users = _users(db, *(f"u{i}" for i in range(4)))
    db.upsert_rating(user_id=users["u0"], item_id=films[0], rating=5.0)
    for i in range(1, 4):
        db.upsert_rating(user_id=users[f"u{i}"], item_id=films[1], rating=2.5)
    ranked = db.get_popular_items(item_type="movie", count=3)
    assert [r["item_id"] for r in ranked] == [films[1], films[0], films[2]]
    assert [r["rating_count"] for r in ranked] == [3, 1, 0]
    assert ranked[0]["score"] > ranked[1]["score"] > ranked[2]["score"]


def test_collaborative_filtering_by_pearson_correlation_is_gone(db, pg_url):
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select to_regproc('public.get_collaborative_recommendations')").fetchone()[0] is None


def test_content_recommendations_explain_themselves_and_skip_rated_items(db):
    anchor = unit(50)
    db.upsert_movies(movies=[
        movie(301, "Loved", embedding=anchor),
        movie(302, "Loved Too", embedding=unit(51, near=anchor, noise=0.01)),
        movie(303, "Close Cousin", embedding=unit(52, near=anchor, noise=0.03)),
        movie(304, "Far Away", embedding=unit(53)),
        movie(305, "Disliked", embedding=unit(54)),
    ])
    db.upsert_books(books=[book("cb1", "Close Book", embedding=unit(55, near=anchor, noise=0.04))])
    ids = {r["title"]: r["id"] for r in db.list_movies(language=None, genre=None, year_from=None, year_to=None,
                                                       limit=10, offset=0)[0]}
    user = _users(db, "reader")["reader"]
    db.upsert_rating(user_id=user, item_id=ids["Loved"], rating=4.5)
    db.upsert_rating(user_id=user, item_id=ids["Loved Too"], rating=5.0)
    db.upsert_rating(user_id=user, item_id=ids["Disliked"], rating=1.0)

    rows = db.get_content_recommendations(user_id=user, item_type="all", count=3)
    assert [r["title"] for r in rows] == ["Close Cousin", "Close Book", "Far Away"]
    assert rows[0]["because_title"] in {"Loved", "Loved Too"} and rows[0]["because_rating"] >= 4.5
    assert not {r["title"] for r in rows} & {"Loved", "Loved Too", "Disliked"}
    assert [r["item_type"] for r in db.get_content_recommendations(user_id=user, item_type="book", count=3)] == ["book"]
    newcomer = _users(db, "newcomer")["newcomer"]
    assert db.get_content_recommendations(user_id=newcomer, item_type="all", count=3) == []


def test_rating_stats_stay_equal_to_the_ratings_under_concurrent_writes(db, pg_url):
    import threading

    import psycopg

    films = _items(db, 3)
    users = list(_users(db, *(f"w{i}" for i in range(8))).values())
    barrier = threading.Barrier(len(users))

    def churn(user_id: str, seed: int):
        barrier.wait()
        for round_ in range(4):
            for index, film in enumerate(films):
                db.upsert_rating(user_id=user_id, item_id=film, rating=0.5 + ((seed + round_ + index) % 10) / 2)
        rows, _ = db.list_user_ratings(user_id=user_id, item_type="all", limit=10, offset=0)
        db.delete_rating(user_id=user_id, rating_id=rows[seed % len(rows)]["id"])

    threads = [threading.Thread(target=churn, args=(user, seed)) for seed, user in enumerate(users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with psycopg.connect(pg_url) as conn:
        stats = conn.execute("select item_id, rating_count, rating_sum from item_rating_stats order by 1").fetchall()
        truth = conn.execute(
            "select item_id, count(*)::integer, sum(rating) from ratings group by item_id order by 1").fetchall()
    assert stats == truth and sum(count for _, count, _ in stats) == len(users) * 2
