"""Compatibility with the original FlickPage web client (GuduriShashikanth/flickpage-frontend), so its users
can point it at CineLibre by changing its API address and nothing else.

Two layers, both documented in docs/api.md ("Kept for the original FlickPage client") and docs/flickpage.md:

* Additive aliases, always on. They sit beside our own fields without changing them: mixins of computed
  fields for the response models (so they appear in the OpenAPI schema and are derived at serialisation
  from the fields already there, never fetched or built twice), and the `skip` / `type` query aliases.
* `CINELIBRE_API_COMPAT=flickpage`, for deployments that serve the original client: the few answers where
  its shape and ours cannot coexist (a bare array of ratings with string item ids, the
  `collaborative_filtering` method name, book authors and categories as display strings). The route
  validates its body against its own response model first, so nothing beyond the model's fields can leak,
  then reshapes the validated JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, computed_field

from cinelibre.api.schemas import MAX_OFFSET, ItemTypeQuery
from cinelibre.errors import ValidationError
from cinelibre.settings import Settings

KEPT = "Kept for the original FlickPage client"
FLICKPAGE = "flickpage"
# Methods the original client knows by our own name; every other method (collaborative, item_knn, ease, any
# model trained on ratings) is what it calls collaborative filtering.
_FLICKPAGE_METHODS = {"content_based": "content_based", "popularity": "popularity"}
FLICKPAGE_COLLABORATIVE = "collaborative_filtering"
DISPLAY_SEPARATOR = ", "


def kept(description: str) -> str:
    return f"{description}. {KEPT}."


def alias(description: str) -> Any:
    """A computed field documented as an alias kept for the original client."""
    return computed_field(description=kept(description))


# -- additive aliases on response models ------------------------------------------------------------------


class RecommendedItemAliases(BaseModel):
    """For items shaped `item_id`, `item_type`, `image_url`, `year` (search results, recommendations)."""

    if TYPE_CHECKING:
        item_id: int
        item_type: str
        image_url: str | None
        year: int | None

    @alias("Same as item_id")
    @property
    def id(self) -> int:
        return self.item_id

    @alias("Same as image_url, for a movie (null for a book)")
    @property
    def poster_url(self) -> str | None:
        return self.image_url if self.item_type == "movie" else None

    @alias("Same as image_url, for a book (null for a movie)")
    @property
    def thumbnail_url(self) -> str | None:
        return self.image_url if self.item_type == "book" else None

    @alias('The year as a year-precision ISO 8601 date ("2015"); the full date is on the item\'s details')
    @property
    def release_date(self) -> str | None:
        return year_date(self.year)


class MovieSummaryAliases(BaseModel):
    if TYPE_CHECKING:
        year: int | None
        original_language: str | None

    @alias('The release year as a year-precision ISO 8601 date ("2015"); the full date is on GET /movies/{id}')
    @property
    def release_date(self) -> str | None:
        return year_date(self.year)

    @alias("Same as original_language")
    @property
    def language(self) -> str | None:
        return self.original_language


class BookSummaryAliases(BaseModel):
    if TYPE_CHECKING:
        year: int | None

    @alias('The publication year ("2005"); the date as the source gives it is on GET /books/{id}')
    @property
    def published_date(self) -> str | None:
        return year_date(self.year)


class MovieDetailAliases(BaseModel):
    if TYPE_CHECKING:
        original_language: str | None
        cast_members: list[Any]

    @alias("Same as original_language")
    @property
    def language(self) -> str | None:
        return self.original_language

    @alias("Same list as cast_members")
    @property
    def cast(self) -> list[Any]:
        return self.cast_members


class MoviesAlias(BaseModel):
    if TYPE_CHECKING:
        items: list[Any]

    @alias("Same list as items")
    @property
    def movies(self) -> list[Any]:
        return self.items


class BooksAlias(BaseModel):
    if TYPE_CHECKING:
        items: list[Any]

    @alias("Same list as items")
    @property
    def books(self) -> list[Any]:
        return self.items


class SimilarItemsAlias(BaseModel):
    if TYPE_CHECKING:
        items: list[Any]

    @alias("Same list as items")
    @property
    def similar_items(self) -> list[Any]:
        return self.items


class PopularItemsAlias(BaseModel):
    if TYPE_CHECKING:
        items: list[Any]

    @alias("Same list as items")
    @property
    def popular_items(self) -> list[Any]:
        return self.items


class RecommendationsAlias(BaseModel):
    if TYPE_CHECKING:
        items: list[Any]

    @alias("Same list as items")
    @property
    def recommendations(self) -> list[Any]:
        return self.items


class SearchSourceAlias(BaseModel):
    @alias('Always "database": results come from the stored catalog, never from a live TMDB call')
    @property
    def source(self) -> Literal["database"]:
        return "database"


class SuccessAlias(BaseModel):
    @alias("Always true on a 201 (a failure is an error status with an error body)")
    @property
    def success(self) -> bool:
        return True


class TokenAlias(BaseModel):
    if TYPE_CHECKING:
        access_token: str

    @alias("Same as access_token")
    @property
    def token(self) -> str:
        return self.access_token


def year_date(year: int | None) -> str | None:
    return None if year is None else f"{year:04d}"


def popularity_figures(average_rating: float | None, rating_count: int | None) -> dict[str, Any]:
    """`avg_rating` and `rating_count` of a popular item: our users' ratings (null average when unrated)."""
    return {
        "avg_rating": None if average_rating is None else round(float(average_rating), 2),
        "rating_count": int(rating_count or 0),
    }


# -- query aliases ----------------------------------------------------------------------------------------


# The alias dependencies do no I/O: `async def` keeps FastAPI from running each on a worker thread.
async def page_offset(
    offset: Annotated[
        int | None, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip, at most {MAX_OFFSET}")
    ] = None,
    skip: Annotated[
        int | None, Query(ge=0, le=MAX_OFFSET, description=kept("Same as offset"))
    ] = None,
) -> int:
    if offset is not None and skip is not None and offset != skip:
        raise ValidationError("offset and skip name the same thing; give one", details={"field": "skip"})
    return offset if offset is not None else (skip or 0)


async def item_type_filter(
    item_type: Annotated[ItemTypeQuery | None, Query(description="movie, book or all (default)")] = None,
    type: Annotated[
        ItemTypeQuery | None, Query(description=kept("Same as item_type"))
    ] = None,
) -> ItemTypeQuery:
    if item_type is not None and type is not None and item_type != type:
        raise ValidationError("item_type and type name the same thing; give one", details={"field": "type"})
    return item_type or type or "all"


# `item_type`, or `type` as the original FlickPage client names it.
ItemTypeFilter = Annotated[ItemTypeQuery, Depends(item_type_filter)]


# -- CINELIBRE_API_COMPAT=flickpage: the real conflicts ---------------------------------------------------


def flickpage(settings: Settings) -> bool:
    return settings.api_compat == FLICKPAGE


def flickpage_method(method: str) -> str:
    return _FLICKPAGE_METHODS.get(method, FLICKPAGE_COLLABORATIVE)


def display_string(value: Any) -> Any:
    """A list of names as one display string ("Alice, Bob"); anything else unchanged."""
    return DISPLAY_SEPARATOR.join(value) if isinstance(value, list) else value


def _book_strings(book: dict[str, Any]) -> dict[str, Any]:
    if book.get("item_type", "book") == "book":
        for key in ("authors", "categories"):
            if key in book:
                book[key] = display_string(book[key])
    return book


def flickpage_book(body: dict[str, Any]) -> dict[str, Any]:
    return _book_strings(body)


def flickpage_books(body: dict[str, Any]) -> dict[str, Any]:
    # `items` and `books` are one list in the JSON, so each book is reshaped once.
    for book in body["items"]:
        _book_strings(book)
    body["books"] = body["items"]
    return body


def flickpage_search(body: dict[str, Any]) -> dict[str, Any]:
    for result in body["results"]:
        _book_strings(result)
    return body


def flickpage_recommendations(body: dict[str, Any]) -> dict[str, Any]:
    body["method"] = flickpage_method(body["method"])
    for item in body["items"]:
        item["method"] = flickpage_method(item["method"])
    body["recommendations"] = body["items"]
    return body


def flickpage_ratings(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The original `/ratings/my` answer: a bare array, each `item_id` a string (the client compares it with
    the id in its address bar)."""
    return [{**rating, "item_id": str(rating["item_id"])} for rating in body["items"]]


def respond(
    settings: Settings,
    model: type[BaseModel],
    body: Any,
    reshape: Callable[[Any], Any],
) -> Any:
    """`body` as is (FastAPI validates it against the route's model), or with CINELIBRE_API_COMPAT=flickpage
    validated against `model` and reshaped to the original client's form."""
    if not flickpage(settings):
        return body
    validated = model.model_validate(body).model_dump(mode="json")
    return JSONResponse(reshape(validated))

