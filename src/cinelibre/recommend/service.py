"""The one code path behind `GET /recommendations/personalized`, shared with `cinelibre evaluate`, so an
offline evaluation measures exactly what users are served."""

from __future__ import annotations

from collections.abc import Sequence

from cinelibre.db.port import Database, ItemTypeFilter
from cinelibre.recommend.hybrid import NEW_ITEM_SIMILARITY, NEW_ITEM_SLOTS, Hybrid, HybridResult, Start


def personalized(
    database: Database,
    user_id: str,
    *,
    n: int = 10,
    item_type: ItemTypeFilter = "all",
    start: Start | None = None,
    new_item_slots: int = NEW_ITEM_SLOTS,
    new_item_similarity: float = NEW_ITEM_SIMILARITY,
) -> HybridResult:
    """The user's top `n` items, best first, with the method, reason, predicted rating (or None) and model
    version of each. `start`: what the caller already fetched for this request (see `Hybrid.explain`).
    The new-release slot's settings are the hybrid's defaults; `cinelibre evaluate` may measure others."""
    hybrid = Hybrid(new_item_slots=new_item_slots, new_item_similarity=new_item_similarity)
    return hybrid.fit(database).explain(user_id, n, item_type=item_type, start=start)


def predicted_ratings(database: Database, user_id: str, item_ids: Sequence[int]) -> dict[int, float | None]:
    """The active model's predicted rating of each item for the user (None where it has no trustworthy
    prediction: an item it does not know). Up to 1,000 items per call; {} when no model is active."""
    predictions: dict[int, float | None] = {}
    unique = list(dict.fromkeys(int(item) for item in item_ids))
    for start in range(0, len(unique), 1000):
        predictions |= database.predict_user_ratings(user_id=user_id, item_ids=unique[start : start + 1000])
    return {item: predictions.get(item) for item in unique} if predictions else {}
