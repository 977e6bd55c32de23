"""Each recommender on synthetic data whose right answer is known, against the real database."""

from __future__ import annotations

import pytest

from cinelibre.recommend import ContentBased, NotFittedError, Popularity
from tests.recommend.synthetic import book_row, create_users, load_catalog, movie_row

# -- popularity -------------------------------------------------------------------------------------------


def test_popularity_ranks_the_most_rated_first_and_the_damped_mean_breaks_ties(db):
    ids = load_catalog(
        db,
        [
            movie_row(1, "Lone Five", theme=0),
            movie_row(2, "Crowd Pleaser", theme=0),
            movie_row(3, "Unrated", theme=0),
        ],
    )
    users = list(create_users(db, *(f"u{i}" for i in range(11))).values())
    db.upsert_rating(user_id=users[0], item_id=ids["Lone Five"], rating=5.0)
    for user in users[1:]:
        db.upsert_rating(user_id=user, item_id=ids["Crowd Pleaser"], rating=4.5)

    ranked = Popularity().fit(db).recommend(None, 3, exclude_seen=False, item_type="movie")

    assert [item.title for item in ranked[:2]] == ["Crowd Pleaser", "Lone Five"]
    assert ranked[0].reason == "popular this month: rated 4.5 on average by 10 people"
    assert ranked[1].reason == "popular this month: rated 5.0 on average by 1 person"
    assert ranked[2].reason == "well rated on TMDB"
    assert all(item.method == "popularity" for item in ranked)


def test_popularity_excludes_what_the_user_rated_when_asked(db):
    ids = load_catalog(db, [movie_row(1, "Seen", theme=0), movie_row(2, "Unseen", theme=0)])
    user = create_users(db, "ana")["ana"]
    db.upsert_rating(user_id=user, item_id=ids["Seen"], rating=5.0)
    popularity = Popularity().fit(db)
    assert [item.title for item in popularity.recommend(user, 5)] == ["Unseen"]
    assert {item.title for item in popularity.recommend(user, 5, exclude_seen=False)} == {"Seen", "Unseen"}


def test_the_list_for_everyone_is_kept_per_container_and_a_users_own_list_is_fresh(db):
    ids = load_catalog(
        db,
        [
            movie_row(1, "Acclaimed", theme=0),
            movie_row(2, "Panned", theme=0, vote_average=3.0, vote_count=10),
        ],
    )
    users = list(create_users(db, *(f"u{i}" for i in range(10))).values())
    cached = Popularity().fit(db)
    before = [item.title for item in cached.recommend(None, 2, exclude_seen=False)]
    assert before == ["Acclaimed", "Panned"]
    for user in users:
        db.upsert_rating(user_id=user, item_id=ids["Panned"], rating=5.0)

    # Within the time to live the container answers from memory, by design...
    assert [item.title for item in cached.recommend(None, 2, exclude_seen=False)] == before
    # ...while an uncached list, and any list that leaves out a user's ratings, sees the new ratings.
    fresh = Popularity(cache_ttl_s=None).fit(db).recommend(None, 2, exclude_seen=False)
    assert [item.title for item in fresh] == ["Panned", "Acclaimed"]
    assert [item.title for item in cached.recommend(users[0], 2)] == ["Acclaimed"]


def test_recommenders_must_be_fitted_first():
    with pytest.raises(NotFittedError):
        Popularity().recommend(None, 5)


# -- content-based ----------------------------------------------------------------------------------------


@pytest.fixture
def themed_catalog(db):
    movies = [movie_row(10 + i, f"Space film {i}", theme=0) for i in range(4)]
    movies += [movie_row(20 + i, f"Romance film {i}", theme=1) for i in range(4)]
    books = [book_row(30 + i, f"Space novel {i}", theme=0) for i in range(3)]
    books += [book_row(40 + i, f"Romance novel {i}", theme=1) for i in range(3)]
    return load_catalog(db, movies, books)


def test_content_based_follows_the_embeddings_of_what_the_user_liked(db, themed_catalog):
    ids = themed_catalog
    user = create_users(db, "ana")["ana"]
    db.upsert_rating(user_id=user, item_id=ids["Space film 0"], rating=4.5)
    db.upsert_rating(user_id=user, item_id=ids["Romance film 0"], rating=2.0)  # disliked: not a seed

    recommended = ContentBased().fit(db).recommend(user, 3, item_type="movie")

    assert {item.title for item in recommended} == {"Space film 1", "Space film 2", "Space film 3"}
    assert all(item.reason == "because you rated Space film 0 4.5" for item in recommended)
    assert all(item.similarity > 0.8 for item in recommended)  # same theme; other themes are near 0


def test_content_based_names_the_nearest_liked_item_and_crosses_to_books(db, themed_catalog):
    ids = themed_catalog
    user = create_users(db, "ana")["ana"]
    db.upsert_rating(user_id=user, item_id=ids["Space film 0"], rating=5.0)
    db.upsert_rating(user_id=user, item_id=ids["Romance film 0"], rating=4.0)

    books = ContentBased().fit(db).recommend(user, 6, item_type="book")

    assert {item.item_type for item in books} == {"book"}
    for item in books:
        expected = "Space film 0 5" if item.title.startswith("Space") else "Romance film 0 4"
        assert item.reason == f"because you rated {expected}"


def test_content_based_reads_a_user_without_a_liked_item_from_their_best_ratings(db, themed_catalog):
    """Issue 9: a user with no rating of 4 or more used to get nothing."""
    user = create_users(db, "ana")["ana"]
    db.upsert_rating(user_id=user, item_id=themed_catalog["Space film 0"], rating=3.5)
    db.upsert_rating(user_id=user, item_id=themed_catalog["Romance film 0"], rating=1.5)
    recommended = ContentBased(min_rating=4.0).fit(db).recommend(user, 3, item_type="movie")
    assert {item.title for item in recommended} == {"Space film 1", "Space film 2", "Space film 3"}
    assert {item.reason for item in recommended} == {"because you rated Space film 0 3.5"}
    newcomer = create_users(db, "bo")["bo"]
    assert ContentBased().fit(db).recommend(newcomer, 5) == []


def test_content_based_breaks_ties_by_id_and_shows_a_title_once(db):
    """Issue 9: list order changed between identical calls, and a title held twice in the catalog showed
    twice."""
    twin = movie_row(61, "Twin", theme=0)
    ids = load_catalog(db, [
        movie_row(60, "Liked", theme=0),
        twin,
        {**twin, "tmdb_id": 62, "content_hash": "movie-62"},  # the same film under a second TMDB id
        movie_row(63, "Also close", theme=0, embedding=twin["embedding"]),  # exactly as close as Twin
        movie_row(64, "Another", theme=0),
    ])
    user = create_users(db, "ana")["ana"]
    db.upsert_rating(user_id=user, item_id=ids["Liked"], rating=5.0)
    content = ContentBased().fit(db)
    first = content.recommend(user, 4)
    assert [item.title for item in first].count("Twin") == 1
    assert {item.title for item in first} == {"Twin", "Also close", "Another"}
    assert all(content.recommend(user, 4) == first for _ in range(3))
    same_distance = [item for item in first if item.title in ("Twin", "Also close")]
    assert same_distance[0].item_id < same_distance[1].item_id


def test_similar_items_of_a_movie_within_and_across_kinds(db, themed_catalog):
    ids = themed_catalog
    content = ContentBased().fit(db)
    movies = content.similar_items(ids["Space film 0"], 3, target_type="movie")
    assert {item.title for item in movies} == {"Space film 1", "Space film 2", "Space film 3"}
    assert ids["Space film 0"] not in {item.item_id for item in movies}
    books = content.similar_items(ids["Space film 0"], 3, target_type="book")
    assert {item.title for item in books} == {"Space novel 0", "Space novel 1", "Space novel 2"}
    assert books == sorted(books, key=lambda item: -item.similarity)

