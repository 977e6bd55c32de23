"""Sources crawl at the same time (issue 11): each waits on its own host's rate limit, so one after the other
would leave the other's ceiling unused."""

from __future__ import annotations

import threading

import httpx

from cinelibre.errors import ModelUnavailableError
from cinelibre.ingest.handler import build_pipeline

from .conftest import FAST_RETRY, TEST_SUBJECTS
from .test_pipeline import stored_google_ids, stored_tmdb_ids


def test_google_books_is_crawled_while_tmdb_is_still_waiting(upstream, faults, ingest_settings, make_pipeline):
    books_asked = threading.Event()

    def slow_tmdb_until_books_asked(request: httpx.Request) -> httpx.Response | None:
        if request.url.host == "www.googleapis.com":
            books_asked.set()
        elif request.url.path == "/3/genre/movie/list":
            # TMDB's first request waits for Google Books: crawled one after the other, it would wait in vain.
            assert books_asked.wait(timeout=60), "Google Books was not crawled while TMDB waited"
        return None

    faults.append(slow_tmdb_until_books_asked)
    tmdb, books = (
        make_pipeline(ingest_settings).run(sources=["tmdb", "google_books"], trigger="manual", limit=20).runs
    )
    assert books_asked.is_set()
    assert tmdb.status == "succeeded" and tmdb.stats.new > 0, tmdb.as_dict()
    assert books.status == "succeeded" and books.stats.new > 0, books.as_dict()


class _ModelGoneAfterFirstPass:
    """The real model for the lane's first pass, then unavailable (a layer deleted under a warm container)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.passes = 0

    def embed_passages(self, texts):
        self.passes += 1
        if self.passes > 1:
            raise ModelUnavailableError("the embedding model went away")
        return self.inner.embed_passages(texts)


def test_the_model_failing_while_a_pass_is_written_fails_the_runs_and_keeps_what_landed(
    upstream, ingest_settings, db, embedder, clock, pg_url
):
    """The writer lane embeds the next pages while its writing thread writes the last pass (issue 11, session
    3): a model failure in the next pass must still end each source's run `failed` with the reason, count only
    what landed, and leave no thread behind (the run returns)."""
    fast = {"requests_per_second": 1000.0, "sleep": clock.sleep, "retry": FAST_RETRY}
    pipeline = build_pipeline(
        ingest_settings,
        db,
        _ModelGoneAfterFirstPass(embedder),
        tmdb_options=fast,
        books_options={**fast, "subjects": TEST_SUBJECTS},
    )
    runs = pipeline.run(sources=["tmdb", "google_books"], trigger="manual").runs

    assert [run.status for run in runs] == ["failed", "failed"], [run.as_dict() for run in runs]
    assert all(run.error == "the embedding model went away" for run in runs)
    stored = len(stored_tmdb_ids(pg_url)) + len(stored_google_ids(pg_url))
    assert stored == sum(run.stats.new for run in runs) > 0  # the first pass landed and was counted; no more
    assert not [thread.name for thread in threading.enumerate() if thread.name.startswith("ingest-")]
