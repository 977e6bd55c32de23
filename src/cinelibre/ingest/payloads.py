"""TMDB and Google Books payloads as pydantic models.

What a record cannot do without (an id, a title) is required: a record without it fails validation and is
skipped with pydantic's reason. Everything else is optional and lenient: a field of the wrong type or out of
range reads as absent, and a list keeps its well-formed entries, so one odd field never costs a title (what the
sources stored before these models, and still store). Unknown fields are ignored: both APIs add fields freely.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AllowInfNan,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)


def _absent_if_invalid(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    try:
        return handler(value)
    except ValidationError:
        return None


# Wraps an optional field: a value that does not validate reads as absent instead of refusing the record.
Lenient = WrapValidator(_absent_if_invalid)


def _only_valid(item_type: Any) -> BeforeValidator:
    """A list validator keeping the entries that validate as `item_type` (a non-list reads as empty)."""
    adapter: TypeAdapter[Any] = TypeAdapter(item_type)

    def keep(value: Any) -> list[Any]:
        if not isinstance(value, list):
            return []
        kept = []
        for entry in value:
            try:
                kept.append(adapter.validate_python(entry))
            except ValidationError:
                continue
        return kept

    return BeforeValidator(keep)


def _stripped(value: str) -> str | None:
    return value.strip() or None


def _one_spaced(value: str) -> str | None:
    return " ".join(value.split()) or None


def _required(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("is empty")
    return stripped


def _text_list(value: Any) -> list[str]:
    """Google's author and category lists: the entries that are text, one-spaced, each once."""
    kept: list[str] = []
    for entry in value if isinstance(value, list) else []:
        text = _one_spaced(entry) if isinstance(entry, str) else None
        if text and text not in kept:
            kept.append(text)
    return kept


def _iso_day(value: str | None) -> str | None:
    """TMDB's "YYYY-MM-DD", or "" when it does not know the date."""
    if value is None or len(value) != 10:
        return None
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return None


# TMDB text: trimmed; empty is absent.
TmdbText = Annotated[Annotated[str, Strict(), AfterValidator(_stripped)] | None, Lenient]
# Google Books text: runs of whitespace made one space; empty is absent.
BooksText = Annotated[Annotated[str, Strict(), AfterValidator(_one_spaced)] | None, Lenient]
Number = Annotated[Annotated[float, Strict(), AllowInfNan(False)] | None, Lenient]
Count = Annotated[Annotated[int, Strict(), Field(ge=0)] | None, Lenient]
PositiveCount = Annotated[Annotated[int, Strict(), Field(gt=0)] | None, Lenient]
IsoDay = Annotated[TmdbText, AfterValidator(_iso_day)]
TmdbId = Annotated[int, Strict(), Field(gt=0, lt=2**31)]
Name = Annotated[str, Strict(), AfterValidator(_required)]
TextList = Annotated[list[str], BeforeValidator(_text_list)]
_OBJECT_OR_EMPTY = BeforeValidator(lambda value: value if isinstance(value, dict) else {})


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- TMDB ----------------------------------------------------------------------------------------------------
class TmdbGenre(_Payload):
    id: Annotated[int, Strict()]
    name: Name


class TmdbCastMember(_Payload):
    name: Name
    character: TmdbText = None
    order: Annotated[Annotated[int, Strict()] | None, Lenient] = None

    @property
    def billing(self) -> float:
        return float(self.order) if self.order is not None else math.inf


class TmdbCrewMember(_Payload):
    name: Name
    job: TmdbText = None


class TmdbCredits(_Payload):
    cast: Annotated[list[TmdbCastMember], _only_valid(TmdbCastMember)] = []
    crew: Annotated[list[TmdbCrewMember], _only_valid(TmdbCrewMember)] = []


class TmdbMovie(_Payload):
    """The fields a discover entry and a details body share."""

    id: TmdbId
    title: TmdbText = None
    original_title: TmdbText = None
    overview: TmdbText = None
    release_date: IsoDay = None
    original_language: TmdbText = None
    popularity: Number = None
    vote_average: Number = None
    vote_count: Count = None
    poster_path: TmdbText = None

    @model_validator(mode="after")
    def _has_a_title(self) -> TmdbMovie:
        if not (self.title or self.original_title):
            raise ValueError(f"movie {self.id} has no title")
        return self


class TmdbListingEntry(TmdbMovie):
    genre_ids: Annotated[list[int], _only_valid(Annotated[int, Strict()])] = []


class TmdbDetails(TmdbMovie):
    """`/movie/{id}?append_to_response=credits`."""

    genres: Annotated[list[TmdbGenre], _only_valid(TmdbGenre)] = []
    credits: Annotated[TmdbCredits, _OBJECT_OR_EMPTY] = TmdbCredits()
    runtime: PositiveCount = None


class TmdbPage(_Payload):
    """A discover page: its entries are validated one by one, so one bad entry skips only itself."""

    results: list[Any]
    total_pages: Annotated[int, Strict(), Field(ge=0)]


class TmdbGenreList(_Payload):
    genres: Annotated[list[TmdbGenre], _only_valid(TmdbGenre)] = []


# -- Google Books --------------------------------------------------------------------------------------------
class IndustryIdentifier(_Payload):
    type: BooksText = None
    identifier: BooksText = None


class ImageLinks(_Payload):
    thumbnail: BooksText = None
    smallThumbnail: BooksText = None  # noqa: N815 (Google's field name)


class VolumeInfo(_Payload):
    title: BooksText = None
    subtitle: BooksText = None
    authors: TextList = []
    description: Annotated[Annotated[str, Strict()] | None, Lenient] = None  # HTML; made plain text by the source
    categories: TextList = []
    publishedDate: BooksText = None  # noqa: N815
    language: BooksText = None
    pageCount: PositiveCount = None  # noqa: N815 (0 is how Google says "unknown")
    industryIdentifiers: Annotated[list[IndustryIdentifier], _only_valid(IndustryIdentifier)] = []  # noqa: N815
    imageLinks: Annotated[ImageLinks | None, Lenient] = None  # noqa: N815
    publisher: BooksText = None
    averageRating: Annotated[Annotated[float, Strict(), Field(ge=0, le=5)] | None, Lenient] = None  # noqa: N815
    ratingsCount: Count = None  # noqa: N815


class Volume(_Payload):
    id: Annotated[str, Strict(), AfterValidator(_required), Field(max_length=100)]
    volumeInfo: Annotated[VolumeInfo, _OBJECT_OR_EMPTY] = VolumeInfo()  # noqa: N815

    @model_validator(mode="after")
    def _has_a_title(self) -> Volume:
        if not self.volumeInfo.title:
            raise ValueError(f"volume {self.id} has no title")
        return self


class VolumesPage(_Payload):
    """A volumes search page; no `items` at all is how Google says there are no more results."""

    items: list[Any] = []


def reason(error: ValidationError) -> str:
    """pydantic's first complaint, in one line: where and what ("id: Input should be a valid integer")."""
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])
