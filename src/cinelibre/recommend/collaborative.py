"""User-based k-nearest-neighbour collaborative filtering with Pearson correlation."""

from __future__ import annotations

from cinelibre.db.port import ItemTypeFilter
from cinelibre.recommend.base import (
    Recommendation,
    Recommender,
    check_count,
    format_rating,
    require_exclude_seen,
)


class PearsonUserKNN(Recommender):
    """Neighbours are the users whose ratings correlate positively with the user's over at least
    `min_overlap` co-rated items; a prediction is the user's mean plus their neighbours' similarity-weighted
    deviations from their own means (Resnick). Runs as `get_collaborative_recommendations` in SQL."""

    method = "collaborative"

    def __init__(self, *, min_overlap: int = 3, neighbours: int = 50) -> None:
        super().__init__()
        if min_overlap < 2:
            raise ValueError("a correlation needs at least 2 co-rated items")
        self.min_overlap = min_overlap
        self.neighbours = neighbours

    def recommend(
        self, user_id: str, n: int = 10, *, exclude_seen: bool = True, item_type: ItemTypeFilter = "all"
    ) -> list[Recommendation]:
        check_count(n)
        require_exclude_seen(self, exclude_seen)
        rows = self.database.get_collaborative_recommendations(
            user_id=user_id,
            item_type=item_type,
            count=n,
            min_overlap=self.min_overlap,
            neighbour_count=self.neighbours,
        )
        return [
            Recommendation.from_row(
                row,
                method=self.method,
                score=float(row["score"]),
                reason=_reason(int(row["neighbour_count"]), float(row["predicted_rating"])),
                predicted_rating=round(float(row["predicted_rating"]), 2),
            )
            for row in rows
        ]


def _reason(neighbour_count: int, predicted: float) -> str:
    people = "person" if neighbour_count == 1 else "people"
    stars = format_rating(round(predicted * 2) / 2)
    return (
        f"{neighbour_count} {people} whose ratings agree with yours rated it; "
        f"we think you would give it {stars}"
    )
