"""Google Books: volumes per subject, paged by `startIndex` (40 a page), language-restricted from settings;
rows normalised to the catalog's book shape (plain-text descriptions, https thumbnails, ISBNs split out)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from pydantic import ValidationError

from cinelibre.db.port import Row, SourceName
from cinelibre.embedding import book_text
from cinelibre.errors import CineLibreError, UpstreamAuthError, UpstreamError
from cinelibre.ingest.base import Checkpoint, IncompleteRecordError, ItemKind, SourcePage
from cinelibre.ingest.http import (
    RetryableUpstreamAnswer,
    RetryPolicy,
    SourceClient,
    UpstreamRateLimitedError,
    UpstreamUnreachableError,
)
from cinelibre.ingest.payloads import ImageLinks, Volume, VolumesPage, reason
from cinelibre.settings import Settings

PAGE_SIZE = 40  # the API's maximum `maxResults`
# Google serves a few hundred results per query at most before it repeats or stops; 10 pages = 400.
DEFAULT_PAGES_PER_SUBJECT = 10
MAX_TITLE_LENGTH = 500
SUBJECTS: tuple[str, ...] = (
    "fiction",
    "literary fiction",
    "science fiction",
    "fantasy",
    "mystery",
    "thriller",
    "romance",
    "horror",
    "historical fiction",
    "short stories",
    "poetry",
    "drama",
    "comics & graphic novels",
    "young adult fiction",
    "juvenile fiction",
    "biography & autobiography",
    "history",
    "philosophy",
    "psychology",
    "religion",
    "self-help",
    "business & economics",
    "political science",
    "social science",
    "science",
    "mathematics",
    "computers",
    "technology & engineering",
    "medical",
    "nature",
    "travel",
    "cooking",
    "art",
    "music",
    "performing arts",
    "sports & recreation",
    "true crime",
    "education",
    "literary criticism",
    "language arts & disciplines",
    "humor",
    "family & relationships",
    "health & fitness",
    "india",
)
PUBLISHED_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
# Reasons in Google's error bodies (`error.errors[].reason`, `error.details[].reason`), never message text.
KEY_REFUSED_REASONS = frozenset(
    {
        "keyInvalid",
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
        "accessNotConfigured",
        "SERVICE_DISABLED",
        "ipRefererBlocked",
        "forbidden",
    }
)
DAILY_QUOTA_REASONS = frozenset({"dailyLimitExceeded", "quotaExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})


def subject_query(subject: str) -> str:
    return f'subject:"{subject}"' if re.search(r"\s", subject) else f"subject:{subject}"


class GoogleBooksSource:
    name: SourceName = "google_books"
    item_kind: ItemKind = "book"
    is_demo = False
    needs_completion = False

    def __init__(
        self,
        client: SourceClient,
        *,
        language: str | None,
        subjects: Sequence[str] = SUBJECTS,
        pages_per_subject: int = DEFAULT_PAGES_PER_SUBJECT,
    ) -> None:
        self.client = client
        self.language = language
        self.subjects = tuple(subjects)
        self.pages_per_subject = pages_per_subject

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        seconds_left: Callable[[], float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
        requests_per_second: float | None = None,
        subjects: Sequence[str] = SUBJECTS,
        pages_per_subject: int | None = None,
    ) -> GoogleBooksSource:
        # The API answers without a key too, on a small shared quota; a key raises it.
        key = settings.google_books_api_key
        client = SourceClient(
            source=cls.name,
            base_url=settings.google_books_base_url,
            requests_per_second=requests_per_second or settings.google_books_requests_per_second,
            params={"key": key.get_secret_value()} if key else None,
            seconds_left=seconds_left,
            refine_error=refine_google_error,
            sleep=sleep,
            retry=retry,
        )
        return cls(
            client,
            language=settings.google_books_lang,
            subjects=subjects,
            pages_per_subject=pages_per_subject or settings.ingest_books_pages_per_subject,
        )

    # -- source protocol ----------------------------------------------------------------------------------
    def pages(self, checkpoint: Checkpoint | None) -> Generator[SourcePage]:
        start_subject, start_index = self._locate(checkpoint)
        for index in range(start_subject, len(self.subjects)):
            offset = start_index if index == start_subject else 0
            while offset <= self._last_start:
                page, done = self._fetch_page(index, offset)
                yield page
                if done:
                    break
                offset += PAGE_SIZE

    def page_at(self, position: Checkpoint) -> SourcePage:
        """The page at `position` alone (a page an earlier run lost)."""
        subject, offset = position.get("subject"), position.get("start_index")
        if subject not in self.subjects or not isinstance(offset, int) or not 0 <= offset <= self._last_start:
            return SourcePage(f"volumes {subject!r} from {offset}", position, None)
        page, _ = self._fetch_page(self.subjects.index(subject), offset - offset % PAGE_SIZE)
        return page

    def item_page(self, position: Checkpoint) -> SourcePage:
        """Volumes are never lost one by one (a listing carries each whole); nothing to fetch."""
        return SourcePage(f"volume {position.get('id')}", position, None)

    @property
    def _last_start(self) -> int:
        return (self.pages_per_subject - 1) * PAGE_SIZE

    def _fetch_page(self, index: int, offset: int) -> tuple[SourcePage, bool]:
        subject = self.subjects[index]
        following = self._subject_start(index + 1)
        position = {"subject": subject, "start_index": offset}
        label = f"volumes {subject!r} from {offset}"
        done = offset >= self._last_start
        after = following if done else {"subject": subject, "start_index": offset + PAGE_SIZE}
        try:
            items = _volume_items(self.client.get_json("volumes", self._params(subject, offset)))
        except (UpstreamAuthError, UpstreamRateLimitedError, UpstreamUnreachableError):
            raise
        except UpstreamError as exc:
            return SourcePage(label, position, after, error=exc), done
        # No `items` key at all is how Google says "no more results" (totalItems is only an estimate).
        if not items:
            return SourcePage(label, position, following), True
        rows: list[Row] = []
        refused: list[str] = []
        for item in items:
            try:
                rows.append(book_from_volume(item))
            except IncompleteRecordError as exc:
                refused.append(str(exc))
        return SourcePage(label, position, after, rows=rows, incomplete=len(refused), refused_because=refused), done

    def complete(self, row: Row) -> Row:
        return row

    def identity_keys(self, row: Row) -> Sequence[str]:
        keys = [f"volume:{row['google_id']}"]
        keys += [f"isbn:{row[field]}" for field in ("isbn_13", "isbn_10") if row.get(field)]
        return keys

    def embedding_text(self, row: Row) -> str:
        return book_text(row)

    def set_deadline(self, seconds_left: Callable[[], float] | None) -> None:
        self.client.set_deadline(seconds_left)

    def close(self) -> None:
        self.client.close()

    # -- helpers ------------------------------------------------------------------------------------------
    def _params(self, subject: str, offset: int) -> dict[str, Any]:
        return {
            "q": subject_query(subject),
            "startIndex": offset,
            "maxResults": PAGE_SIZE,
            "printType": "books",
            "langRestrict": self.language,
        }

    def _locate(self, checkpoint: Checkpoint | None) -> tuple[int, int]:
        if checkpoint and checkpoint.get("subject") in self.subjects:
            index = self.subjects.index(checkpoint["subject"])
            offset = checkpoint.get("start_index")
            if isinstance(offset, int) and 0 <= offset <= (self.pages_per_subject - 1) * PAGE_SIZE:
                return index, offset - offset % PAGE_SIZE
            return index + 1, 0
        return 0, 0

    def _subject_start(self, index: int) -> Checkpoint | None:
        return {"subject": self.subjects[index], "start_index": 0} if index < len(self.subjects) else None


def refine_google_error(
    response: httpx.Response, body: Any
) -> CineLibreError | RetryableUpstreamAnswer | None:
    """Google signals a refused key with 400 or 403 and quota with 403 or 429; tell them apart by reason."""
    reasons, quota_limits = _error_reasons(body)
    status = response.status_code
    if status in (400, 401, 403) and reasons & KEY_REFUSED_REASONS:
        return UpstreamAuthError(
            f"google_books refused the API key ({status} {sorted(reasons & KEY_REFUSED_REASONS)[0]}); "
            "check GOOGLE_BOOKS_API_KEY",
            details={"source": "google_books", "status": status},
        )
    per_day = any("perday" in limit.lower() for limit in quota_limits)
    if status in (403, 429) and (reasons & DAILY_QUOTA_REASONS or per_day):
        return UpstreamRateLimitedError(
            f"google_books daily quota is used up (HTTP {status}); resuming on a later run",
            details={"source": "google_books", "status": status},
        )
    if status == 403 and reasons & RATE_REASONS:
        return RetryableUpstreamAnswer(f"answered 403 {sorted(reasons & RATE_REASONS)[0]}", status=429)
    return None


def _error_reasons(body: Any) -> tuple[set[str], list[str]]:
    error = body.get("error") if isinstance(body, Mapping) else None
    if not isinstance(error, Mapping):
        return set(), []
    reasons: set[str] = set()
    quota_limits: list[str] = []
    for entry in (error.get("errors") or []) + (error.get("details") or []):
        if isinstance(entry, Mapping):
            if isinstance(entry.get("reason"), str):
                reasons.add(entry["reason"])
            metadata = entry.get("metadata")
            if isinstance(metadata, Mapping) and isinstance(metadata.get("quota_limit"), str):
                quota_limits.append(metadata["quota_limit"])
    return reasons, quota_limits


def _volume_items(body: Any) -> list[Any]:
    try:
        return VolumesPage.model_validate(body).items
    except ValidationError as exc:
        raise UpstreamError(f"google_books: a volumes page that is not one ({reason(exc)})") from None


# -- normalisation -------------------------------------------------------------------------------------------
def book_from_volume(item: Any) -> Row:
    """A book row from a volume. Raises IncompleteRecordError with pydantic's reason for a volume without a
    usable id or title."""
    try:
        volume = Volume.model_validate(item)
    except ValidationError as exc:
        raise IncompleteRecordError(reason(exc)) from None
    info = volume.volumeInfo
    assert info.title is not None  # the model refuses a volume without one
    isbns = {entry.type: entry.identifier for entry in info.industryIdentifiers}
    published = info.publishedDate
    return {
        "google_id": volume.id,
        "title": info.title[:MAX_TITLE_LENGTH],
        "subtitle": info.subtitle,
        "authors": info.authors,
        "description": plain_text(info.description),
        "categories": info.categories,
        "published_date": published if published and PUBLISHED_DATE.match(published) else None,
        "language": info.language,
        "page_count": info.pageCount,
        "isbn_10": isbns.get("ISBN_10"),
        "isbn_13": isbns.get("ISBN_13"),
        "thumbnail_url": secure_thumbnail(info.imageLinks),
        "publisher": info.publisher,
        "average_rating": info.averageRating,
        "ratings_count": info.ratingsCount,
    }


class _TextCollector(HTMLParser):
    BLOCK_TAGS = frozenset(
        {"p", "br", "div", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(value: Any) -> str | None:
    """Descriptions from `/volumes/{id}` carry HTML (<p>, <br>, <b>, entities); the catalog stores text with
    paragraphs kept as line breaks."""
    if not isinstance(value, str):
        return None
    collector = _TextCollector()
    collector.feed(value)
    collector.close()
    lines = (" ".join(line.split()) for line in "".join(collector.parts).splitlines())
    text = "\n".join(line for line in lines if line)
    return text or None


def secure_thumbnail(image_links: ImageLinks | Mapping[str, Any] | None) -> str | None:
    """The largest thumbnail Google lists, over https, without the page-curl decoration."""
    if image_links is not None and not isinstance(image_links, ImageLinks):
        try:
            image_links = ImageLinks.model_validate(image_links)
        except ValidationError:
            return None
    url = image_links and (image_links.thumbnail or image_links.smallThumbnail)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "edge"])
    return urlunsplit(("https", parts.netloc, parts.path, query, ""))
