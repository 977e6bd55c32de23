"""Full reach (issue 11): successive runs cover a language's whole catalog, each run going on deeper where the
last stopped, with TMDB's 500-page cap per query met by keyset windows over release dates."""

from __future__ import annotations

from datetime import date

import pytest

from cinelibre.ingest.handler import build_pipeline
from cinelibre.ingest.replay import RecordedCatalog

from .conftest import FAST_RETRY, FIXTURES, TEST_SUBJECTS, discoverable_ids
from .test_pipeline import stored_tmdb_ids


@pytest.fixture
def catalog() -> RecordedCatalog:
    # Four times the recorded titles, all in English: far more than the head of the plan lists at one page a slice.
    return RecordedCatalog(FIXTURES, copies=4, book_copies=1, copy_languages=["en"])


def test_successive_runs_reach_the_whole_catalog_going_deeper_each_time(
    upstream, catalog, clock, ingest_settings, db, embedder, pg_url
):
    settings = ingest_settings.model_copy(update={"ingest_languages": ("en",), "ingest_tmdb_pages_per_slice": 1})
    fast = {"requests_per_second": 1000.0, "sleep": clock.sleep, "retry": FAST_RETRY}
    # One page per window, so a few hundred titles need several windows, as a language's 10,000+ titles do.
    pipeline = build_pipeline(
        settings, db, embedder, tmdb_options={**fast, "window_pages": 1},
        books_options={**fast, "subjects": TEST_SUBJECTS},
    )  # fmt: skip
    wanted = discoverable_ids(catalog, ["en"])
    head_only = set()
    dated_positions: list[list[tuple[int, int]]] = []  # per run: (-release-date bound, page) of backfill pages
    runs = []
    for _ in range(30):
        before = len(catalog.requests)
        run = pipeline.run(sources=["tmdb"], trigger="schedule", limit=60).runs[0]
        runs.append(run)
        assert run.status == "succeeded", run.as_dict()
        listings = [r.url.params for r in catalog.requests[before:] if r.url.path == "/3/discover/movie"]
        dated_positions.append([
            (-date.fromisoformat(p["primary_release_date.lte"]).toordinal(), int(p["page"]))
            for p in listings
            if p["sort_by"] == "primary_release_date.desc" and "primary_release_date.gte" not in p
        ])  # fmt: skip
        if len(runs) == 1:
            head_only = set(stored_tmdb_ids(pg_url))
        if run.checkpoint is None:
            break
    assert runs[-1].checkpoint is None, "the plan came to its end"
    assert len(runs) > 3, "the catalog took several runs"
    assert len(head_only) < len(wanted), "the head of the plan alone does not reach everything"
    assert set(stored_tmdb_ids(pg_url)) == wanted, "every title, dated and undated, is in the catalog"
    # Each run goes on where the last stopped: the backfill's positions never go back to shallower pages (the
    # page a run was interrupted in is the only one fetched twice).
    series = [position for positions in dated_positions for position in positions]
    assert series == sorted(series)
    assert len(series) - len(set(series)) <= len(runs)
    windows = {bound for bound, _ in series}
    assert len(windows) >= 3, "the dated backfill went on past a full window by release date"
