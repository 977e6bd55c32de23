"""The pipeline against the real database and the real model, fed by the recorded responses: idempotency,
resuming after a deadline stop, failures counted and skipped, credentials refused, rate limits honoured."""

from __future__ import annotations

import copy
import gc
import tracemalloc
from datetime import date

import httpx
import psycopg
import pytest

from cinelibre.errors import ValidationError
from cinelibre.ingest.pipeline import Deadline
from cinelibre.ingest.replay import RecordedCatalog

from ..conftest import truncate_all
from .conftest import (
    FIXTURES,
    TEST_SUBJECTS,
    TMDB_HOST,
    TMDB_TEST_KEY,
    SimulatedLambdaContext,
    discoverable_ids,
    serving,
)

LANGUAGES = ["en", "hi"]


def rows(pg_url: str, sql: str) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql).fetchall()


def stored_tmdb_ids(pg_url: str) -> list[int]:
    return [r[0] for r in rows(pg_url, "select tmdb_id from public.movies order by tmdb_id")]


def stored_google_ids(pg_url: str) -> list[str]:
    return [r[0] for r in rows(pg_url, "select google_id from public.books order by google_id")]


def expected_volume_ids(catalog) -> set[str]:
    return {
        item["id"]
        for item in catalog.volumes
        if any(c.lower() in TEST_SUBJECTS for c in item["volumeInfo"].get("categories", []))
    }


def snapshot(pg_url: str) -> list[tuple]:
    return rows(
        pg_url,
        """
        select 'movie', tmdb_id::text, updated_at, content_hash, embedding::text from public.movies
        union all
        select 'book', google_id, updated_at, content_hash, embedding::text from public.books
        order by 1, 2""",
    )


def details_requests(catalog) -> int:
    return sum(1 for r in catalog.requests if r.url.path.startswith("/3/movie/"))


def test_second_run_over_the_same_data_embeds_nothing_and_changes_nothing(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    first = make_pipeline(ingest_settings).run(sources=["tmdb", "google_books"], trigger="manual")
    tmdb, books = first.runs
    movies = discoverable_ids(catalog, LANGUAGES)
    assert first.status == "succeeded"
    assert tmdb.stats.new == tmdb.stats.embedded == len(movies) and tmdb.stats.failed == 0
    assert stored_tmdb_ids(pg_url) == sorted(movies), "each discovered title stored exactly once"
    assert tmdb.stats.duplicates > 0, "titles listed by several slices were recognised, not re-processed"
    assert books.stats.new == books.stats.embedded == len(expected_volume_ids(catalog))
    assert stored_google_ids(pg_url) == sorted(expected_volume_ids(catalog))
    assert tmdb.checkpoint is None and books.checkpoint is None, "a finished cycle starts over next time"
    men_in_black = rows(
        pg_url,
        "select director, runtime, cast_members->0->>'name', poster_url from public.movies "
        "where tmdb_id = 607",
    )
    assert men_in_black == [
        (
            "Barry Sonnenfeld",
            98,
            "Tommy Lee Jones",
            "https://image.tmdb.org/t/p/w500/uLOmOF5IzWoyrgIF5MfUnh5pa1X.jpg",
        )
    ]
    before, details_before = snapshot(pg_url), details_requests(catalog)

    second = make_pipeline(ingest_settings).run(sources=["tmdb", "google_books"], trigger="manual")
    for run in second.runs:
        assert run.status == "succeeded"
        assert run.stats.embedded == run.stats.new == run.stats.updated == 0
        assert run.stats.unchanged == run.stats.fetched > 0
    assert snapshot(pg_url) == before, "no row rewritten, not even its updated_at"
    assert details_requests(catalog) == details_before, "unchanged titles need no details request"
    recorded = rows(
        pg_url, "select source, status, stats->>'new', checkpoint from public.ingest_runs order by id"
    )
    # Each run crawls both sources at the same time (issue 11): within a run, either may record itself first.
    assert sorted(recorded[:2]) == [
        ("google_books", "succeeded", str(len(expected_volume_ids(catalog))), None),
        ("tmdb", "succeeded", str(len(movies)), None),
    ]
    assert sorted(recorded[2:]) == [("google_books", "succeeded", "0", None), ("tmdb", "succeeded", "0", None)]


def test_changed_text_is_re_embedded_and_updated_in_place(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    make_pipeline(ingest_settings).run(sources=["tmdb", "google_books"], trigger="manual")
    movie = next(e for e in catalog.listing if e["id"] == 436270)  # Black Adam
    movie["overview"] = catalog.details[436270]["overview"] = (
        "A rewritten synopsis about an ancient champion."
    )
    volume = next(v for v in catalog.volumes if v["id"] == "KVGd-NabpW0C")
    volume["volumeInfo"] = {**volume["volumeInfo"], "description": "<p>A <i>new</i> description.</p>"}
    old_vector = rows(pg_url, "select embedding::text from public.movies where tmdb_id = 436270")

    tmdb, books = make_pipeline(ingest_settings).run(sources=["tmdb", "google_books"], trigger="manual").runs
    assert (tmdb.stats.updated, tmdb.stats.embedded, tmdb.stats.new) == (1, 1, 0)
    assert (books.stats.updated, books.stats.embedded, books.stats.new) == (1, 1, 0)
    assert rows(pg_url, "select overview from public.movies where tmdb_id = 436270") == [
        ("A rewritten synopsis about an ancient champion.",)
    ]
    assert rows(pg_url, "select embedding::text from public.movies where tmdb_id = 436270") != old_vector
    assert rows(pg_url, "select description from public.books where google_id = 'KVGd-NabpW0C'") == [
        ("A new description.",)
    ]
    assert len(stored_tmdb_ids(pg_url)) == len(discoverable_ids(catalog, LANGUAGES))


def test_new_vote_figures_refresh_without_re_embedding_or_losing_credits(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    """Votes and popularity move every day while the synopsis does not: the daily run must pick them up,
    and a listing row (which has no credits) must not blank the director and cast stored from details."""
    make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual")
    credits_before = rows(pg_url, "select director, cast_members, runtime from public.movies where tmdb_id = 607")
    for entry in catalog.listing:
        if entry["id"] == 607:
            entry["vote_count"], entry["vote_average"], entry["popularity"] = 20_000, 7.4, 123.5

    (tmdb,) = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs
    assert (tmdb.stats.updated, tmdb.stats.embedded, tmdb.stats.new) == (1, 0, 0)
    assert rows(pg_url, "select vote_count, vote_average, popularity from public.movies where tmdb_id = 607") == [
        (20_000, 7.4, 123.5)
    ]
    assert rows(pg_url, "select director, cast_members, runtime from public.movies where tmdb_id = 607") == (
        credits_before
    )


def test_stops_before_the_deadline_and_the_next_run_resumes_there(
    upstream, catalog, clock, ingest_settings, make_pipeline, pg_url
):
    margin = ingest_settings.ingest_deadline_margin_s
    clock.request_cost_s = 1.0
    clock.left_s = margin + 25.0
    context = SimulatedLambdaContext(clock)
    deadline = Deadline.from_lambda_context(context, margin_s=margin)

    first = (
        make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule", deadline=deadline).runs[0]
    )
    # A deadline stop loses nothing, so the run succeeded; the checkpoint says where the next one resumes.
    assert first.status == "succeeded" and first.stopped_by == "deadline" and first.skipped_total == 0
    assert first.checkpoint is not None
    assert clock.left_s >= margin - clock.request_cost_s, "stopped while the margin was still in hand"
    stored_after_first = stored_tmdb_ids(pg_url)
    assert 0 < len(stored_after_first) == first.stats.new < len(discoverable_ids(catalog, LANGUAGES))
    saved = rows(pg_url, "select checkpoint from public.ingest_checkpoints where source = 'tmdb'")
    assert saved == [(first.checkpoint,)]

    clock.left_s = 900.0
    requests_before = len(catalog.requests)
    second = (
        make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule", deadline=deadline).runs[0]
    )
    first_discover = next(r for r in catalog.requests[requests_before:] if r.url.path == "/3/discover/movie")
    resumed_slice = first.checkpoint["slice"].split(":")[0]
    assert first_discover.url.params["with_original_language"] == resumed_slice
    assert first_discover.url.params["page"] == str(first.checkpoint["page"])
    assert second.status == "succeeded" and second.checkpoint is None
    assert stored_tmdb_ids(pg_url) == sorted(discoverable_ids(catalog, LANGUAGES))
    assert first.stats.new + second.stats.new == len(discoverable_ids(catalog, LANGUAGES))


def test_each_source_gets_its_share_of_a_short_deadline(
    upstream, clock, ingest_settings, make_pipeline, pg_url
):
    margin = ingest_settings.ingest_deadline_margin_s
    clock.request_cost_s = 1.0
    clock.left_s = margin + 30.0
    deadline = Deadline.from_lambda_context(SimulatedLambdaContext(clock), margin_s=margin)
    tmdb, books = (
        make_pipeline(ingest_settings)
        .run(sources=["tmdb", "google_books"], trigger="schedule", deadline=deadline)
        .runs
    )
    assert tmdb.stopped_by == "deadline"
    assert books.stats.pages > 0 and stored_google_ids(pg_url), "TMDB did not eat the books' time"


def test_an_item_that_keeps_failing_is_counted_and_skipped(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    calls = []

    def broken_details(request: httpx.Request) -> httpx.Response | None:
        if request.url.path == "/3/movie/607":
            calls.append(request)
            return httpx.Response(500)
        return None

    faults.append(broken_details)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert len(calls) >= 2, "retried before giving up"
    assert run.status == "partial" and run.stats.failed == 1
    assert 607 not in stored_tmdb_ids(pg_url)
    assert len(stored_tmdb_ids(pg_url)) == len(discoverable_ids(catalog, LANGUAGES)) - 1
    assert run.stats.fetched == run.stats.new + run.stats.updated + run.stats.unchanged + run.stats.failed

    faults.clear()
    again = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert again.stats.new == 1 and 607 in stored_tmdb_ids(pg_url)


def test_a_page_that_stays_malformed_is_counted_and_skipped(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    lost_page: list[httpx.Request] = []

    def truncated_page(request: httpx.Request) -> httpx.Response | None:
        params = request.url.params
        if (
            request.url.path == "/3/discover/movie"
            and params.get("primary_release_date.gte") == "2020-01-01"
            and params["with_original_language"] == "en"
            and params["sort_by"] == "popularity.desc"
            and params["page"] == "1"
        ):
            lost_page.append(request)
            return httpx.Response(200, content=b'{"page": 1, "results": [{"id": 1')
        return None

    faults.append(truncated_page)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.stats.failed_pages == 1 and run.status == "partial" and run.checkpoint is None
    on_lost_page = {entry["id"] for entry in catalog.handle(lost_page[0]).json()["results"]}
    stored = set(stored_tmdb_ids(pg_url))
    assert discoverable_ids(catalog, LANGUAGES) - on_lost_page <= stored, "the other pages all landed"
    assert stored <= discoverable_ids(catalog, LANGUAGES)

    faults.clear()
    make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual")
    assert stored_tmdb_ids(pg_url) == sorted(discoverable_ids(catalog, LANGUAGES)), (
        "the next cycle fills the gap"
    )


def test_entries_missing_their_id_or_title_are_counted_failed_and_the_rest_stored(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    def damaged_first_page(request: httpx.Request) -> httpx.Response | None:
        params = request.url.params
        if (
            request.url.path == "/3/discover/movie"
            and params.get("primary_release_date.gte") == "2020-01-01"
            and params["with_original_language"] == "en"
            and params["sort_by"] == "popularity.desc"
            and params["page"] == "1"
        ):
            body = catalog.handle(request).json()
            body["results"][0] = {k: v for k, v in body["results"][0].items() if k != "id"}
            body["results"][1] = {**body["results"][1], "title": None, "original_title": ""}
            return httpx.Response(200, json=body)
        return None

    faults.append(damaged_first_page)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.stats.failed == 2 and run.status == "partial"
    assert run.stats.fetched == run.stats.new + run.stats.updated + run.stats.unchanged + run.stats.failed
    assert len(stored_tmdb_ids(pg_url)) >= len(discoverable_ids(catalog, LANGUAGES)) - 2


def test_a_source_that_is_down_stops_the_run_and_keeps_the_failed_pages_for_later(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    faults.append(lambda request: httpx.Response(502) if request.url.path == "/3/discover/movie" else None)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule").runs[0]
    # Nothing could be listed at all: the run failed (issue 11: this used to be `partial`, exit 0).
    assert run.stopped_by == "upstream_failures" and run.status == "failed"
    assert run.stats.failed_pages == 3 and run.stats.pages == 0
    first_slice = f"en:recent:{date.today().year - 1}-"
    assert run.checkpoint == {"slice": first_slice, "page": 1}, (
        "the next run retries the first page that failed"
    )
    assert rows(pg_url, "select checkpoint from public.ingest_checkpoints") == [(run.checkpoint,)]
    assert rows(pg_url, "select count(*) from public.ingest_retries") == [(0,)], (
        "the checkpoint points at those pages: they are not lost, so not queued"
    )


def test_a_row_the_database_refuses_does_not_sink_its_page(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    # vote_count beyond a 32-bit integer: the schema refuses it; the rest of the page must still land.
    catalog.details[550] = {**catalog.details[550], "vote_count": 2**31}
    next(e for e in catalog.listing if e["id"] == 550)["vote_count"] = 2**31
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.stats.failed == 1 and 550 not in stored_tmdb_ids(pg_url)
    assert len(stored_tmdb_ids(pg_url)) == len(discoverable_ids(catalog, LANGUAGES)) - 1


def test_an_invalid_api_key_ends_the_run_with_a_clear_error_and_writes_nothing(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url, capfd, caplog
):
    refused = []

    def unauthorized(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == TMDB_HOST:
            refused.append(request)
            return httpx.Response(401, json=catalog.unauthorized)
        return None

    faults.append(unauthorized)
    summary = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual")
    run = summary.runs[0]
    assert summary.status == "failed" and run.status == "failed"
    assert "refused the API key" in run.error and "401" in run.error
    assert len(refused) == 1, "no retry can fix a refused key"
    assert rows(pg_url, "select count(*) from public.movies") == [(0,)]
    assert rows(pg_url, "select status, error from public.ingest_runs") == [("failed", run.error)]
    printed = capfd.readouterr()
    records = " ".join(str(vars(record)) for record in caplog.records)
    assert "refused the API key" in records
    assert TMDB_TEST_KEY not in run.error + printed.out + printed.err + records


def test_google_books_429_is_waited_out_and_loses_nothing(
    upstream, faults, catalog, clock, ingest_settings, make_pipeline, pg_url
):
    throttled = []

    def too_many(request: httpx.Request) -> httpx.Response | None:
        if request.url.params.get("q") == "subject:fiction" and len(throttled) < 2:
            throttled.append(request)
            return httpx.Response(
                429,
                headers={"Retry-After": "5"},
                json={"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}},
            )
        return None

    faults.append(too_many)
    run = make_pipeline(ingest_settings).run(sources=["google_books"], trigger="manual").runs[0]
    assert clock.sleeps[:2] == [5.0, 5.0]
    assert run.status == "succeeded" and run.stats.failed_pages == 0
    assert stored_google_ids(pg_url) == sorted(expected_volume_ids(catalog))


def test_google_books_quota_stops_the_source_and_the_next_run_resumes(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    def daily_quota(request: httpx.Request) -> httpx.Response | None:
        if request.url.params.get("q") == "subject:computers":
            return httpx.Response(
                403, json={"error": {"code": 403, "errors": [{"reason": "dailyLimitExceeded"}]}}
            )
        return None

    faults.append(daily_quota)
    first = make_pipeline(ingest_settings).run(sources=["google_books"], trigger="schedule").runs[0]
    assert first.status == "partial" and first.stopped_by == "rate_limited"
    assert first.checkpoint == {"subject": "computers", "start_index": 0}
    fiction = {v["id"] for v in catalog.volumes if "Fiction" in v["volumeInfo"].get("categories", [])}
    assert set(stored_google_ids(pg_url)) == fiction

    faults.clear()
    requests_before = len(catalog.requests)
    second = make_pipeline(ingest_settings).run(sources=["google_books"], trigger="schedule").runs[0]
    assert catalog.requests[requests_before].url.params["q"] == "subject:computers"
    assert second.status == "succeeded"
    assert stored_google_ids(pg_url) == sorted(expected_volume_ids(catalog))


def test_the_same_book_under_two_volume_ids_is_stored_once(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    plague = next(v for v in catalog.volumes if v["id"] == "KVGd-NabpW0C")
    catalog.volumes.insert(catalog.volumes.index(plague) + 1, {**copy.deepcopy(plague), "id": "PlagueAgain0"})
    run = make_pipeline(ingest_settings).run(sources=["google_books"], trigger="manual").runs[0]
    assert run.stats.duplicates == 1
    assert "PlagueAgain0" not in stored_google_ids(pg_url)
    assert rows(pg_url, "select count(*) from public.books where isbn_13 = '9780679720218'") == [(1,)]


def test_dry_run_fetches_and_compares_but_writes_nothing(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    summary = make_pipeline(ingest_settings).run(
        sources=["tmdb", "google_books"], trigger="cli", dry_run=True
    )
    tmdb, books = summary.runs
    assert tmdb.stats.new == len(discoverable_ids(catalog, LANGUAGES)) and tmdb.stats.embedded == 0
    assert books.stats.new == len(expected_volume_ids(catalog))
    assert rows(
        pg_url,
        "select (select count(*) from public.movies), (select count(*) from public.books), "
        "(select count(*) from public.ingest_runs)",
    ) == [(0, 0, 0)]


def test_limit_caps_the_items_and_the_next_run_carries_on(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    first = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="cli", limit=7).runs[0]
    assert first.stats.fetched == 7 and first.stopped_by == "limit"
    assert len(stored_tmdb_ids(pg_url)) == 7
    second = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="cli").runs[0]
    assert second.status == "succeeded"
    assert stored_tmdb_ids(pg_url) == sorted(discoverable_ids(catalog, LANGUAGES))


def test_missing_tmdb_key_is_a_clear_failure(upstream, ingest_settings, make_pipeline, pg_url):
    settings = ingest_settings.model_copy(update={"tmdb_api_key": None})
    run = make_pipeline(settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.status == "failed" and "TMDB_API_KEY" in run.error
    assert rows(pg_url, "select count(*) from public.movies") == [(0,)]


@pytest.mark.parametrize("sources", [["imdb"], [], ["tmdb", "netflix"]])
def test_unknown_or_no_sources_are_refused(ingest_settings, make_pipeline, sources):
    with pytest.raises(ValidationError):
        make_pipeline(ingest_settings).run(sources=sources, trigger="manual")


def test_memory_stays_bounded_by_the_page_not_by_the_run(ingest_settings, make_pipeline, embedder, pg_url):
    """What the pipeline holds between pages does not grow with the run: rows, vectors and responses live for
    one page. Twice the titles, measured on Python's heap after each page (cycles httpx leaves for the
    collector collected first); the heap's peak stays a few MB. The model's native memory is in bench/.
    The replay runs as a real local server here: respx would keep every response it served."""

    def measure(copies: int) -> tuple[int, int, int]:
        catalog = RecordedCatalog(FIXTURES, copies=copies, copy_languages=LANGUAGES, keep_requests=False)
        held_between_pages: list[int] = []

        def after_page(source: str, items: int) -> None:
            gc.collect()
            held_between_pages.append(tracemalloc.get_traced_memory()[0])

        with serving(catalog) as base:
            settings = ingest_settings.model_copy(update={"tmdb_base_url": f"{base}/3"})
            pipeline = make_pipeline(settings)
            gc.collect()
            gc.freeze()  # what exists now (model, modules) need not be rescanned by each collection
            tracemalloc.start()
            try:
                run = pipeline.run(sources=["tmdb"], trigger="manual", on_progress=after_page).runs[0]
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                gc.unfreeze()
        truncate_all(pg_url)
        return run.stats.new, max(held_between_pages), peak

    list(embedder.embed_passages(["The model loads on first use; load it before measuring."]))
    small_new, small_held, _ = measure(1)
    large_new, large_held, large_peak = measure(2)
    assert large_new >= 1.8 * small_new
    # The one thing that grows is the run's set of ids seen (a few dozen bytes a title).
    assert large_held < small_held + 100 * (large_new - small_new) + 256 * 1024, (small_held, large_held)
    assert large_peak < 16 * 1024 * 1024, large_peak
