"""Offline evaluation: metrics checked against hand-computed values, splits against their promises, and the
evaluation of a recommender whose lists are given. (The trained model's quality on synthetic data is
measured end to end, through the serving SQL, in test_offline_served.py.)"""

from __future__ import annotations

import math

import pytest

from cinelibre.recommend.base import Recommendation, Recommender
from cinelibre.recommend.evaluation import (
    MeanFallback,
    RatingRecord,
    catalog_coverage,
    evaluate,
    ndcg_at_k,
    precision_at_k,
    ranking_metrics,
    rating_accuracy,
    recall_at_k,
    reciprocal_rank,
    rmse,
    success_at_k,
    train_test_split,
)


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


def test_reciprocal_rank_and_success_at_k():
    relevant = {3, 9}
    assert reciprocal_rank([1, 2, 3, 9], relevant) == pytest.approx(1 / 3)
    assert reciprocal_rank([1, 2, 3, 9], relevant, k=2) == 0.0
    assert reciprocal_rank([9], relevant) == 1.0
    assert reciprocal_rank([], relevant) == 0.0
    assert success_at_k([1, 2, 3], relevant, 3) == 1.0
    assert success_at_k([1, 2, 3], relevant, 2) == 0.0
    with pytest.raises(ValueError):
        success_at_k([1], relevant, 0)


def test_catalog_coverage_counts_distinct_items_shown_to_anyone():
    lists = [[1, 2, 3], [3, 4], [1]]
    assert catalog_coverage(lists, 8) == pytest.approx(4 / 8)
    # Only the first k of each list count.
    assert catalog_coverage(lists, 8, k=1) == pytest.approx(2 / 8)
    with pytest.raises(ValueError):
        catalog_coverage(lists, 0)


def test_ranking_metrics_average_over_users_with_a_relevant_held_out_item():
    test = [
        RatingRecord("a", 1, 5.0),
        RatingRecord("a", 2, 4.0),
        RatingRecord("a", 3, 2.0),  # held out but not relevant
        RatingRecord("b", 7, 4.5),
        RatingRecord("c", 8, 3.5),  # c has nothing relevant: left out of the averages, not counted as zero
    ]
    lists = {"a": [3, 1, 9], "b": [5, 6, 7], "c": [8]}
    report = ranking_metrics(lists, test, k=3, catalog_size=10, success_k=2)
    assert report.users == 2
    # a: one hit (item 1) at rank 2 of 3, 2 relevant; b: one hit (item 7) at rank 3, 1 relevant.
    assert report.precision == pytest.approx((1 / 3 + 1 / 3) / 2)
    assert report.recall == pytest.approx((1 / 2 + 1) / 2)
    ndcg_a = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    ndcg_b = (1 / math.log2(4)) / 1
    assert report.ndcg == pytest.approx((ndcg_a + ndcg_b) / 2)
    assert report.mrr == pytest.approx((1 / 2 + 1 / 3) / 2)
    assert report.success == pytest.approx((1 + 0) / 2)
    # Items 3, 1, 9, 5, 6, 7, 8 shown, of 10.
    assert report.coverage == pytest.approx(7 / 10)
    # A user the model gave no list scores zero rather than disappearing.
    missing = ranking_metrics({"a": [3, 1, 9]}, test, k=3)
    assert missing.users == 2 and missing.ndcg == pytest.approx(ndcg_a / 2) and missing.coverage is None


def test_rating_accuracy_covers_every_held_out_pair_and_reports_abstentions():
    train = [RatingRecord("a", 1, 4.0), RatingRecord("a", 2, 2.0), RatingRecord("b", 1, 5.0)]
    test = [
        RatingRecord("a", 3, 4.0),  # predicted 3.5
        RatingRecord("a", 4, 1.0),  # abstained: a's own mean, 3.0
        RatingRecord("z", 1, 2.0),  # abstained, user unseen in training: global mean 11/3
    ]
    predictions = {("a", 3): 3.5}
    accuracy = rating_accuracy(lambda u, i: predictions.get((u, i)), test, fallback=MeanFallback(train))
    assert accuracy.pairs == 3 and accuracy.predicted_pairs == 1
    assert accuracy.coverage == pytest.approx(1 / 3)
    expected = math.sqrt((0.5**2 + 2.0**2 + (11 / 3 - 2.0) ** 2) / 3)
    assert accuracy.rmse == pytest.approx(expected)
    # The flattering figure over the predicted pair alone is reported beside it, never instead of it.
    assert accuracy.rmse_predicted == pytest.approx(0.5)
    # A prediction that is not a number is an abstention too.
    nan = rating_accuracy(lambda u, i: math.nan, test, fallback=MeanFallback(train))
    assert nan.predicted_pairs == 0 and nan.rmse_predicted is None


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


class FixedLists(Recommender):
    """A recommender whose lists and predicted ratings are given, so every figure is hand-computable."""

    method = "popularity"

    def __init__(self, lists: dict[str, list[tuple[int, float | None]]]) -> None:
        super().__init__()
        self.lists = lists

    def recommend(self, user_id, n=10, *, exclude_seen=True, item_type="all"):
        return [
            Recommendation(item_id=item, item_type="movie", title=f"film {item}", year=None, image_url=None,
                           score=1.0 / rank, method="popularity", reason="given", predicted_rating=predicted)
            for rank, (item, predicted) in enumerate(self.lists.get(user_id, []), start=1)
        ][:n]


def test_evaluate_scores_lists_and_every_held_out_rating_of_any_recommender():
    train = [RatingRecord("a", 1, 5.0), RatingRecord("a", 2, 3.0), RatingRecord("b", 1, 2.0)]
    test = [
        RatingRecord("a", 3, 5.0),  # relevant, listed second with a prediction of 4.5
        RatingRecord("a", 4, 2.0),  # not listed: a's training mean, 4.0, stands in
        RatingRecord("b", 5, 4.0),  # relevant, listed first without a prediction: b's mean, 2.0
    ]
    recommender = FixedLists({"a": [(9, 3.0), (3, 4.5)], "b": [(5, None), (6, 1.0)]}).fit(object())

    report = evaluate(recommender, train, test, k=2, catalog_size=10)

    assert report.ranking.users == 2
    assert report.ranking.precision == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert report.ranking.recall == pytest.approx(1.0)
    assert report.ranking.ndcg == pytest.approx((1 / math.log2(3) + 1.0) / 2)
    assert report.ranking.mrr == pytest.approx((1 / 2 + 1) / 2)
    assert report.ranking.success_k == 2 and report.ranking.success == 1.0
    assert report.ranking.coverage == pytest.approx(4 / 10)
    # Every held-out pair counts; only (a, 3) was predicted by the recommender itself.
    assert report.ratings.pairs == 3 and report.ratings.predicted_pairs == 1
    assert report.ratings.rmse == pytest.approx(math.sqrt((0.5**2 + 2.0**2 + 2.0**2) / 3))
    assert report.ratings.rmse_predicted == pytest.approx(0.5)
    # With a predictor for any pair, that predictor is measured on every pair instead.
    exact = evaluate(recommender, train, test, k=2, predict=lambda user, item: {3: 5.0, 4: 2.0, 5: 4.0}[item])
    assert exact.ratings.rmse == 0.0 and exact.ratings.coverage == 1.0
