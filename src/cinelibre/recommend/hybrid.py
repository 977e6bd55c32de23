"""The hybrid: collaborative filtering when the user has enough ratings and neighbours, content-based from
what they rated highly when not, popularity for a user with no ratings; it says which it used and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from cinelibre.db.port import Database, ItemType, ItemTypeFilter
from cinelibre.recommend.base import (
    Method,
    Recommendation,
    Recommender,
    check_count,
    format_rating,
    require_exclude_seen,
)
from cinelibre.recommend.collaborative import PearsonUserKNN
from cinelibre.recommend.content import ContentBased
from cinelibre.recommend.popularity import Popularity


@dataclass(frozen=True, slots=True)
class HybridResult:
    method: Method
    # Why this method, in words a person can read.
    explanation: str
    rating_count: int
    recommendations: list[Recommendation]


class Hybrid(Recommender):
    method = "collaborative"  # its preferred method; `explain` reports the one actually used

    def __init__(
        self,
        *,
        collaborative: PearsonUserKNN | None = None,
        content: ContentBased | None = None,
        popularity: Popularity | None = None,
        min_ratings_for_collaborative: int = 5,
    ) -> None:
        super().__init__()
        self.collaborative = collaborative or PearsonUserKNN()
        self.content = content or ContentBased()
        self.popularity = popularity or Popularity()
        if min_ratings_for_collaborative < self.collaborative.min_overlap:
            raise ValueError("min_ratings_for_collaborative cannot be below the collaborative min_overlap")
        self.min_ratings_for_collaborative = min_ratings_for_collaborative

    def fit(self, database: Database) -> Self:
        for part in (self.collaborative, self.content, self.popularity):
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

    def explain(self, user_id: str, n: int = 10, *, item_type: ItemTypeFilter = "all") -> HybridResult:
        check_count(n)
        rating_count = self.database.count_user_ratings(user_id=user_id)
        liked = format_rating(self.content.min_rating)

        if rating_count == 0:
            method: Method = "popularity"
            explanation = "You have not rated anything yet, so these are the most popular titles."
            # Nothing rated, nothing to leave out: the list for everyone (kept warm per container) will do.
            primary = self.popularity.recommend(user_id, n, exclude_seen=False, item_type=item_type)
        else:
            primary = []
            if rating_count >= self.min_ratings_for_collaborative:
                primary = self.collaborative.recommend(user_id, n, item_type=item_type)
                if primary:
                    method = "collaborative"
                    explanation = f"Based on people whose ratings agree with your {rating_count} ratings."
                else:
                    why_not = "nobody has yet rated enough of the same titles the way you did"
            else:
                why_not = (
                    f"with {rating_count} rating{'s' if rating_count != 1 else ''} "
                    f"(we need {self.min_ratings_for_collaborative}) "
                    "we cannot yet find people who share your taste"
                )
            if not primary:
                primary = self.content.recommend(user_id, n, item_type=item_type)
                if primary:
                    method = "content_based"
                    explanation = (
                        f"{_sentence(why_not)}, so these are close to what you rated {liked} or more."
                    )
                else:
                    method = "popularity"
                    explanation = (
                        f"{_sentence(why_not)}, and none of your ratings is {liked} or more, "
                        "so these are popular titles you have not rated."
                    )
                    primary = self.popularity.recommend(user_id, n, item_type=item_type)

        return HybridResult(
            method=method,
            explanation=explanation,
            rating_count=rating_count,
            recommendations=self._filled(primary, method, user_id, n, item_type),
        )

    def _filled(
        self, primary: list[Recommendation], method: Method, user_id: str, n: int, item_type: ItemTypeFilter
    ) -> list[Recommendation]:
        """Tops a short list up with the next methods down, so a user with a narrow taste still gets `n`
        items; every item keeps its own method and reason."""
        items = list(primary)
        chain: list[Recommender] = [self.collaborative, self.content, self.popularity]
        fallbacks = chain[[part.method for part in chain].index(method) + 1 :]
        for fallback in fallbacks:
            if len(items) >= n:
                break
            seen = {item.item_id for item in items}
            wanted = min(n + len(seen), 100)
            for item in fallback.recommend(user_id, wanted, item_type=item_type):
                if item.item_id not in seen and len(items) < n:
                    items.append(item)
                    seen.add(item.item_id)
        return items


def _sentence(clause: str) -> str:
    return clause[:1].upper() + clause[1:]
