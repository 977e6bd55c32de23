"""Recommenders: one class per algorithm behind a small interface, a hybrid that picks between them, and
plain-Python offline evaluation."""

from cinelibre.recommend.base import MAX_RECOMMENDATIONS, NotFittedError, Recommendation, Recommender
from cinelibre.recommend.collaborative import PearsonUserKNN
from cinelibre.recommend.content import ContentBased
from cinelibre.recommend.hybrid import Hybrid, HybridResult
from cinelibre.recommend.popularity import Popularity

__all__ = [
    "MAX_RECOMMENDATIONS",
    "ContentBased",
    "Hybrid",
    "HybridResult",
    "NotFittedError",
    "PearsonUserKNN",
    "Popularity",
    "Recommendation",
    "Recommender",
]
