"""Recommenders: one class per algorithm behind a small interface, a hybrid that picks between them, the
training job of the item-to-item model, and plain-Python offline evaluation.

`training` needs numpy and scipy (the `train` extra) and is imported only by what trains."""

from cinelibre.recommend.base import MAX_RECOMMENDATIONS, NotFittedError, Recommendation, Recommender
from cinelibre.recommend.content import ContentBased
from cinelibre.recommend.hybrid import Hybrid, HybridResult
from cinelibre.recommend.item_model import ItemToItem
from cinelibre.recommend.popularity import Popularity

__all__ = [
    "MAX_RECOMMENDATIONS",
    "ContentBased",
    "Hybrid",
    "HybridResult",
    "ItemToItem",
    "NotFittedError",
    "Popularity",
    "Recommendation",
    "Recommender",
]
