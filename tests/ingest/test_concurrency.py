"""Sources crawl at the same time (issue 11): each waits on its own host's rate limit, so one after the other
would leave the other's ceiling unused."""

from __future__ import annotations

import threading

import httpx


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
