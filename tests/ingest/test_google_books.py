"""Google Books: normalising the recorded volumes, subject paging, and telling a refused key from a quota."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from cinelibre.errors import UpstreamAuthError
from cinelibre.ingest.base import IncompleteRecordError
from cinelibre.ingest.google_books import (
    PAGE_SIZE,
    SUBJECTS,
    GoogleBooksSource,
    book_from_volume,
    plain_text,
    secure_thumbnail,
    subject_query,
)
from cinelibre.ingest.http import RetryPolicy, SourceClient, UpstreamRateLimitedError

from .conftest import BOOKS_TEST_KEY, FIXTURES

BOOKS = FIXTURES / "googlebooks"
BASE = "https://www.googleapis.com/books/v1"


def volumes(name: str) -> list[dict]:
    body = json.loads((BOOKS / name).read_text(encoding="utf-8"))
    return body.get("items", [body])


def by_id(name: str, volume_id: str) -> dict:
    return book_from_volume(next(v for v in volumes(name) if v["id"] == volume_id))


def books_source(
    subjects=("fiction", "science fiction"), pages=3, sleeps=None, language="en"
) -> GoogleBooksSource:
    from cinelibre.ingest.google_books import refine_google_error

    client = SourceClient(
        source="google_books",
        base_url=BASE,
        requests_per_second=1000.0,
        params={"key": BOOKS_TEST_KEY},
        refine_error=refine_google_error,
        sleep=(sleeps if sleeps is not None else []).append,
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=1.0, max_backoff_s=4.0),
    )
    return GoogleBooksSource(client, language=language, subjects=subjects, pages_per_subject=pages)


def test_a_volume_without_authors_date_isbns_or_description():
    row = by_id("volumes_q-ruby_maxResults5_orderBy-relevance_printType-books_reader.json", "iuz1L-PSXtgC")
    assert row["title"] == "The Ultimate Guide to Ruby Programming"
    assert row["authors"] == [] and row["categories"] == []
    assert row["published_date"] is None and row["description"] is None and row["page_count"] is None
    assert row["isbn_10"] is None and row["isbn_13"] is None
    assert row["publisher"] == "Ruby Study Notes"


def test_year_only_date_https_thumbnail_and_isbns_in_either_order():
    row = by_id("volumes_q-isbn-9780099560432_ready_player_one_citationjs.json", "4zugGMReN3cC")
    assert row["published_date"] == "2012"
    assert row["isbn_13"] == "9780099560432" and row["isbn_10"] == "0099560437"  # ISBN_13 listed first
    assert row["thumbnail_url"].startswith("https://books.google.com/books/content?id=4zugGMReN3cC")
    plague = by_id("volumes_q-subject-fiction_maxResults1_binderapp.json", "KVGd-NabpW0C")
    assert plague["isbn_13"] == "9780679720218" and plague["authors"] == ["Albert Camus"]
    assert plague["published_date"] == "1991-05-07" and plague["average_rating"] == 4.5
    assert "edge=curl" not in plague["thumbnail_url"] and plague["thumbnail_url"].startswith("https://")


def test_zero_page_count_no_images_no_description():
    row = by_id("volumes_q-isbn-9780918024565_willard_gibbs_no_description_citationjs.json", "Bq9jQgAACAAJ")
    assert row["page_count"] is None and row["thumbnail_url"] is None and row["description"] is None
    assert row["categories"] == ["Mathematicians"]
    foundation = by_id("volumes_q-isbn-9780008117498_foundation_citationjs.json", "PKV6swEACAAJ")
    assert foundation["page_count"] is None and foundation["ratings_count"] == 210


def test_single_volume_body_with_signed_thumbnail():
    row = by_id("volume_EIDJtAEACAAJ_animal_farm_unattributed-md.json", "EIDJtAEACAAJ")
    assert row["authors"] == ["George George Orwell"]  # catalogue data kept as given
    assert row["thumbnail_url"].startswith("https://") and "imgtk=" in row["thumbnail_url"]
    assert row["isbn_10"] == "198653314X"


def test_html_descriptions_become_plain_text():
    assert plain_text("<p>First&nbsp;part, <b>bold</b> &amp; <i>more</i>.</p><p>Second<br>line</p>") == (
        "First part, bold & more.\nSecond\nline"
    )
    assert plain_text("Just   text,\n  kept.") == "Just text,\nkept."
    assert plain_text("<br/>") is None and plain_text(None) is None


def test_thumbnail_falls_back_to_small_and_refuses_non_http():
    assert secure_thumbnail({"smallThumbnail": "http://books.google.com/x?id=1&edge=curl&zoom=5"}) == (
        "https://books.google.com/x?id=1&zoom=5"
    )
    assert secure_thumbnail({"thumbnail": "javascript:alert(1)"}) is None
    assert secure_thumbnail(None) is None


def test_volume_without_id_or_title_is_refused():
    item = volumes("volumes_q-subject-fiction_maxResults1_binderapp.json")[0]
    with pytest.raises(IncompleteRecordError):
        book_from_volume({**item, "id": ""})
    with pytest.raises(IncompleteRecordError):
        book_from_volume({**item, "volumeInfo": {**item["volumeInfo"], "title": "  "}})


def test_subjects_are_many_and_multiword_ones_quoted():
    assert len(SUBJECTS) >= 30 and len(set(SUBJECTS)) == len(SUBJECTS)
    assert subject_query("fiction") == "subject:fiction"
    assert subject_query("science fiction") == 'subject:"science fiction"'


@respx.mock
def test_pages_by_start_index_until_items_run_out():
    page = volumes("volumes_q-ruby_maxResults5_orderBy-relevance_printType-books_reader.json")

    def answer(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["startIndex"])
        if request.url.params["q"] == "subject:fiction" and start < 2 * PAGE_SIZE:
            return httpx.Response(200, json={"kind": "books#volumes", "totalItems": 999, "items": page})
        return httpx.Response(200, json={"kind": "books#volumes", "totalItems": 0})  # live shape: no `items`

    route = respx.get(f"{BASE}/volumes").mock(side_effect=answer)
    crawl = books_source()
    pages = list(crawl.pages(None))
    sent = [call.request.url.params for call in route.calls]
    assert [(p["q"], p["startIndex"]) for p in sent] == [
        ("subject:fiction", "0"),
        ("subject:fiction", "40"),
        ("subject:fiction", "80"),
        ('subject:"science fiction"', "0"),
    ]
    assert all(
        p["maxResults"] == "40" and p["langRestrict"] == "en" and p["key"] == BOOKS_TEST_KEY for p in sent
    )
    assert [len(p.rows) for p in pages] == [5, 5, 0, 0]
    assert pages[1].next_position == {"subject": "fiction", "start_index": 80}
    assert pages[-1].next_position is None
    crawl.close()


@respx.mock
def test_resume_from_a_checkpoint_and_no_language_restriction_when_unset():
    route = respx.get(f"{BASE}/volumes").respond(200, json={"kind": "books#volumes", "totalItems": 0})
    crawl = books_source(language=None)
    first = next(crawl.pages({"subject": "science fiction", "start_index": 40}))
    assert first.position == {"subject": "science fiction", "start_index": 40}
    assert route.calls.last.request.url.params["startIndex"] == "40"
    assert "langRestrict" not in route.calls.last.request.url.params
    crawl.close()


def google_error(status: int, reason: str, *, details: list | None = None) -> httpx.Response:
    error = {"code": status, "message": "refused", "errors": [{"reason": reason, "domain": "global"}]}
    if details is not None:
        error["details"] = details
    return httpx.Response(status, json={"error": error})


@respx.mock
@pytest.mark.parametrize(("status", "reason"), [(400, "keyInvalid"), (403, "accessNotConfigured")])
def test_refused_key_is_an_auth_error(status, reason):
    route = respx.get(f"{BASE}/volumes").mock(return_value=google_error(status, reason))
    crawl = books_source()
    with pytest.raises(UpstreamAuthError) as raised:
        next(crawl.pages(None))
    assert route.call_count == 1 and BOOKS_TEST_KEY not in raised.value.message
    crawl.close()


@respx.mock
def test_daily_quota_stops_at_once():
    per_day = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "metadata": {
                "quota_limit": "defaultPerDayPerProject",
                "quota_metric": "books.googleapis.com/default",
            },
        }
    ]
    route = respx.get(f"{BASE}/volumes").mock(
        return_value=google_error(429, "rateLimitExceeded", details=per_day)
    )
    crawl = books_source()
    with pytest.raises(UpstreamRateLimitedError, match="daily quota"):
        next(crawl.pages(None))
    assert route.call_count == 1
    respx.get(f"{BASE}/volumes").mock(return_value=google_error(403, "dailyLimitExceeded"))
    with pytest.raises(UpstreamRateLimitedError):
        next(crawl.pages(None))
    crawl.close()


@respx.mock
def test_per_minute_rate_limits_are_retried():
    ok = {
        "kind": "books#volumes",
        "totalItems": 1,
        "items": volumes("volumes_q-subject-fiction_maxResults1_binderapp.json"),
    }
    route = respx.get(f"{BASE}/volumes").mock(
        side_effect=[
            google_error(403, "userRateLimitExceeded"),
            httpx.Response(
                429,
                headers={"Retry-After": "3"},
                json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}},
            ),
            httpx.Response(200, json=ok),
        ]
    )
    sleeps: list[float] = []
    crawl = books_source(sleeps=sleeps)
    page = next(crawl.pages(None))
    assert [row["google_id"] for row in page.rows] == ["KVGd-NabpW0C"]
    assert route.call_count == 3 and len(sleeps) == 2 and sleeps[1] == 3.0
    crawl.close()
