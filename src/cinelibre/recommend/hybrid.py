"""The hybrid: the trained item-to-item model for a user with a liked title it knows; content-based from
what they rated best when the model cannot help (no model yet, or only titles too new or too rarely rated
for it); popularity for a user with no ratings. It says which it used and why, and tops a short list up
with the next method down, each item keeping its own method and reason."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Self

from cinelibre.db.port import Database, ItemType, ItemTypeFilter, Row
from cinelibre.recommend.base import (
    MAX_RECOMMENDATIONS,
    MODEL_METHODS,
    Method,
    Recommendation,
    Recommender,
    check_count,
    require_exclude_seen,
)
from cinelibre.recommend.content import ContentBased
from cinelibre.recommend.item_model import ItemToItem
from cinelibre.recommend.popularity import Popularity

# How many of a model user's last places go to new releases (no ratings yet, so unknown to the model) whose
# content is at least NEW_ITEM_SIMILARITY close (cosine, all-MiniLM-L6-v2) to what they liked. Off by default
# since session 5: measured on MovieLens with the catalog embedded (docs/recommendations.md, "New releases"),
# one slot at 0.5 took the 10th place of every list, hit 2 of 711 liked new titles and cost 3.6% of NDCG@10 on
# validation; no threshold, count or place earned its cost. `cinelibre evaluate --new-item-slots` measures it
# on another catalog. Users the model cannot serve still get new releases from the content-based path.
NEW_ITEM_SLOTS = 0
NEW_ITEM_SIMILARITY = 0.5


@dataclass(frozen=True, slots=True)
class HybridResult:
    method: Method
    # Why this method, in words a person can read.
    explanation: str
    rating_count: int
    recommendations: list[Recommendation]
    # The trained model version behind the list's first method; None when it was not the model.
    model_version: int | None = None


@dataclass(frozen=True, slots=True)
class Start:
    """What a caller already fetched for one request: the user's rating count, and the rows
    `get_model_recommendations` returns for exactly this request's user, type and count (None: not fetched)."""

    rating_count: int
    model_rows: list[Row] | None = None


def title_key(item: Recommendation) -> tuple[str, str, int | None]:
    """Two catalog entries of one title (the same film ingested twice) count as one."""
    return item.item_type, item.title.casefold(), item.year


class Hybrid(Recommender):
    method = "ease"  # its preferred method; `explain` reports the one actually used

    def __init__(
        self,
        *,
        model: ItemToItem | None = None,
        content: ContentBased | None = None,
        popularity: Popularity | None = None,
        new_item_slots: int = NEW_ITEM_SLOTS,
        new_item_similarity: float = NEW_ITEM_SIMILARITY,
    ) -> None:
        super().__init__()
        self.model = model or ItemToItem()
        self.content = content or ContentBased()
        self.popularity = popularity or Popularity()
        self.new_item_slots = new_item_slots
        self.new_item_similarity = new_item_similarity

    def fit(self, database: Database) -> Self:
        for part in (self.model, self.content, self.popularity):
            part.fit(database)
        return super().fit(database)

    def recommend(
        self, user_id: str, n: int = 10, *, exclude_seen: bool = True, item_type: ItemTypeFilter = "all"
    ) -> list[Recommendation]:
        require_exclude_seen(self, exclude_seen)
        return self.explain(user_id, n, item_type=item_type).recommendations

    def similar_items(
        self, item_id: int, n: int = 10, *, target_type: ItemType = "movie"
    ) -> list[Recommendation]:
        return self.content.similar_items(item_id, n, target_type=target_type)

    def explain(
        self, user_id: str, n: int = 10, *, item_type: ItemTypeFilter = "all", start: Start | None = None
    ) -> HybridResult:
        """`start`: the user's rating count and the model's rows for exactly this request when the caller
        already has them (the handler's single round trip), so they are not asked for again."""
        check_count(n)
        rating_count = self.database.count_user_ratings(user_id=user_id) if start is None else start.rating_count

        if rating_count == 0:
            # Nothing rated, nothing to leave out: the list for everyone (kept warm per container) will do.
            primary = self.popularity.recommend(user_id, n, exclude_seen=False, item_type=item_type)
            result = HybridResult(
                method="popularity",
                explanation="You have not rated anything yet, so these are the titles rated most here.",
                rating_count=0,
                recommendations=primary,
            )
            return replace(result, recommendations=self._filled(result, user_id, n, item_type))

        if start is None or start.model_rows is None:
            primary = self.model.recommend(user_id, n, item_type=item_type)
        else:
            primary = self.model.from_rows(start.model_rows)
        ratings = f"{rating_count} rating{'s' if rating_count != 1 else ''}"
        if primary:
            primary = self._with_new_items(primary, user_id, n, item_type)
            result = HybridResult(
                method=primary[0].method,
                explanation=(
                    f"From your {ratings}: titles that people who liked the same ones also liked."
                ),
                rating_count=rating_count,
                recommendations=primary,
                model_version=primary[0].model_version,
            )
        else:
            why_not = (
                "Our trained model does not know the titles you liked yet (too new or too rarely rated)"
                if self.database.get_active_recommender_model() is not None
                else "No recommendation model has been trained yet"
            )
            primary = self.content.recommend(user_id, n, item_type=item_type)
            if primary:
                result = HybridResult(
                    method="content_based",
                    explanation=f"{why_not}, so these are close in content to what you rated best.",
                    rating_count=rating_count,
                    recommendations=primary,
                )
            else:
                result = HybridResult(
                    method="popularity",
                    explanation=(
                        f"{why_not}, and none of what you rated has a description to compare, "
                        "so these are the titles rated most here that you have not rated."
                    ),
                    rating_count=rating_count,
                    recommendations=self.popularity.recommend(user_id, n, item_type=item_type),
                )
        return replace(result, recommendations=self._filled(result, user_id, n, item_type))

    def _with_new_items(
        self, primary: list[Recommendation], user_id: str, n: int, item_type: ItemTypeFilter
    ) -> list[Recommendation]:
        """The model's list with its last `new_item_slots` places (at most a third of the list) given to
        titles the model cannot know yet, when one is close in content to what the user liked: without this
        a new release never reaches a user the model serves."""
        slots = min(self.new_item_slots, n // 3)
        if slots <= 0:
            return primary
        new = self.content.new_items(user_id, slots, item_type=item_type, min_similarity=self.new_item_similarity)
        if not new:
            return primary
        return _unique(primary[: n - len(new)] + new)

    def _filled(self, result: HybridResult, user_id: str, n: int, item_type: ItemTypeFilter) -> list[Recommendation]:
        """Tops a short list up with the next methods down, never repeating an item or a title, then gives
        the model's predicted rating to the items that came from elsewhere (when the model knows them)."""
        items = _unique(result.recommendations)
        chain: list[Recommender] = [self.model, self.content, self.popularity]
        position = 0 if result.method in MODEL_METHODS else [p.method for p in chain].index(result.method)
        for fallback in chain[position + 1 :]:
            if len(items) >= n:
                break
            if result.rating_count == 0 and fallback is not self.popularity:
                continue
            wanted = min(n + len(items), MAX_RECOMMENDATIONS)
            exclude_seen = result.rating_count > 0
            items = _unique(items + fallback.recommend(user_id, wanted, exclude_seen=exclude_seen,
                                                       item_type=item_type))[:n]
        items = items[:n]
        return self._with_predictions(items, user_id) if result.rating_count else items

    def _with_predictions(self, items: list[Recommendation], user_id: str) -> list[Recommendation]:
        missing = [item.item_id for item in items if item.predicted_rating is None]
        if not missing:
            return items
        predicted = self.database.predict_user_ratings(user_id=user_id, item_ids=missing)
        return [_with_prediction(item, predicted.get(item.item_id)) for item in items]


def _unique(items: list[Recommendation]) -> list[Recommendation]:
    seen_ids: set[int] = set()
    seen_titles: set[tuple[str, str, int | None]] = set()
    unique = []
    for item in items:
        if item.item_id in seen_ids or title_key(item) in seen_titles:
            continue
        seen_ids.add(item.item_id)
        seen_titles.add(title_key(item))
        unique.append(item)
    return unique


def _with_prediction(item: Recommendation, prediction: float | None) -> Recommendation:
    """The item with the model's predicted rating where it had none and the model has one."""
    if item.predicted_rating is not None or prediction is None:
        return item
    return replace(item, predicted_rating=round(float(prediction), 2))
