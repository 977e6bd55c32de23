"""The catalog routes (served by the search function): paginated, filtered lists and full details of
movies and books, from the database only (no live TMDB or Google Books call on a request path)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from cinelibre.api import compat
from cinelibre.api.dependencies import DatabaseDep, SettingsDep
from cinelibre.api.schemas import ERROR_RESPONSES, MAX_OFFSET, MAX_PAGE_SIZE, Page, page
from cinelibre.errors import NotFoundError, ValidationError

MAX_ITEM_ID = 2**63 - 1

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description=f"Items to skip, at most {MAX_OFFSET}")]
# `offset`, or `skip` as the original FlickPage client names it.
PageOffset = Annotated[int, Depends(compat.page_offset)]
Language = Annotated[
    str | None,
    Query(min_length=2, max_length=12, pattern=r"^[A-Za-z-]+$", description="ISO 639-1 code, e.g. hi"),
]
Genre = Annotated[str | None, Query(min_length=1, max_length=60, description="Movie genre, e.g. Thriller")]
Category = Annotated[
    str | None, Query(min_length=1, max_length=100, description="Book category, e.g. Fiction")
]
YearFrom = Annotated[int | None, Query(ge=1800, le=2100)]
YearTo = Annotated[int | None, Query(ge=1800, le=2100)]
ItemId = Annotated[int, Path(ge=1, le=MAX_ITEM_ID)]


class CastMember(BaseModel):
    name: str
    character: str | None = None


class CrewMember(BaseModel):
    name: str
    job: str | None = None


class MovieSummary(compat.MovieSummaryAliases):
    id: int
    title: str
    year: int | None
    original_language: str | None
    genres: list[str]
    director: str | None
    poster_url: str | None
    vote_average: float | None
    popularity: float | None


class BookSummary(compat.BookSummaryAliases):
    id: int
    title: str
    authors: list[str]
    year: int | None
    language: str | None
    categories: list[str]
    thumbnail_url: str | None
    average_rating: float | None = None


class MovieDetail(compat.MovieDetailAliases):
    id: int
    item_type: str = "movie"
    tmdb_id: int
    title: str
    original_title: str | None
    overview: str | None
    release_date: str | None
    year: int | None
    original_language: str | None
    genres: list[str]
    director: str | None
    cast_members: list[CastMember]
    crew: list[CrewMember]
    runtime: int | None
    popularity: float | None
    vote_average: float | None
    vote_count: int | None
    poster_url: str | None
    is_demo: bool = False
    created_at: datetime
    updated_at: datetime


class BookDetail(BaseModel):
    id: int
    item_type: str = "book"
    google_id: str
    title: str
    subtitle: str | None
    authors: list[str]
    description: str | None
    categories: list[str]
    published_date: str | None
    year: int | None
    language: str | None
    page_count: int | None
    isbn_10: str | None
    isbn_13: str | None
    thumbnail_url: str | None
    publisher: str | None
    average_rating: float | None
    ratings_count: int | None
    is_demo: bool = False
    created_at: datetime
    updated_at: datetime


class MoviePage(Page[MovieSummary], compat.MoviesAlias):
    pass


class BookPage(Page[BookSummary], compat.BooksAlias):
    pass


BOOK_STRINGS = (
    "With CINELIBRE_API_COMPAT=flickpage, `authors` and `categories` are display strings "
    '("Alice, Bob") instead of lists, as the original FlickPage client shows them.'
)


def check_year_range(year_from: int | None, year_to: int | None) -> None:
    if year_from is not None and year_to is not None and year_from > year_to:
        raise ValidationError("year_from must not be after year_to", details={"field": "year_from"})


router = APIRouter(tags=["catalog"], responses=ERROR_RESPONSES)


@router.get("/movies", response_model=MoviePage)
def list_movies(
    database: DatabaseDep,
    language: Language = None,
    genre: Genre = None,
    year_from: YearFrom = None,
    year_to: YearTo = None,
    limit: Limit = 20,
    offset: PageOffset = 0,
) -> dict[str, Any]:
    """Movies, most popular first, filtered by original language, genre and release year range."""
    check_year_range(year_from, year_to)
    return page(
        lambda size, skip: database.list_movies(
            language=language, genre=genre, year_from=year_from, year_to=year_to, limit=size, offset=skip
        ),
        limit,
        offset,
    )


@router.get("/books", response_model=BookPage, response_description=BOOK_STRINGS)
def list_books(
    database: DatabaseDep,
    settings: SettingsDep,
    language: Language = None,
    category: Category = None,
    year_from: YearFrom = None,
    year_to: YearTo = None,
    limit: Limit = 20,
    offset: PageOffset = 0,
) -> Any:
    """Books, most rated first, filtered by language, category and publication year range."""
    check_year_range(year_from, year_to)
    books = page(
        lambda size, skip: database.list_books(
            language=language,
            category=category,
            year_from=year_from,
            year_to=year_to,
            limit=size,
            offset=skip,
        ),
        limit,
        offset,
    )
    return compat.respond(settings, BookPage, books, compat.flickpage_books)


@router.get("/movies/{movie_id}", response_model=MovieDetail)
def get_movie(
    movie_id: ItemId,
    database: DatabaseDep,
    include_details: Annotated[
        bool,
        Query(description=compat.kept("Accepted and ignored: the details we store are always included")),
    ] = False,
) -> dict[str, Any]:
    """Full stored details, from the database only (never a live TMDB call)."""
    movie = database.get_movie(movie_id=movie_id)
    if movie is None:
        raise NotFoundError(f"no movie with id {movie_id}")
    return movie


@router.get("/books/{book_id}", response_model=BookDetail, response_description=BOOK_STRINGS)
def get_book(book_id: ItemId, database: DatabaseDep, settings: SettingsDep) -> Any:
    book = database.get_book(book_id=book_id)
    if book is None:
        raise NotFoundError(f"no book with id {book_id}")
    return compat.respond(settings, BookDetail, book, compat.flickpage_book)
