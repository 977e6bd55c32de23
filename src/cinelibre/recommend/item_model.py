"""The trained item-to-item model (EASE, or item-kNN on catalogs too large for it) served from PostgreSQL:
`get_model_recommendations` scores the user's current ratings against the active version's neighbours."""

from __future__ import annotations

from cinelibre.db.port import ItemTypeFilter, Row
from cinelibre.recommend.base import Recommendation, Recommender, check_count, require_exclude_seen


class ItemToItem(Recommender):
    """Items whose stored neighbour weights, summed over what the user liked, are highest. Each item names
    the (up to two) rated items that contributed most, and carries the model's predicted rating."""

    method = "ease"  # or "item_knn": each item reports the algorithm of the version that served it

    def recommend(
        self, user_id: str, n: int = 10, *, exclude_seen: bool = True, item_type: ItemTypeFilter = "all"
    ) -> list[Recommendation]:
        check_count(n)
        require_exclude_seen(self, exclude_seen)
        rows = self.database.get_model_recommendations(user_id=user_id, item_type=item_type, count=n)
        return self.from_rows(rows)

    @classmethod
    def from_rows(cls, rows: list[Row]) -> list[Recommendation]:
        """The recommendations of `get_model_recommendations`' rows, however they were fetched."""
        return [cls._recommendation(row) for row in rows]

    @staticmethod
    def _recommendation(row: Row) -> Recommendation:
        predicted = row["predicted_rating"]
        return Recommendation.from_row(
            row,
            method=row["algorithm"],
            score=float(row["score"]),
            reason=liked_reason(row["because_titles"] or []),
            predicted_rating=None if predicted is None else round(float(predicted), 2),
            model_version=int(row["model_version"]),
        )


def liked_reason(titles: list[str]) -> str:
    """"because you liked Drishyam and Kahaani"."""
    if not titles:
        return "liked by people whose ratings resemble yours"
    return "because you liked " + " and ".join(titles[:2])
