"""The recommender interface: `fit`, `recommend(user, n, exclude_seen)` and `similar_items`.

The ratings and embeddings live in the database and each algorithm runs there as one SQL function, so
`fit` binds a recommender to the database that holds its training data instead of copying it into memory:
the model is always as fresh as the last rating.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from cinelibre.db.port import Database, ItemType, ItemTypeFilter, Row

# "ease" and "item_knn" are the trained item-to-item model (which one depends on the catalog's size).
Method = Literal["ease", "item_knn", "content_based", "popularity"]
MODEL_METHODS: tuple[Method, ...] = ("ease", "item_knn")

MAX_RECOMMENDATIONS = 100


@dataclass(frozen=True, slots=True)
class Recommendation:
    item_id: int
    item_type: ItemType
    title: str
    year: int | None
    image_url: str | None
    # Higher is better within one method; scores of different methods are not comparable.
    score: float
    method: Method
    # A sentence a person can read: "because you liked Drishyam and Kahaani".
    reason: str
    predicted_rating: float | None = None
    similarity: float | None = None
    # Our users' ratings of the item, where the method knows them (popularity).
    average_rating: float | None = None
    rating_count: int | None = None
    # The trained model version that produced the item; None for content-based and popularity items.
    model_version: int | None = None

    @classmethod
    def from_row(
        cls, row: Row, *, method: Method, score: float, reason: str, **extra: Any
    ) -> Recommendation:
        """From a row of the recommendation SQL functions, which all share these item columns."""
        return cls(
            item_id=int(row["item_id"]), item_type=row["item_type"], title=row["title"], year=row["year"],
            image_url=row["image_url"], score=score, method=method, reason=reason, **extra,
        )


class NotFittedError(RuntimeError):
    """A recommender was asked for recommendations before `fit` gave it its data."""


class Recommender(ABC):
    method: ClassVar[Method]

    def __init__(self) -> None:
        self._database: Database | None = None

    def fit(self, database: Database) -> Self:
        self._database = database
        return self

    @property
    def database(self) -> Database:
        if self._database is None:
            raise NotFittedError(f"{type(self).__name__}.fit(database) must be called first")
        return self._database

    @abstractmethod
    def recommend(
        self, user_id: str, n: int = 10, *, exclude_seen: bool = True, item_type: ItemTypeFilter = "all"
    ) -> list[Recommendation]:
        """Up to `n` items for the user, best first."""

    def similar_items(
        self, item_id: int, n: int = 10, *, target_type: ItemType = "movie"
    ) -> list[Recommendation]:
        """Items like `item_id`. Only algorithms that can compare items implement it."""
        raise NotImplementedError(f"{type(self).__name__} cannot compare items with each other")


def check_count(n: int) -> None:
    if not 1 <= n <= MAX_RECOMMENDATIONS:
        raise ValueError(f"n must be 1 to {MAX_RECOMMENDATIONS}, not {n}")


def require_exclude_seen(recommender: Recommender, exclude_seen: bool) -> None:
    # Their SQL functions never return a rated item: a caller asking for rated items would silently get none.
    if not exclude_seen:
        raise ValueError(f"{type(recommender).__name__} never recommends items the user has rated")


def format_rating(value: float) -> str:
    """4.0 -> "4", 4.5 -> "4.5": how people write star ratings."""
    return f"{float(value):g}"
