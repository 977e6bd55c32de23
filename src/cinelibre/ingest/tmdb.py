"""TMDB: discover per original language, several orderings and year ranges; details with credits for titles
that are new or changed; rows normalised to the catalog's movie shape."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from pydantic import ValidationError

from cinelibre.db.port import Row, SourceName
from cinelibre.embedding import movie_text
from cinelibre.errors import ConfigurationError, UpstreamAuthError, UpstreamError
from cinelibre.ingest.base import Checkpoint, IncompleteRecordError, ItemKind, SourcePage
from cinelibre.ingest.http import RetryPolicy, SourceClient, UpstreamRateLimitedError, UpstreamUnreachableError
from cinelibre.ingest.payloads import (
    TmdbDetails,
    TmdbGenreList,
    TmdbListingEntry,
    TmdbMovie,
    TmdbPage,
    reason,
)
from cinelibre.settings import Settings

# TMDB refuses page > 500 whatever `total_pages` says (popular reports 42471).
TMDB_MAX_PAGE = 500
# Pages per (language, ordering, years) slice in one crawl cycle: 25 pages = the 500 most relevant titles
# of the slice, so a cycle reaches every language instead of spending days inside English popularity.
DEFAULT_PAGES_PER_SLICE = 25
# Titles shown in English where TMDB has a translation; `original_title` keeps the original script.
DISPLAY_LANGUAGE = "en-US"
TOP_CAST = 10
# Crew worth keeping for search and display; the full list runs to hundreds of entries.
KEPT_CREW_JOBS = (
    "Director",
    "Screenplay",
    "Writer",
    "Story",
    "Novel",
    "Original Music Composer",
    "Music",
    "Director of Photography",
)
YEAR_RANGES: tuple[tuple[int | None, int | None], ...] = (
    (2020, None),
    (2010, 2019),
    (2000, 2009),
    (1980, 1999),
    (None, 1979),
)
# Top-rated lists need a vote floor or they fill with one-vote curiosities.
TOP_RATED_MIN_VOTES = 25
MAX_TITLE_LENGTH = 500


@dataclass(frozen=True)
class DiscoverSlice:
    language: str
    # The head of the plan, `pages_per_slice` deep: "recent", "popular", "top_rated", "catalog" (no date filter:
    # reaches undated titles). The backfill, as deep as TMDB lists: "dated" (the language's whole dated catalog,
    # newest first, in windows of at most 500 pages that each start where the last ended) and "everything" (no
    # date filter, by popularity, to TMDB's 500-page cap: the undated titles past the head's pages).
    ordering: str
    year_from: int | None
    year_to: int | None

    @property
    def backfill(self) -> bool:
        return self.ordering in BACKFILL_ORDERINGS

    @property
    def key(self) -> str:
        return f"{self.language}:{self.ordering}:{self.year_from or ''}-{self.year_to or ''}"

    def params(self, today: date, before: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "with_original_language": self.language,
            "language": DISPLAY_LANGUAGE,
            "include_adult": "false",
            "include_video": "false",
        }
        if self.year_from is not None:
            params["primary_release_date.gte"] = f"{self.year_from}-01-01"
        if self.year_to is not None:
            params["primary_release_date.lte"] = f"{self.year_to}-12-31"
        if self.ordering == "recent":
            # Announced titles carry far-future dates and no overview yet; only what has been released.
            params["sort_by"] = "primary_release_date.desc"
            params["primary_release_date.lte"] = today.isoformat()
        elif self.ordering == "dated":
            # Keyset paging over release dates: each window lists titles released on or before `before`, the
            # date the previous window ended on (its titles of that very date come again; the pipeline skips
            # what it has seen). TMDB lists 500 pages of a query at most, so this is how a language's whole
            # catalog is reached.
            params["sort_by"] = "primary_release_date.desc"
            params["primary_release_date.lte"] = before or today.isoformat()
        elif self.ordering in ("catalog", "everything"):
            # Any date filter drops titles whose release date TMDB does not know; this slice has none, so
            # they are listed here (and only here), among the rest of the language's catalog by popularity.
            params["sort_by"] = "popularity.desc"
        elif self.ordering == "top_rated":
            params["sort_by"] = "vote_average.desc"
            params["vote_count.gte"] = TOP_RATED_MIN_VOTES
        else:
            params["sort_by"] = "popularity.desc"
        return params


BACKFILL_ORDERINGS = ("dated", "everything")


def backfill_plan(languages: Sequence[str]) -> list[DiscoverSlice]:
    """After the head: each language's whole dated catalog, then its undated titles as far as TMDB lists."""
    return [DiscoverSlice(language, ordering, None, None) for ordering in BACKFILL_ORDERINGS for language in languages]


def discover_plan(languages: Sequence[str], today: date) -> list[DiscoverSlice]:
    """Freshest first (last year's releases), then popularity and rating by year range, then the whole
    catalog without a date filter (the only listing that includes undated titles); every language gets its
    turn at each step so no language waits for another's whole crawl."""
    steps: list[tuple[str, int | None, int | None]] = [("recent", today.year - 1, None)]
    steps += [("popular", low, high) for low, high in YEAR_RANGES]
    steps += [("top_rated", low, high) for low, high in YEAR_RANGES]
    steps += [("catalog", None, None)]
    return [
        DiscoverSlice(language, ordering, low, high)
        for ordering, low, high in steps
        for language in languages
    ]


def auth_for(api_key: str) -> tuple[dict[str, str], dict[str, str]]:
    """(query params, headers): a v4 read token (a long JWT, "eyJ...") goes as a Bearer header, which keeps it
    out of URLs; a v3 key can only travel as the `api_key` query parameter."""
    if api_key.startswith("eyJ") and len(api_key) > 64:
        return {}, {"Authorization": f"Bearer {api_key}"}
    return {"api_key": api_key}, {}


class TmdbSource:
    name: SourceName = "tmdb"
    item_kind: ItemKind = "movie"
    is_demo = False
    needs_completion = True

    def __init__(
        self,
        client: SourceClient,
        *,
        image_base_url: str,
        languages: Sequence[str],
        pages_per_slice: int | None = DEFAULT_PAGES_PER_SLICE,
        today: date | None = None,
        backfill: bool = True,
        window_pages: int = TMDB_MAX_PAGE,
    ) -> None:
        if not languages:
            raise ConfigurationError(
                "CINELIBRE_INGEST_LANGUAGES is empty: name at least one original language"
            )
        self.client = client
        self.image_base_url = image_base_url.rstrip("/")
        self.today = today or date.today()
        self.head = discover_plan(languages, self.today)
        self.plan = self.head + (backfill_plan(languages) if backfill else [])
        self.last_page_cap = min(TMDB_MAX_PAGE, pages_per_slice or TMDB_MAX_PAGE)
        # Pages per keyset window of the dated backfill (TMDB's cap; tests use a few).
        self.window_pages = min(TMDB_MAX_PAGE, window_pages)
        self.languages = tuple(languages)
        self._genre_names: dict[int, str] | None = None
        # Each slice's last page as TMDB last reported it, so a lost page knows whether it ended its slice.
        self._last_pages: dict[int, int] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        seconds_left: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        requests_per_second: float | None = None,
        pages_per_slice: int | None = None,
        window_pages: int = TMDB_MAX_PAGE,
    ) -> TmdbSource:
        if settings.tmdb_api_key is None:
            raise ConfigurationError("TMDB_API_KEY (or CINELIBRE_TMDB_API_KEY_PARAMETER) is not set")
        params, headers = auth_for(settings.tmdb_api_key.get_secret_value())
        client = SourceClient(
            source=cls.name,
            base_url=settings.tmdb_base_url,
            requests_per_second=requests_per_second or settings.tmdb_requests_per_second,
            params=params,
            headers=headers,
            seconds_left=seconds_left,
            sleep=sleep,
            retry=retry,
        )
        return cls(
            client,
            image_base_url=settings.tmdb_image_base_url,
            languages=settings.ingest_languages,
            pages_per_slice=pages_per_slice or settings.ingest_tmdb_pages_per_slice,
            window_pages=window_pages,
        )

    # -- source protocol ----------------------------------------------------------------------------------
    def pages(self, checkpoint: Checkpoint | None) -> Generator[SourcePage]:
        """The plan from `checkpoint`. A run that resumes inside the backfill first walks the freshest slices
        (the head's first step) so new releases do not wait weeks for a first backfill to finish; those pages
        leave the checkpoint where it is."""
        start_index, start = self._locate(checkpoint)
        if checkpoint and start_index >= len(self.head):
            for index in range(len(self.languages)):
                for source_page in self._walk_slice(index, {"slice": self.plan[index].key, "page": 1}):
                    yield replace(source_page, next_position=checkpoint)
        for index in range(start_index, len(self.plan)):
            position = start if index == start_index else {"slice": self.plan[index].key, "page": 1}
            yield from self._walk_slice(index, position)

    def _walk_slice(self, index: int, position: Checkpoint) -> Generator[SourcePage]:
        current: Checkpoint | None = position
        while current is not None and current.get("slice") == self.plan[index].key:
            source_page = self._fetch_page(index, current)
            current = source_page.next_position
            yield source_page

    def page_at(self, position: Checkpoint) -> SourcePage:
        """The listing page at `position` alone (a page an earlier run lost)."""
        slice_key, page = position.get("slice"), position.get("page")
        index = next((i for i, s in enumerate(self.plan) if s.key == slice_key), None)
        if index is None or not isinstance(page, int) or not 1 <= page <= self._page_cap(index):
            # The plan changed since (languages, depth): the page no longer exists; nothing to fetch.
            return SourcePage(f"discover {slice_key} page {page}", position, None)
        return self._fetch_page(index, position)

    def item_page(self, position: Checkpoint) -> SourcePage:
        """One title an earlier run lost, fetched with its details: a page of one complete row."""
        tmdb_id = position.get("id")
        label = f"movie {tmdb_id}"
        if not isinstance(tmdb_id, int):
            return SourcePage(label, position, None)
        try:
            row = self.complete({"tmdb_id": tmdb_id})
        except (UpstreamAuthError, UpstreamRateLimitedError, UpstreamUnreachableError):
            raise
        except UpstreamError as exc:
            return SourcePage(label, position, None, error=exc)
        return SourcePage(label, position, None, rows=[row], completed=True)

    def _fetch_page(self, index: int, position: Checkpoint) -> SourcePage:
        """The page at `position` of slice `index`; its `next_position` is the slice's next page, or the next
        slice's start after its last. A page that cannot be had is returned with its error (lost for this cycle,
        not the slice: a page past the end answers empty)."""
        genre_names = self.genre_names()
        slice_ = self.plan[index]
        page = position["page"]
        before = position.get("before") if slice_.ordering == "dated" else None
        following = self._slice_start(index + 1)
        here: Checkpoint = {"slice": slice_.key, "page": page, **({"before": before} if before else {})}
        label = f"discover {slice_.key} page {page}" + (f" (released by {before})" if before else "")
        cap = self._page_cap(index)
        try:
            body = self.client.get_json("discover/movie", {**slice_.params(self.today, before), "page": page})
            results, total_pages = _paged_results(body)
        except (UpstreamAuthError, UpstreamRateLimitedError, UpstreamUnreachableError):
            raise
        except UpstreamError as exc:
            upper = self._last_pages.get(index, cap)
            return SourcePage(label, here, following if page >= upper else {**here, "page": page + 1}, error=exc)
        last_page = min(total_pages, cap)
        self._last_pages[index] = last_page
        rows: list[Row] = []
        refused: list[str] = []
        for entry in results:
            try:
                rows.append(movie_from_listing(entry, genre_names, self.image_base_url))
            except IncompleteRecordError as exc:
                refused.append(str(exc))
        if page < last_page and results:
            after: Checkpoint | None = {**here, "page": page + 1}
        elif slice_.ordering == "dated" and total_pages > cap and results:
            after = self._next_window(here, results)
        else:
            after = following
        return SourcePage(label, here, after, rows=rows, incomplete=len(refused), refused_because=refused)

    def _next_window(self, here: Checkpoint, results: Sequence[Any]) -> Checkpoint:
        """Where the dated backfill goes on after a window's last page: released on or before the last title's
        date (a day earlier if one date filled a whole window, which would otherwise list itself forever)."""
        dates = [d for d in (_iso_date(e.get("release_date")) for e in results if isinstance(e, Mapping)) if d]
        last = min(dates) if dates else here.get("before")
        if last is None or last == here.get("before"):
            last = ((date.fromisoformat(last) if last else self.today) - timedelta(days=1)).isoformat()
        return {"slice": here["slice"], "page": 1, "before": last}

    def _page_cap(self, index: int) -> int:
        if self.plan[index].ordering == "dated":
            return self.window_pages
        return TMDB_MAX_PAGE if self.plan[index].backfill else self.last_page_cap

    def complete(self, row: Row) -> Row:
        details = self.client.get_json(
            f"movie/{row['tmdb_id']}", {"append_to_response": "credits", "language": DISPLAY_LANGUAGE}
        )
        try:
            full = movie_from_details(details, self.image_base_url)
        except IncompleteRecordError as exc:
            raise UpstreamError(f"tmdb: details for movie {row['tmdb_id']} are incomplete: {exc}") from None
        if full["tmdb_id"] != row["tmdb_id"]:
            raise UpstreamError(f"tmdb: asked for movie {row['tmdb_id']}, got {full['tmdb_id']}")
        return full

    def identity_keys(self, row: Row) -> Sequence[str]:
        return (str(row["tmdb_id"]),)

    def embedding_text(self, row: Row) -> str:
        return movie_text(row)

    def set_deadline(self, seconds_left: Callable[[], float] | None) -> None:
        self.client.set_deadline(seconds_left)

    def close(self) -> None:
        self.client.close()

    # -- helpers ------------------------------------------------------------------------------------------
    def genre_names(self) -> dict[int, str]:
        """Genre id → name, fetched once: listings carry only ids. Its failure is the run's: without names
        every listing would hash differently from what is stored, and one request that cannot be had after
        retries says the host is in no state to be crawled."""
        if self._genre_names is None:
            try:
                body = self.client.get_json("genre/movie/list", {"language": DISPLAY_LANGUAGE})
            except (UpstreamAuthError, UpstreamRateLimitedError, UpstreamUnreachableError):
                raise
            except UpstreamError as exc:
                raise UpstreamError(f"tmdb: the genre list is unavailable ({exc.message})") from None
            try:
                genres = TmdbGenreList.model_validate(body).genres
            except ValidationError as exc:
                raise UpstreamError(f"tmdb: the genre list is unusable ({reason(exc)})") from None
            self._genre_names = {genre.id: genre.name for genre in genres}
        return self._genre_names

    def _locate(self, checkpoint: Checkpoint | None) -> tuple[int, Checkpoint]:
        """The slice index and position to start at: the checkpoint's, or the plan's start if it names a slice
        or page the plan no longer has."""
        if checkpoint:
            for index, slice_ in enumerate(self.plan):
                if slice_.key == checkpoint.get("slice"):
                    page = checkpoint.get("page")
                    if isinstance(page, int) and 1 <= page <= self._page_cap(index):
                        before = checkpoint.get("before")
                        if slice_.ordering == "dated" and isinstance(before, str) and _iso_date(before):
                            return index, {"slice": slice_.key, "page": page, "before": before}
                        return index, {"slice": slice_.key, "page": page}
                    following = self._slice_start(index + 1)
                    return (index + 1, following) if following else (0, {"slice": self.plan[0].key, "page": 1})
        return 0, {"slice": self.plan[0].key, "page": 1}

    def _slice_start(self, index: int) -> Checkpoint | None:
        return {"slice": self.plan[index].key, "page": 1} if index < len(self.plan) else None


# -- normalisation -------------------------------------------------------------------------------------------
def movie_from_listing(entry: Any, genre_names: Mapping[int, str], image_base_url: str) -> Row:
    """A row from a discover/search/popular entry: no credits or runtime (details add those). Raises
    IncompleteRecordError with pydantic's reason for an entry without a usable id or title."""
    listing = _validated(TmdbListingEntry, entry)
    row = _common_fields(listing, image_base_url)
    row["genres"] = [genre_names[g] for g in listing.genre_ids if g in genre_names]
    row.update(director=None, cast_members=[], crew=[], runtime=None)
    return row


def movie_from_details(details: Any, image_base_url: str) -> Row:
    """A row from `/movie/{id}?append_to_response=credits`."""
    movie = _validated(TmdbDetails, details)
    row = _common_fields(movie, image_base_url)
    row["genres"] = [genre.name for genre in movie.genres]
    cast = sorted(movie.credits.cast, key=lambda member: member.billing)
    row["cast_members"] = [{"name": member.name, "character": member.character} for member in cast[:TOP_CAST]]
    crew: list[dict[str, str]] = []
    for job in KEPT_CREW_JOBS:
        for member in movie.credits.crew:
            entry = {"name": member.name, "job": job}
            if member.job == job and entry not in crew:
                crew.append(entry)
    row["crew"] = crew
    directors = [member["name"] for member in crew if member["job"] == "Director"]
    row["director"] = ", ".join(directors) if directors else None
    row["runtime"] = movie.runtime
    return row


def _validated[Model: TmdbMovie](model: type[Model], payload: Any) -> Model:
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise IncompleteRecordError(reason(exc)) from None


def _common_fields(movie: TmdbMovie, image_base_url: str) -> Row:
    title = movie.title or movie.original_title
    assert title is not None  # the model refuses a movie without either
    vote_average = movie.vote_average
    if vote_average is not None and not 0 <= vote_average <= 10:
        vote_average = None
    return {
        "tmdb_id": movie.id,
        "title": title[:MAX_TITLE_LENGTH],
        "original_title": movie.original_title,
        "overview": movie.overview,
        "release_date": movie.release_date,
        "original_language": movie.original_language,
        "popularity": movie.popularity,
        # TMDB reports 0.0 for a title nobody has voted on: unknown, not terrible.
        "vote_average": vote_average if movie.vote_count else None,
        "vote_count": movie.vote_count,
        "poster_url": f"{image_base_url}/{movie.poster_path.lstrip('/')}" if movie.poster_path else None,
    }


def _paged_results(body: Any) -> tuple[list[Any], int]:
    try:
        page = TmdbPage.model_validate(body)
    except ValidationError as exc:
        raise UpstreamError(f"tmdb: a listing page that is not one ({reason(exc)})") from None
    return page.results, page.total_pages


def _iso_date(value: Any) -> str | None:
    """`release_date` is "YYYY-MM-DD", or "" when TMDB does not know it."""
    if not isinstance(value, str) or len(value.strip()) != 10:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None
