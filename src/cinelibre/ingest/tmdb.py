"""TMDB: discover per original language, several orderings and year ranges; details with credits for titles
that are new or changed; rows normalised to the catalog's movie shape."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from cinelibre.db.port import Database, Row, SourceName
from cinelibre.embedding import movie_text
from cinelibre.errors import ConfigurationError, UpstreamAuthError, UpstreamError
from cinelibre.ingest.base import Checkpoint, IncompleteRecordError, SourcePage
from cinelibre.ingest.http import RetryPolicy, SourceClient, UpstreamRateLimitedError, UpstreamUnreachableError
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
    ordering: str  # "recent", "popular", "top_rated" or "catalog" (no date filter: reaches undated titles)
    year_from: int | None
    year_to: int | None

    @property
    def key(self) -> str:
        return f"{self.language}:{self.ordering}:{self.year_from or ''}-{self.year_to or ''}"

    def params(self, today: date) -> dict[str, Any]:
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
        elif self.ordering == "catalog":
            # Any date filter drops titles whose release date TMDB does not know; this slice has none, so
            # they are listed here (and only here), among the rest of the language's catalog by popularity.
            params["sort_by"] = "popularity.desc"
        elif self.ordering == "top_rated":
            params["sort_by"] = "vote_average.desc"
            params["vote_count.gte"] = TOP_RATED_MIN_VOTES
        else:
            params["sort_by"] = "popularity.desc"
        return params


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
    key_field = "tmdb_id"
    needs_completion = True

    def __init__(
        self,
        client: SourceClient,
        *,
        image_base_url: str,
        languages: Sequence[str],
        pages_per_slice: int | None = DEFAULT_PAGES_PER_SLICE,
        today: date | None = None,
    ) -> None:
        if not languages:
            raise ConfigurationError(
                "CINELIBRE_INGEST_LANGUAGES is empty: name at least one original language"
            )
        self.client = client
        self.image_base_url = image_base_url.rstrip("/")
        self.today = today or date.today()
        self.plan = discover_plan(languages, self.today)
        self.last_page_cap = min(TMDB_MAX_PAGE, pages_per_slice or TMDB_MAX_PAGE)
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
        )

    # -- source protocol ----------------------------------------------------------------------------------
    def pages(self, checkpoint: Checkpoint | None) -> Generator[SourcePage]:
        start_slice, start_page = self._locate(checkpoint)
        for index in range(start_slice, len(self.plan)):
            page = start_page if index == start_slice else 1
            while True:
                source_page, done = self._fetch_page(index, page)
                yield source_page
                if done:
                    break
                page += 1

    def page_at(self, position: Checkpoint) -> SourcePage:
        """The listing page at `position` alone (a page an earlier run lost)."""
        slice_key, page = position.get("slice"), position.get("page")
        index = next((i for i, s in enumerate(self.plan) if s.key == slice_key), None)
        if index is None or not isinstance(page, int) or not 1 <= page <= self.last_page_cap:
            # The plan changed since (languages, depth): the page no longer exists; nothing to fetch.
            return SourcePage(f"discover {slice_key} page {page}", position, None)
        source_page, _ = self._fetch_page(index, page)
        return source_page

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

    def _fetch_page(self, index: int, page: int) -> tuple[SourcePage, bool]:
        """Page `page` of slice `index`, and whether it is the slice's last. A page that cannot be had is
        returned with its error (lost for this cycle, not the slice: a page past the end answers empty)."""
        genre_names = self.genre_names()
        slice_ = self.plan[index]
        following = self._slice_start(index + 1)
        position = {"slice": slice_.key, "page": page}
        label = f"discover {slice_.key} page {page}"
        try:
            body = self.client.get_json("discover/movie", {**slice_.params(self.today), "page": page})
            results, total_pages = _paged_results(body)
        except (UpstreamAuthError, UpstreamRateLimitedError, UpstreamUnreachableError):
            raise
        except UpstreamError as exc:
            upper = self._last_pages.get(index, self.last_page_cap)
            done = page >= upper
            after = following if done else {"slice": slice_.key, "page": page + 1}
            return SourcePage(label, position, after, error=exc), done
        last_page = min(total_pages, self.last_page_cap)
        self._last_pages[index] = last_page
        rows, incomplete = [], 0
        for entry in results:
            try:
                rows.append(movie_from_listing(entry, genre_names, self.image_base_url))
            except IncompleteRecordError:
                incomplete += 1
        done = page >= last_page or not results
        after = following if done else {"slice": slice_.key, "page": page + 1}
        return SourcePage(label, position, after, rows=rows, incomplete=incomplete), done

    def complete(self, row: Row) -> Row:
        details = self.client.get_json(
            f"movie/{row['tmdb_id']}", {"append_to_response": "credits", "language": DISPLAY_LANGUAGE}
        )
        if not isinstance(details, Mapping):
            raise UpstreamError(f"tmdb: details for movie {row['tmdb_id']} are not a JSON object")
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

    def upsert(self, database: Database, rows: Sequence[Row]) -> dict[str, int]:
        return database.upsert_movies(movies=rows)

    def refresh(self, database: Database, rows: Sequence[Row]) -> dict[str, int]:
        # Listing rows lack the credits that details added: only their figures are written.
        return database.refresh_movie_figures(movies=rows)

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
            self._genre_names = {
                genre["id"]: genre["name"]
                for genre in (body.get("genres") or [] if isinstance(body, Mapping) else [])
                if isinstance(genre, Mapping)
                and isinstance(genre.get("id"), int)
                and _text(genre.get("name"))
            }
        return self._genre_names

    def _locate(self, checkpoint: Checkpoint | None) -> tuple[int, int]:
        if checkpoint:
            for index, slice_ in enumerate(self.plan):
                if slice_.key == checkpoint.get("slice"):
                    page = checkpoint.get("page")
                    if isinstance(page, int) and 1 <= page <= self.last_page_cap:
                        return index, page
                    return index + 1, 1
        return 0, 1

    def _slice_start(self, index: int) -> Checkpoint | None:
        return {"slice": self.plan[index].key, "page": 1} if index < len(self.plan) else None


# -- normalisation -------------------------------------------------------------------------------------------
def movie_from_listing(entry: Any, genre_names: Mapping[int, str], image_base_url: str) -> Row:
    """A row from a discover/search/popular entry: no credits or runtime (details add those)."""
    row = _common_fields(entry, image_base_url)
    genre_ids = entry.get("genre_ids") or []
    row["genres"] = [genre_names[g] for g in genre_ids if isinstance(g, int) and g in genre_names]
    row.update(director=None, cast_members=[], crew=[], runtime=None)
    return row


def movie_from_details(details: Any, image_base_url: str) -> Row:
    """A row from `/movie/{id}?append_to_response=credits`."""
    row = _common_fields(details, image_base_url)
    row["genres"] = [
        genre["name"]
        for genre in details.get("genres") or []
        if isinstance(genre, Mapping) and _text(genre.get("name"))
    ]
    credits = details.get("credits") if isinstance(details.get("credits"), Mapping) else {}
    cast = [c for c in credits.get("cast") or [] if isinstance(c, Mapping) and _text(c.get("name"))]
    cast.sort(key=lambda c: float(c["order"]) if isinstance(c.get("order"), int) else math.inf)
    row["cast_members"] = [
        {"name": _text(c["name"]), "character": _text(c.get("character"))} for c in cast[:TOP_CAST]
    ]
    crew: list[dict[str, str]] = []
    for job in KEPT_CREW_JOBS:
        for member in credits.get("crew") or []:
            name = _text(member.get("name")) if isinstance(member, Mapping) and member.get("job") == job else None
            if name:
                entry = {"name": name, "job": job}
                if entry not in crew:
                    crew.append(entry)
    row["crew"] = crew
    directors = [member["name"] for member in crew if member["job"] == "Director"]
    row["director"] = ", ".join(directors) if directors else None
    runtime = details.get("runtime")
    row["runtime"] = runtime if isinstance(runtime, int) and runtime > 0 else None
    return row


def _common_fields(entry: Any, image_base_url: str) -> Row:
    if not isinstance(entry, Mapping):
        raise IncompleteRecordError("entry is not an object")
    tmdb_id = entry.get("id")
    if not isinstance(tmdb_id, int) or isinstance(tmdb_id, bool) or not 0 < tmdb_id < 2**31:
        raise IncompleteRecordError("no usable id")
    title = _text(entry.get("title")) or _text(entry.get("original_title"))
    if not title:
        raise IncompleteRecordError(f"movie {tmdb_id} has no title")
    vote_count = _non_negative_int(entry.get("vote_count"))
    vote_average = _number(entry.get("vote_average"))
    if vote_average is not None and not 0 <= vote_average <= 10:
        vote_average = None
    poster_path = _text(entry.get("poster_path"))
    return {
        "tmdb_id": tmdb_id,
        "title": title[:MAX_TITLE_LENGTH],
        "original_title": _text(entry.get("original_title")),
        "overview": _text(entry.get("overview")),
        "release_date": _iso_date(entry.get("release_date")),
        "original_language": _text(entry.get("original_language")),
        "popularity": _number(entry.get("popularity")),
        # TMDB reports 0.0 for a title nobody has voted on: unknown, not terrible.
        "vote_average": vote_average if vote_count else None,
        "vote_count": vote_count,
        "poster_url": f"{image_base_url}/{poster_path.lstrip('/')}" if poster_path else None,
    }


def _paged_results(body: Any) -> tuple[list[Any], int]:
    if not isinstance(body, Mapping) or not isinstance(body.get("results"), list):
        raise UpstreamError("tmdb: a listing page without a `results` list")
    total_pages = body.get("total_pages")
    if not isinstance(total_pages, int) or total_pages < 0:
        raise UpstreamError("tmdb: a listing page without a usable `total_pages`")
    return body["results"], total_pages


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _non_negative_int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _iso_date(value: Any) -> str | None:
    """`release_date` is "YYYY-MM-DD", or "" when TMDB does not know it."""
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text).isoformat() if len(text) == 10 else None
    except ValueError:
        return None
