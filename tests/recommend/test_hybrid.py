"""The hybrid picks collaborative filtering, content-based or popularity as the seed design says, tells
which and why, tops short lists up, and never returns a rated item."""

from __future__ import annotations

import pytest

from cinelibre.recommend import Hybrid
from tests.recommend.synthetic import book_row, create_users, load_catalog, movie_row, two_taste_world


def rate(db, user, ids, **ratings_by_title):
    for title, value in ratings_by_title.items():
        db.upsert_rating(user_id=user, item_id=ids[title.replace("_", " ")], rating=value)


@pytest.fixture
def catalog(db):
    movies = [movie_row(10 + i, f"Space film {i}", theme=0) for i in range(5)]
    movies += [movie_row(20 + i, f"Romance film {i}", theme=1) for i in range(5)]
    books = [book_row(30 + i, f"Space novel {i}", theme=0) for i in range(3)]
    return load_catalog(db, movies, books)


def test_a_user_without_ratings_gets_popular_items(db, catalog):
    user = create_users(db, "newcomer")["newcomer"]
    result = Hybrid().fit(db).explain(user, 5)
    assert result.method == "popularity"
    assert result.rating_count == 0
    assert result.explanation == "You have not rated anything yet, so these are the most popular titles."
    assert len(result.recommendations) == 5
    assert {item.method for item in result.recommendations} == {"popularity"}


def test_a_few_high_ratings_lead_to_content_based(db, catalog):
    user = create_users(db, "ana")["ana"]
    rate(db, user, catalog, Space_film_0=4.5, Romance_film_0=1.0)
    result = Hybrid().fit(db).explain(user, 4, item_type="movie")
    assert result.method == "content_based"
    assert result.explanation.startswith(
        "With 2 ratings (we need 5) we cannot yet find people who share your taste"
    )
    assert [item.title.startswith("Space film") for item in result.recommendations] == [True] * 4
    assert result.recommendations[0].reason == "because you rated Space film 0 4.5"


def test_enough_ratings_and_neighbours_lead_to_collaborative_filtering(db):
    items, users, ratings = two_taste_world(db)
    target = users["north"][0]
    hidden = set(items["north"][5:]) | set(items["south"][5:])
    for user, item, value in ratings:
        if not (user == target and item in hidden):
            db.upsert_rating(user_id=user, item_id=item, rating=value)

    result = Hybrid().fit(db).explain(target, 3)

    assert result.method == "collaborative"
    assert result.rating_count == 10
    assert result.explanation == "Based on people whose ratings agree with your 10 ratings."
    assert {item.item_id for item in result.recommendations} == set(items["north"][5:])
    assert all("people whose ratings agree with yours" in item.reason for item in result.recommendations)


def test_enough_ratings_but_no_neighbours_falls_back_on_content(db, catalog):
    user = create_users(db, "loner")["loner"]
    rate(
        db,
        user,
        catalog,
        Space_film_0=5.0,
        Space_film_1=4.5,
        Romance_film_0=1.0,
        Romance_film_1=1.5,
        Romance_film_2=2.0,
    )
    result = Hybrid().fit(db).explain(user, 3, item_type="movie")
    assert result.method == "content_based"
    assert result.explanation.startswith("Nobody has yet rated enough of the same titles the way you did")
    assert {item.title for item in result.recommendations} == {"Space film 2", "Space film 3", "Space film 4"}


def test_only_low_ratings_and_no_neighbours_fall_back_on_popularity(db, catalog):
    user = create_users(db, "grump")["grump"]
    rate(db, user, catalog, Space_film_0=2.0, Romance_film_0=1.0)
    result = Hybrid().fit(db).explain(user, 5)
    assert result.method == "popularity"
    assert "none of your ratings is 4 or more" in result.explanation
    assert {item.method for item in result.recommendations} == {"popularity"}


def test_a_short_list_is_topped_up_with_the_next_method_and_never_repeats_or_shows_rated_items(db, catalog):
    user = create_users(db, "ana")["ana"]
    rate(db, user, catalog, Space_film_0=4.5)
    result = Hybrid().fit(db).explain(user, 12)  # the catalog has 12 items the user has not rated
    ids = [item.item_id for item in result.recommendations]
    assert len(ids) == len(set(ids)) == 12
    assert catalog["Space film 0"] not in ids
    assert result.method == "content_based"
    assert {item.method for item in result.recommendations} <= {"content_based", "popularity"}


def test_item_type_limits_every_method(db, catalog):
    user = create_users(db, "ana")["ana"]
    assert {item.item_type for item in Hybrid().fit(db).recommend(user, 10, item_type="book")} == {"book"}
    rate(db, user, catalog, Space_film_0=5.0)
    books = Hybrid().fit(db).explain(user, 3, item_type="book")
    assert books.method == "content_based"
    assert [item.title.startswith("Space novel") for item in books.recommendations] == [True] * 3


def test_the_hybrid_refuses_to_recommend_rated_items_and_bad_counts(db, catalog):
    user = create_users(db, "ana")["ana"]
    hybrid = Hybrid().fit(db)
    with pytest.raises(ValueError):
        hybrid.recommend(user, 5, exclude_seen=False)
    with pytest.raises(ValueError):
        hybrid.recommend(user, 0)
    with pytest.raises(ValueError):
        hybrid.recommend(user, 101)
