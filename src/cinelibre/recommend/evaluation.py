"""Offline evaluation in plain Python, for any recommender: per-user hold-out splits, precision@k,
recall@k, NDCG@k (binary relevance) and RMSE."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import fmean

from cinelibre.recommend.base import Recommender


@dataclass(frozen=True, slots=True)
class RatingRecord:
    user_id: str
    item_id: int
    rating: float


def train_test_split(
    ratings: Iterable[RatingRecord], *, test_fraction: float = 0.2, seed: int = 0, min_train: int = 1
) -> tuple[list[RatingRecord], list[RatingRecord]]:
    """Hold out `test_fraction` of each user's ratings (at least one when the user has more than
    `min_train`), so every tested user keeps something to learn from. Deterministic for a seed and the
    order of `ratings`."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be between 0 and 1")
    by_user: dict[str, list[RatingRecord]] = defaultdict(list)
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


def precision_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    if k <= 0:
        raise ValueError("k must be positive")
    return sum(1 for item in recommended[:k] if item in relevant) / k


def recall_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    if k <= 0:
        raise ValueError("k must be positive")
    if not relevant:
        return 0.0
    return sum(1 for item in recommended[:k] if item in relevant) / len(relevant)


def ndcg_at_k(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    if k <= 0:
        raise ValueError("k must be positive")
    gains = sum(
        1.0 / math.log2(rank + 1) for rank, item in enumerate(recommended[:k], start=1) if item in relevant
    )
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(k, len(relevant)) + 1))
    return gains / ideal if ideal else 0.0


def rmse(pairs: Iterable[tuple[float, float]]) -> float:
    """Root mean squared error over (predicted, actual) pairs."""
    squared = [(predicted - actual) ** 2 for predicted, actual in pairs]
    if not squared:
        raise ValueError("rmse needs at least one (predicted, actual) pair")
    return math.sqrt(fmean(squared))


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    k: int
    users: int
    precision: float
    recall: float
    ndcg: float
    # Over the held-out ratings the recommender predicted a rating for (None when it predicts none).
    rmse: float | None
    predicted_pairs: int


def evaluate(
    recommender: Recommender,
    test: Iterable[RatingRecord],
    *,
    k: int = 10,
    relevant_rating: float = 4.0,
) -> EvaluationReport:
    """Ranking metrics over the users with at least one relevant held-out rating, for a recommender
    already fitted on the training ratings."""
    held_out: dict[str, list[RatingRecord]] = defaultdict(list)
    for record in test:
        held_out[record.user_id].append(record)
    precisions, recalls, ndcgs, pairs = [], [], [], []
    for user_id in sorted(held_out):
        records = held_out[user_id]
        relevant = {record.item_id for record in records if record.rating >= relevant_rating}
        recommendations = recommender.recommend(user_id, k)
        if relevant:
            ranked = [item.item_id for item in recommendations]
            precisions.append(precision_at_k(ranked, relevant, k))
            recalls.append(recall_at_k(ranked, relevant, k))
            ndcgs.append(ndcg_at_k(ranked, relevant, k))
        actual = {record.item_id: record.rating for record in records}
        pairs.extend(
            (item.predicted_rating, actual[item.item_id])
            for item in recommendations
            if item.predicted_rating is not None and item.item_id in actual
        )
    return EvaluationReport(
        k=k,
        users=len(precisions),
        precision=fmean(precisions) if precisions else 0.0,
        recall=fmean(recalls) if recalls else 0.0,
        ndcg=fmean(ndcgs) if ndcgs else 0.0,
        rmse=rmse(pairs) if pairs else None,
        predicted_pairs=len(pairs),
    )
