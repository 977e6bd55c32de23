"""Offline evaluation: metrics checked against hand-computed values, splits against their promises, and an
end-to-end evaluation on a synthetic world where collaborative filtering must find the right answer."""

from __future__ import annotations

import math

import pytest

from cinelibre.recommend import PearsonUserKNN, Popularity
from cinelibre.recommend.evaluation import (
    RatingRecord,
    evaluate,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    rmse,
    train_test_split,
)
from tests.recommend.synthetic import two_taste_world


def test_precision_and_recall_at_k():
    recommended = [1, 2, 3, 4, 5]
    relevant = {2, 5, 9}
    assert precision_at_k(recommended, relevant, 5) == pytest.approx(2 / 5)
    assert precision_at_k(recommended, relevant, 2) == pytest.approx(1 / 2)
    assert recall_at_k(recommended, relevant, 5) == pytest.approx(2 / 3)
    assert recall_at_k(recommended, set(), 5) == 0.0
    # Fewer recommendations than k still divide by k: an empty slot is a miss.
    assert precision_at_k([2], relevant, 4) == pytest.approx(1 / 4)


def test_ndcg_at_k():
    relevant = {2, 5}
    # Hits at ranks 2 and 5: (1/log2(3) + 1/log2(6)) / (1/log2(2) + 1/log2(3)).
    expected = (1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k([1, 2, 3, 4, 5], relevant, 5) == pytest.approx(expected)
    assert ndcg_at_k([2, 5, 1], relevant, 3) == pytest.approx(1.0)
    assert ndcg_at_k([1, 3], relevant, 2) == 0.0
    with pytest.raises(ValueError):
        ndcg_at_k([1], relevant, 0)


def test_rmse():
    assert rmse([(4.0, 5.0), (2.0, 1.0), (3.0, 3.0)]) == pytest.approx(math.sqrt(2 / 3))
    with pytest.raises(ValueError):
        rmse([])


def test_split_holds_out_part_of_every_user_and_is_deterministic():
    ratings = [RatingRecord(f"user{u}", item, 3.0) for u in range(5) for item in range(10)]
    train, test = train_test_split(ratings, test_fraction=0.2, seed=3)
    assert len(test) == 10 and len(train) == 40
    assert {r.user_id for r in test} == {f"user{u}" for u in range(5)}
    assert sorted(train + test, key=lambda r: (r.user_id, r.item_id)) == ratings
    assert train_test_split(ratings, test_fraction=0.2, seed=3) == (train, test)
    assert train_test_split(ratings, test_fraction=0.2, seed=4) != (train, test)


def test_split_keeps_min_train_ratings_per_user():
    ratings = [RatingRecord("solo", 1, 4.0)]
    train, test = train_test_split(ratings, test_fraction=0.5, seed=0, min_train=1)
    assert train == ratings and test == []


def test_collaborative_filtering_finds_the_held_out_favourites_that_popularity_cannot(db):
    items, users, ratings = two_taste_world(db, users_per_group=10, items_per_group=8, seed=11)
    records = [RatingRecord(user, item, value) for user, item, value in ratings]
    train, test = train_test_split(records, test_fraction=0.25, seed=5)
    for record in train:
        db.upsert_rating(user_id=record.user_id, item_id=record.item_id, rating=record.rating)

    knn = evaluate(PearsonUserKNN().fit(db), test, k=4)
    popular = evaluate(Popularity().fit(db), test, k=4)

    # Each user's held-out favourites are unrated items of their own group, which the like-minded
    # neighbours (9 of them, each holding out a quarter of their own ratings) love: user-based CF must rank
    # all of them first.
    assert knn.users == len({record.user_id for record in test if record.rating >= 4.0}) >= 10
    assert knn.ndcg == pytest.approx(1.0)
    assert knn.recall == pytest.approx(1.0)
    assert knn.rmse is not None and knn.rmse < 0.75
    assert popular.ndcg < knn.ndcg
