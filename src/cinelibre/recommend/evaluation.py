"""Offline evaluation in plain Python, for any recommender: per-user hold-out splits, ranking metrics
(precision@k, recall@k, NDCG@k, MRR, success@k with binary relevance, catalog coverage) and rating accuracy.

Rating accuracy is measured over every held-out pair. A model that abstains on a pair (no prediction, or a
prediction it does not trust) is not let off: the pair is scored with a fallback (the user's own training
mean, else the global training mean) and the report says which share of pairs the model predicted itself.
Measuring only the pairs a model chose to predict flatters a model that predicts few of them.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

from cinelibre.recommend.base import Recommender

RELEVANT_RATING = 4.0

# (user_id, item_id) -> a predicted rating, or None to abstain.
RatingPredictor = Callable[[Any, Any], float | None]


@dataclass(frozen=True, slots=True)
class RatingRecord:
    user_id: Any
    item_id: Any
    rating: float
    # Seconds since the epoch, when the data has them (most-rated-recently needs them).
    timestamp: float | None = None


def train_test_split(
    ratings: Iterable[RatingRecord], *, test_fraction: float = 0.2, seed: int = 0, min_train: int = 1
) -> tuple[list[RatingRecord], list[RatingRecord]]:
    """Hold out `test_fraction` of each user's ratings (at least one when the user has more than
    `min_train`), so every tested user keeps something to learn from. Deterministic for a seed and the
    order of `ratings`."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be between 0 and 1")
    by_user: dict[Hashable, list[RatingRecord]] = defaultdict(list)
    for record in ratings:
        by_user[record.user_id].append(record)
    generator = random.Random(seed)
    train: list[RatingRecord] = []
    test: list[RatingRecord] = []
    # Users in the order they first appear, not sorted by id: the split then depends on the data and the
    # seed only, even when the same users get new ids (a database that generates them).
    for records in by_user.values():
        records.sort(key=lambda record: record.item_id)
        generator.shuffle(records)
        held = max(0, min(max(1, round(len(records) * test_fraction)), len(records) - min_train))
        test.extend(records[:held])
        train.extend(records[held:])
    return train, test


# -- ranking metrics for one user's list ---------------------------------------------------------------------


def _check_k(k: int) -> None:
    if k <= 0:
        raise ValueError("k must be positive")


def precision_at_k(recommended: Sequence[Hashable], relevant: set, k: int) -> float:
    _check_k(k)
    return sum(1 for item in recommended[:k] if item in relevant) / k


def recall_at_k(recommended: Sequence[Hashable], relevant: set, k: int) -> float:
    _check_k(k)
    if not relevant:
        return 0.0
    return sum(1 for item in recommended[:k] if item in relevant) / len(relevant)


def ndcg_at_k(recommended: Sequence[Hashable], relevant: set, k: int) -> float:
    _check_k(k)
    gains = sum(
        1.0 / math.log2(rank + 1) for rank, item in enumerate(recommended[:k], start=1) if item in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return gains / ideal if ideal else 0.0


def reciprocal_rank(recommended: Sequence[Hashable], relevant: set, k: int | None = None) -> float:
    """1 / the rank of the first relevant item within the first k (the whole list when k is None); 0 if
    there is none. Averaged over users it is MRR."""
    if k is not None:
        _check_k(k)
    for rank, item in enumerate(recommended if k is None else recommended[:k], start=1):
        if item in relevant:
            return 1.0 / rank
    return 0.0


def success_at_k(recommended: Sequence[Hashable], relevant: set, k: int) -> float:
    """1 when at least one of the first k items is relevant (a "hit rate"), else 0."""
    _check_k(k)
    return 1.0 if any(item in relevant for item in recommended[:k]) else 0.0


def catalog_coverage(lists: Iterable[Sequence[Hashable]], catalog_size: int, k: int | None = None) -> float:
    """The share of the catalog that appears in at least one list (its first k items)."""
    if catalog_size <= 0:
        raise ValueError("catalog_size must be positive")
    shown: set = set()
    for items in lists:
        shown.update(items if k is None else items[:k])
    return len(shown) / catalog_size


def rmse(pairs: Iterable[tuple[float, float]]) -> float:
    """Root mean squared error over (predicted, actual) pairs."""
    squared = [(predicted - actual) ** 2 for predicted, actual in pairs]
    if not squared:
        raise ValueError("rmse needs at least one (predicted, actual) pair")
    return math.sqrt(fmean(squared))


# -- over a whole test set -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RankingReport:
    k: int
    # Users with at least one relevant held-out rating: the ones the ranking metrics average over.
    users: int
    precision: float
    recall: float
    ndcg: float
    mrr: float
    success_k: int
    success: float
    # Share of the catalog shown to anyone (every listed user counts, relevant items or not); None when the
    # catalog size is unknown.
    coverage: float | None


def relevant_items(test: Iterable[RatingRecord], relevant_rating: float = RELEVANT_RATING) -> dict[Any, set]:
    """{user: held-out items rated >= relevant_rating}, for every user in the test set (possibly empty)."""
    relevant: dict[Any, set] = {}
    for record in test:
        wanted = relevant.setdefault(record.user_id, set())
        if record.rating >= relevant_rating:
            wanted.add(record.item_id)
    return relevant


def ranking_metrics(
    lists: Mapping[Any, Sequence[Hashable]],
    test: Iterable[RatingRecord],
    *,
    k: int = 10,
    relevant_rating: float = RELEVANT_RATING,
    catalog_size: int | None = None,
    success_k: int = 5,
) -> RankingReport:
    """Averages over the test users with a relevant held-out item; a user with no list scores zero."""
    _check_k(k)
    _check_k(success_k)
    relevant = relevant_items(test, relevant_rating)
    scored = [user for user in relevant if relevant[user]]
    per_metric: dict[str, list[float]] = defaultdict(list)
    for user in scored:
        ranked = list(lists.get(user, ()))[:k]
        wanted = relevant[user]
        per_metric["precision"].append(precision_at_k(ranked, wanted, k))
        per_metric["recall"].append(recall_at_k(ranked, wanted, k))
        per_metric["ndcg"].append(ndcg_at_k(ranked, wanted, k))
        per_metric["mrr"].append(reciprocal_rank(ranked, wanted, k))
        per_metric["success"].append(success_at_k(ranked, wanted, success_k))
    averages = {name: fmean(values) if values else 0.0 for name, values in per_metric.items()}
    coverage = None
    if catalog_size is not None:
        coverage = catalog_coverage(lists.values(), catalog_size, k)
    return RankingReport(
        k=k,
        users=len(scored),
        precision=averages.get("precision", 0.0),
        recall=averages.get("recall", 0.0),
        ndcg=averages.get("ndcg", 0.0),
        mrr=averages.get("mrr", 0.0),
        success_k=success_k,
        success=averages.get("success", 0.0),
        coverage=coverage,
    )


@dataclass(frozen=True, slots=True)
class RatingAccuracy:
    # Over every held-out pair: the model's prediction where it made one, the fallback where it abstained.
    rmse: float
    pairs: int
    # How many pairs the model predicted itself, and their share.
    predicted_pairs: int
    coverage: float
    # Over the predicted pairs only (None when there are none): compare it with `rmse` to see what abstaining
    # hides; never report it alone.
    rmse_predicted: float | None


class MeanFallback:
    """The user's own mean training rating, else the global training mean: what a pair scores when the model
    abstains."""

    def __init__(self, train: Iterable[RatingRecord]) -> None:
        sums: dict[Any, list[float]] = defaultdict(list)
        everything: list[float] = []
        for record in train:
            sums[record.user_id].append(record.rating)
            everything.append(record.rating)
        if not everything:
            raise ValueError("the fallback needs at least one training rating")
        self.global_mean = fmean(everything)
        self.user_means = {user: fmean(values) for user, values in sums.items()}

    def __call__(self, user_id: Any, item_id: Any) -> float:
        return self.user_means.get(user_id, self.global_mean)


def rating_accuracy(
    predict: RatingPredictor, test: Iterable[RatingRecord], *, fallback: Callable[[Any, Any], float]
) -> RatingAccuracy:
    """RMSE of `predict` over every pair in `test`, with `fallback` standing in where it abstains (None or
    not finite)."""
    every: list[tuple[float, float]] = []
    predicted: list[tuple[float, float]] = []
    for record in test:
        value = predict(record.user_id, record.item_id)
        if value is not None and math.isfinite(value):
            predicted.append((float(value), record.rating))
            every.append((float(value), record.rating))
        else:
            every.append((float(fallback(record.user_id, record.item_id)), record.rating))
    if not every:
        raise ValueError("the test set holds no ratings")
    return RatingAccuracy(
        rmse=rmse(every),
        pairs=len(every),
        predicted_pairs=len(predicted),
        coverage=len(predicted) / len(every),
        rmse_predicted=rmse(predicted) if predicted else None,
    )


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    ranking: RankingReport
    ratings: RatingAccuracy


def evaluate(
    recommender: Recommender,
    train: Sequence[RatingRecord],
    test: Sequence[RatingRecord],
    *,
    k: int = 10,
    relevant_rating: float = RELEVANT_RATING,
    predict: RatingPredictor | None = None,
    catalog_size: int | None = None,
) -> EvaluationReport:
    """Ranking metrics and rating accuracy for a recommender already fitted on `train`.

    Without `predict`, the recommender's own `predicted_rating` on the items it recommended is all it
    predicts: every other held-out pair falls back to the user's mean, and `coverage` shows how few pairs
    that is."""
    lists: dict[Any, list] = {}
    shown_predictions: dict[tuple[Any, Any], float] = {}
    for user_id in sorted({record.user_id for record in test}):
        recommendations = recommender.recommend(user_id, k)
        lists[user_id] = [item.item_id for item in recommendations]
        for item in recommendations:
            if item.predicted_rating is not None:
                shown_predictions[(user_id, item.item_id)] = item.predicted_rating
    ranking = ranking_metrics(
        lists, test, k=k, relevant_rating=relevant_rating, catalog_size=catalog_size, success_k=min(5, k)
    )
    predictor = predict or (lambda user_id, item_id: shown_predictions.get((user_id, item_id)))
    return EvaluationReport(
        ranking=ranking, ratings=rating_accuracy(predictor, test, fallback=MeanFallback(train))
    )
