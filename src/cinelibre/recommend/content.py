"""Content-based recommendations from the stored embeddings of what the user liked."""

from __future__ import annotations

from cinelibre.db.port import ItemType, ItemTypeFilter
from cinelibre.recommend.base import (
    Recommendation,
    Recommender,
    check_count,
    format_rating,
    require_exclude_seen,
)


class ContentBased(Recommender):
    """Items nearest to the mean embedding of what the user rated at least `min_rating` (or, when they
    rated nothing that high, of their own best-rated items), one entry per title, ties broken by item id
    (`get_content_recommendations`); and items nearest to one item (`get_similar_items`). Needs no model:
    the embeddings were stored when the catalog was ingested, so it reaches new titles nobody rated yet."""

    method = "content_based"

    def __init__(self, *, min_rating: float = 4.0) -> None:
        super().__init__()
        self.min_rating = min_rating

    def recommend(
        self, user_id: str, n: int = 10, *, exclude_seen: bool = True, item_type: ItemTypeFilter = "all"
    ) -> list[Recommendation]:
        check_count(n)
        require_exclude_seen(self, exclude_seen)
        rows = self.database.get_content_recommendations(
            user_id=user_id, item_type=item_type, count=n, min_rating=self.min_rating
        )
        return [
            Recommendation.from_row(
                row,
                method=self.method,
                score=float(row["similarity"]),
                reason=f"because you rated {row['because_title']} {format_rating(row['because_rating'])}",
                similarity=round(float(row["similarity"]), 4),
            )
            for row in rows
        ]

    def new_items(
        self, user_id: str, n: int = 1, *, item_type: ItemTypeFilter = "all", min_similarity: float = 0.5
    ) -> list[Recommendation]:
        """Titles the trained model does not know yet (no ratings when it was trained: new releases) at least
        `min_similarity` close to what the user liked (`get_new_item_recommendations`): the model can never
        put them in a list, so the hybrid gives them a bounded slot."""
        check_count(n)
        rows = self.database.get_new_item_recommendations(
            user_id=user_id, item_type=item_type, count=n, min_rating=self.min_rating,
            min_similarity=min_similarity,
        )
        return [
            Recommendation.from_row(
                row,
                method=self.method,
                score=float(row["similarity"]),
                reason=(f"new here, and close in content to {row['because_title']}, which you rated "
                        f"{format_rating(row['because_rating'])}"),
                similarity=round(float(row["similarity"]), 4),
            )
            for row in rows
        ]

    def similar_items(
        self, item_id: int, n: int = 10, *, target_type: ItemType = "movie"
    ) -> list[Recommendation]:
        check_count(n)
        rows = self.database.get_similar_items(item_id=item_id, target_type=target_type, count=n)
        return [
            Recommendation.from_row(
                row,
                method=self.method,
                score=float(row["similarity"]),
                reason="close in story, themes and genre",
                similarity=round(float(row["similarity"]), 4),
            )
            for row in rows
        ]
