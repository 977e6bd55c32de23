"""The hybrid picks the trained model, content-based or popularity, tells which and why, tops short lists
up, and never returns a rated item or a title twice."""

from __future__ import annotations

import pytest

from cinelibre.recommend import Hybrid, service
from cinelibre.recommend.training import TrainingParams, train_and_publish
from tests.recommend.synthetic import (
    book_row,
    create_users,
    load_catalog,
    movie_row,
    planted_groups_world,
    rate_all,
    two_taste_world,
)


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
    assert result.explanation == "You have not rated anything yet, so these are the titles rated most here."
    assert len(result.recommendations) == 5
    assert {item.method for item in result.recommendations} == {"popularity"}


def test_a_few_high_ratings_lead_to_content_based(db, catalog):
    user = create_users(db, "ana")["ana"]
    rate(db, user, catalog, Space_film_0=4.5, Romance_film_0=1.0)
    result = Hybrid().fit(db).explain(user, 4, item_type="movie")
    assert result.method == "content_based" and result.model_version is None
    assert result.explanation.startswith("No recommendation model has been trained yet, so these are close")
    assert [item.title.startswith("Space film") for item in result.recommendations] == [True] * 4
    assert result.recommendations[0].reason == "because you rated Space film 0 4.5"


def test_a_user_who_liked_modelled_titles_gets_the_trained_model(db, forget_models):
    items, users, ratings = two_taste_world(db)
    target = users["north"][0]
    hidden = set(items["north"][5:]) | set(items["south"][5:])
    rate_all(db, [(u, i, r) for u, i, r in ratings if not (u == target and i in hidden)])
    report = train_and_publish(db, params=TrainingParams(l2=10.0, validate=False))

    result = Hybrid().fit(db).explain(target, 3)

    assert result.method == "ease" and result.model_version == report.model_version
    assert result.rating_count == 10
    assert result.explanation == "From your 10 ratings: titles that people who liked the same ones also liked."
    assert {item.item_id for item in result.recommendations} == set(items["north"][5:])
    assert all(item.reason.startswith("because you liked north film") for item in result.recommendations)
    assert all(item.model_version == report.model_version for item in result.recommendations)
    assert all(item.predicted_rating is not None for item in result.recommendations)
    # The south films come next only as a top-up from other methods: the model never speaks for them.
    longer = Hybrid().fit(db).explain(target, 6)
    assert [item.method for item in longer.recommendations][:3] == ["ease"] * 3
    assert len({item.item_id for item in longer.recommendations}) == 6


def test_a_new_rating_changes_the_list_at_once_without_retraining(db, forget_models):
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    train_and_publish(db, params=TrainingParams(l2=30.0, validate=False))
    newcomer = create_users(db, "newcomer")["newcomer"]
    db.upsert_rating(user_id=newcomer, item_id=items["group1"][0], rating=5.0)
    first = service.personalized(db, newcomer, n=3)
    assert first.method == "ease"
    assert {item.item_id for item in first.recommendations} <= set(items["group1"])
    db.upsert_rating(user_id=newcomer, item_id=items["group1"][0], rating=1.0)
    db.upsert_rating(user_id=newcomer, item_id=items["group2"][0], rating=5.0)
    second = service.personalized(db, newcomer, n=3)
    assert second.method == "ease"
    assert {item.item_id for item in second.recommendations} <= set(items["group2"])


def test_liked_titles_the_model_does_not_know_lead_to_content(db, catalog, forget_models):
    items, users, ratings = two_taste_world(db, users_per_group=3, items_per_group=3)
    rate_all(db, ratings)
    train_and_publish(db, params=TrainingParams(validate=False))
    user = create_users(db, "loner")["loner"]
    rate(db, user, catalog, Space_film_0=5.0, Space_film_1=4.5, Romance_film_0=1.0)
    result = Hybrid().fit(db).explain(user, 3, item_type="movie")
    assert result.method == "content_based"
    assert result.explanation.startswith("Our trained model does not know the titles you liked yet")
    # The space films and the north films share an embedding theme.
    assert all(item.title.startswith(("Space film", "north film")) for item in result.recommendations)
    assert {"Space film 0", "Space film 1"}.isdisjoint(item.title for item in result.recommendations)


def test_only_low_ratings_still_lead_to_content_from_the_best_of_them(db, catalog):
    user = create_users(db, "grump")["grump"]
    rate(db, user, catalog, Space_film_0=2.5, Romance_film_0=1.0)
    result = Hybrid().fit(db).explain(user, 4, item_type="movie")
    assert result.method == "content_based"
    assert {item.title for item in result.recommendations} == {f"Space film {i}" for i in range(1, 5)}
    assert {item.reason for item in result.recommendations} == {"because you rated Space film 0 2.5"}


def test_ratings_without_any_description_fall_back_on_popularity(db, catalog):
    ids = load_catalog(db, [movie_row(90, "No description", theme=0, embedding=None)])
    user = create_users(db, "ana")["ana"]
    db.upsert_rating(user_id=user, item_id=ids["No description"], rating=5.0)
    result = Hybrid().fit(db).explain(user, 4)
    assert result.method == "popularity"
    assert "none of what you rated has a description to compare" in result.explanation
    assert {item.method for item in result.recommendations} == {"popularity"}
    assert ids["No description"] not in {item.item_id for item in result.recommendations}


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


def test_a_new_release_close_to_what_a_model_user_liked_gets_the_last_place(db, forget_models):
    items, users, ratings = two_taste_world(db)
    target = users["north"][0]
    hidden = set(items["north"][5:]) | set(items["south"][5:])
    rate_all(db, [(u, i, r) for u, i, r in ratings if not (u == target and i in hidden)])
    train_and_publish(db, params=TrainingParams(l2=10.0, validate=False))
    # Released after the model was trained: nobody has rated them, so the model cannot know them.
    new = load_catalog(db, [movie_row(5001, "New north film", theme=0), movie_row(5002, "New far film", theme=7)])

    # Served with the slot off (session 5's measurement): the model's list stays whole.
    served = Hybrid().fit(db).explain(target, 3)
    assert [item.method for item in served.recommendations] == ["ease"] * 3
    assert new["New north film"] not in {item.item_id for item in served.recommendations}

    # With one slot (recommend.hybrid.NEW_ITEM_SLOTS = 1, as sessions 3-4 served it):
    result = Hybrid(new_item_slots=1).fit(db).explain(target, 3)

    assert result.method == "ease"
    assert [item.method for item in result.recommendations] == ["ease", "ease", "content_based"]
    assert {item.item_id for item in result.recommendations[:2]} <= set(items["north"][5:])
    last = result.recommendations[2]
    assert last.item_id == new["New north film"] and last.predicted_rating is None
    assert last.reason.startswith("new here, and close in content to north film")
    # The unrelated new title is not close enough to earn the place (it may still come as a top-up of a long
    # list, like any title).
    assert [item.item_id for item in Hybrid().fit(db).content.new_items(target, 3)] == [new["New north film"]]


def test_no_close_new_release_leaves_the_model_list_whole(db, forget_models):
    items, users, ratings = two_taste_world(db)
    target = users["north"][0]
    hidden = set(items["north"][5:])
    rate_all(db, [(u, i, r) for u, i, r in ratings if not (u == target and i in hidden)])
    train_and_publish(db, params=TrainingParams(l2=10.0, validate=False))
    load_catalog(db, [movie_row(5002, "New far film", theme=7)])

    result = Hybrid(new_item_slots=1).fit(db).explain(target, 3)

    assert [item.method for item in result.recommendations] == ["ease"] * 3
    assert {item.item_id for item in result.recommendations} == set(items["north"][5:])
