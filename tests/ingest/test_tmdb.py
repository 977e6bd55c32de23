"""TMDB: normalising the recorded bodies, the discover plan and its paging (500-page cap, resume, skips)."""

from __future__ import annotations

import json
from datetime import date

import httpx
import pytest
import respx

from cinelibre.errors import UpstreamError
from cinelibre.ingest.base import IncompleteRecordError
from cinelibre.ingest.http import SourceClient
from cinelibre.ingest.tmdb import (
    TMDB_MAX_PAGE,
    TmdbSource,
    discover_plan,
    movie_from_details,
    movie_from_listing,
)

from .conftest import FIXTURES, TMDB_TEST_KEY

TMDB = FIXTURES / "tmdb"
IMAGES = "https://image.tmdb.org/t/p/w500"
BASE = "https://api.themoviedb.org/3"
TODAY = date(2026, 11, 27)


def load(name: str):
    return json.loads((TMDB / name).read_text(encoding="utf-8"))


def genre_names() -> dict[int, str]:
    return {g["id"]: g["name"] for g in load("genre_movie_list_language-en_18months.json")["genres"]}


def source(languages=("en",), pages_per_slice=None) -> TmdbSource:
    client = SourceClient(
        source="tmdb",
        base_url=BASE,
        requests_per_second=1000.0,
        params={"api_key": TMDB_TEST_KEY},
        sleep=lambda _: None,
    )
    return TmdbSource(
        client, image_base_url=IMAGES, languages=list(languages), pages_per_slice=pages_per_slice, today=TODAY
    )


def test_details_with_credits_become_a_full_row():
    row = movie_from_details(
        load(
            "movie_607_append-credits-external_ids-videos-release_dates-reviews-watchproviders_moviebase.json"
        ),
        IMAGES,
    )
    assert row["tmdb_id"] == 607 and row["title"] == "Men in Black"
    assert row["genres"] == ["Action", "Adventure", "Comedy", "Science Fiction"]
    assert row["director"] == "Barry Sonnenfeld"
    assert row["cast_members"][:2] == [
        {"name": "Tommy Lee Jones", "character": "Agent K"},
        {"name": "Will Smith", "character": "James Edwards / Agent J"},
    ]
    assert len(row["cast_members"]) == 10
    jobs = {(c["job"], c["name"]) for c in row["crew"]}
    assert ("Director", "Barry Sonnenfeld") in jobs
    assert ("Original Music Composer", "Danny Elfman") in jobs
    assert ("Director of Photography", "Donald Peterman") in jobs
    assert ("Screenplay", "Ed Solomon") in jobs
    assert len(row["crew"]) == len({(c["name"], c["job"]) for c in row["crew"]}), "no repeated credits"
    assert row["runtime"] == 98 and row["release_date"] == "1997-07-02"
    assert row["poster_url"] == f"{IMAGES}/uLOmOF5IzWoyrgIF5MfUnh5pa1X.jpg"
    assert row["vote_count"] == 10902 and row["vote_average"] == 7.2
    assert "budget" not in row and "revenue" not in row


def test_details_merged_with_separate_credits():
    details = load("movie_550_details_jdrouet.json")
    credits = load("movie_550_credits_jdrouet.json")
    row = movie_from_details({**details, "credits": credits}, IMAGES)
    assert row["director"] == "David Fincher"
    assert row["cast_members"][0] == {"name": "Edward Norton", "character": "Narrator"}
    assert row["genres"] == ["Drama"] and row["runtime"] == 139


def test_details_without_credits_still_normalise():
    row = movie_from_details(load("movie_49521_append-external_ids_subliminal.json"), IMAGES)
    assert row["title"] == "Man of Steel"
    assert row["director"] is None and row["cast_members"] == [] and row["crew"] == []


def test_listing_quirks_empty_date_null_poster_and_genre_ids():
    results = load("search_movie_query-James-Bond_page2_subliminal.json")["results"]
    rows = [movie_from_listing(entry, genre_names(), IMAGES) for entry in results]
    undated = [r for r, e in zip(rows, results, strict=True) if e["release_date"] == ""]
    assert undated and all(r["release_date"] is None for r in undated)
    posterless = [r for r, e in zip(rows, results, strict=True) if e["poster_path"] is None]
    assert posterless and all(r["poster_url"] is None for r in posterless)
    assert any(r["original_language"] == "hi" for r in rows)
    for row, entry in zip(rows, results, strict=True):
        assert len(row["genres"]) == len(entry["genre_ids"])
        if entry["vote_count"] == 0:
            assert row["vote_average"] is None, "0.0 from nobody's votes is unknown, not a score"


def test_entries_without_id_or_title_are_refused():
    entry = load("search_movie_query-RRRrrrr_jdrouet.json")["results"][0]
    with pytest.raises(IncompleteRecordError):
        movie_from_listing({k: v for k, v in entry.items() if k != "id"}, {}, IMAGES)
    with pytest.raises(IncompleteRecordError):
        movie_from_listing({**entry, "title": "", "original_title": None}, {}, IMAGES)
    assert movie_from_listing({**entry, "title": ""}, {}, IMAGES)["title"] == entry["original_title"]


def test_plan_covers_every_language_ordering_and_year_range():
    plan = discover_plan(["en", "hi", "te", "ta", "kn", "ml", "bn", "mr"], TODAY)
    assert len(plan) == 8 * 12 and len({s.key for s in plan}) == len(plan)
    assert [s.language for s in plan[:8]] == ["en", "hi", "te", "ta", "kn", "ml", "bn", "mr"]
    recent = plan[0].params(TODAY)
    assert recent["sort_by"] == "primary_release_date.desc"
    assert (
        recent["primary_release_date.lte"] == "2026-11-27"
        and recent["primary_release_date.gte"] == "2025-01-01"
    )
    orderings = {s.params(TODAY)["sort_by"] for s in plan}
    assert orderings == {"primary_release_date.desc", "popularity.desc", "vote_average.desc"}
    top = next(s for s in plan if s.ordering == "top_rated").params(TODAY)
    assert top["vote_count.gte"] > 0 and top["with_original_language"] == "en"
    # Issue 11: the last step of each language lists without any date filter, the only way TMDB lists
    # titles whose release date it does not know.
    catalog = [s for s in plan if s.ordering == "catalog"]
    assert [s.language for s in catalog] == ["en", "hi", "te", "ta", "kn", "ml", "bn", "mr"]
    assert catalog == plan[-8:]
    assert not any(name.startswith("primary_release_date") for name in catalog[0].params(TODAY))


@respx.mock
def test_paging_stops_at_page_500_whatever_total_pages_says():
    respx.get(f"{BASE}/genre/movie/list").respond(
        200, json=load("genre_movie_list_language-en_18months.json")
    )
    popular = load("movie_popular_page1_jdrouet.json")
    assert popular["total_pages"] > TMDB_MAX_PAGE
    discover = respx.get(f"{BASE}/discover/movie").mock(
        side_effect=lambda request: httpx.Response(
            200, json={**popular, "page": int(request.url.params["page"])}
        )
    )
    crawl = source()
    first_slice = crawl.plan[0].key
    pages = []
    for page in crawl.pages(None):
        if page.position["slice"] != first_slice:
            break
        pages.append(page.position["page"])
    assert pages == list(range(1, TMDB_MAX_PAGE + 1))
    assert max(int(call.request.url.params["page"]) for call in discover.calls) == TMDB_MAX_PAGE
    crawl.close()


@respx.mock
def test_resumes_at_the_checkpointed_slice_and_page():
    respx.get(f"{BASE}/genre/movie/list").respond(
        200, json=load("genre_movie_list_language-en_18months.json")
    )
    page = load("discover_movie_language-en_page1_18months.json")
    discover = respx.get(f"{BASE}/discover/movie").respond(200, json={**page, "page": 3, "total_pages": 4})
    crawl = source(languages=("en", "hi"), pages_per_slice=10)
    target = crawl.plan[3]
    first = next(crawl.pages({"slice": target.key, "page": 3}))
    assert first.position == {"slice": target.key, "page": 3}
    assert first.next_position == {"slice": target.key, "page": 4}
    sent = discover.calls.last.request.url.params
    assert sent["page"] == "3" and sent["with_original_language"] == target.language
    assert len(first.rows) == 20
    # An unknown position (the plan changed since) starts over rather than guessing.
    again = next(crawl.pages({"slice": "xx:gone:-", "page": 7}))
    assert again.position == {"slice": crawl.plan[0].key, "page": 1}
    crawl.close()


@respx.mock
def test_a_failed_page_is_skipped_and_the_slice_goes_on():
    respx.get(f"{BASE}/genre/movie/list").respond(
        200, json=load("genre_movie_list_language-en_18months.json")
    )
    page = load("discover_movie_language-en_page1_18months.json")

    def answer(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page"])
        if request.url.params["sort_by"] == "primary_release_date.desc" and number == 2:
            return httpx.Response(500)
        if request.url.params.get("primary_release_date.gte") == "2020-01-01" and number == 1:
            return httpx.Response(200, content=b'{"page": 1, "results": [')
        return httpx.Response(200, json={**page, "page": number, "total_pages": 3})

    respx.get(f"{BASE}/discover/movie").mock(side_effect=answer)
    crawl = source(pages_per_slice=5)
    pages = [p for p, _ in zip(crawl.pages(None), range(5), strict=False)]
    recent, popular = crawl.plan[0].key, crawl.plan[1].key
    assert [(p.position["slice"], p.position["page"], p.error is not None) for p in pages] == [
        (recent, 1, False),
        (recent, 2, True),
        (recent, 3, False),
        (popular, 1, True),
        (popular, 2, False),
    ]
    assert isinstance(pages[1].error, UpstreamError) and pages[1].next_position == {
        "slice": recent,
        "page": 3,
    }
    assert pages[3].next_position == {"slice": popular, "page": 2}
    assert pages[2].next_position == {"slice": popular, "page": 1}, "page 3 of 3 ends the slice"
    crawl.close()
