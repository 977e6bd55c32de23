"""Ingest fixtures: the recorded TMDB and Google Books responses served through respx (no request can leave
the process), a simulated clock that Lambda's remaining time, the retry sleeps and each upstream request
share, and settings pointing the sources at the mocked hosts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import SecretStr

from cinelibre.ingest import handler as ingest_handler
from cinelibre.ingest.handler import build_pipeline
from cinelibre.ingest.http import RetryPolicy
from cinelibre.ingest.pipeline import IngestPipeline
from cinelibre.ingest.replay import RecordedCatalog, make_server
from cinelibre.settings import Settings

FIXTURES = Path(__file__).parent / "fixtures"
TMDB_HOST = "api.themoviedb.org"
BOOKS_HOST = "www.googleapis.com"
# A v3-style key: it travels in the query string, so it is the one that could leak into logs and errors.
TMDB_TEST_KEY = "0123456789abcdef0123456789abcdef"
BOOKS_TEST_KEY = "AIzaSyTEST-books-key-never-logged"
TEST_SUBJECTS = ("fiction", "computers", "cats", "mathematicians", "poetry")
FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff_s=1.0, max_backoff_s=8.0, max_retry_after_s=120.0)


@dataclass
class SimulatedTime:
    """Time as the pipeline sees it: each upstream request costs `request_cost_s`, retry sleeps pass
    instantly but count. `left_s` is what Lambda would report as remaining."""

    left_s: float = 900.0
    request_cost_s: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    # Details requests run on several threads at once.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.left_s -= seconds

    def spend(self, seconds: float) -> None:
        with self._lock:
            self.left_s -= seconds


@dataclass
class SimulatedLambdaContext:
    clock: SimulatedTime
    function_name: str = "cinelibre-ingest"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:cinelibre-ingest"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name: str = "/aws/lambda/cinelibre-ingest"
    log_stream_name: str = "2026/11/27/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return int(self.clock.left_s * 1000)


@pytest.fixture
def catalog() -> RecordedCatalog:
    return RecordedCatalog(FIXTURES)


@pytest.fixture
def clock() -> SimulatedTime:
    return SimulatedTime()


Fault = Callable[[httpx.Request], httpx.Response | None]


@pytest.fixture
def faults() -> list[Fault]:
    """Answers tried before the recorded ones: the first that returns a response wins."""
    return []


@pytest.fixture
def upstream(
    catalog: RecordedCatalog, clock: SimulatedTime, faults: list[Fault]
) -> Iterator[respx.MockRouter]:
    """Both hosts answered from the catalog, unless a fault answers first."""

    def replay(request: httpx.Request) -> httpx.Response:
        clock.spend(clock.request_cost_s)
        for fault in faults:
            response = fault(request)
            if response is not None:
                return response
        return catalog.handle(request)

    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        router.route(host=TMDB_HOST, name="tmdb").mock(side_effect=replay)
        router.route(host=BOOKS_HOST, name="books").mock(side_effect=replay)
        yield router


@pytest.fixture
def ingest_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "tmdb_api_key": SecretStr(TMDB_TEST_KEY),
            "google_books_api_key": SecretStr(BOOKS_TEST_KEY),
            "ingest_languages": ("en", "hi"),
        }
    )


@pytest.fixture
def make_pipeline(db: Any, embedder: Any, clock: SimulatedTime) -> Callable[..., IngestPipeline]:
    def make(settings: Settings, **books_options: Any) -> IngestPipeline:
        fast = {"requests_per_second": 1000.0, "sleep": clock.sleep, "retry": FAST_RETRY}
        return build_pipeline(
            settings,
            db,
            embedder,
            tmdb_options=fast,
            books_options={**fast, "subjects": TEST_SUBJECTS, **books_options},
        )

    return make


@pytest.fixture
def simulated_waits(clock: SimulatedTime, monkeypatch: pytest.MonkeyPatch) -> SimulatedTime:
    """For tests of the real command and handler, which build their own pipeline: that same pipeline, waiting
    as `make_pipeline`'s does. Retry sleeps pass on the simulated clock, where they still count, instead of in
    real time (a run that keeps being refused would wait through every backoff, about 15 s), and the request
    rate is not held to the real TMDB's limit, since nothing here is TMDB (the recorded catalog took ~5 s)."""
    real_build = ingest_handler.build_pipeline
    waits = {"sleep": clock.sleep, "requests_per_second": 1000.0}

    def build(settings: Settings, database: Any, embedder: Any, **options: Any) -> IngestPipeline:
        tmdb_options = {**waits, **(options.pop("tmdb_options", None) or {})}
        books_options = {**waits, **(options.pop("books_options", None) or {})}
        return real_build(
            settings, database, embedder, tmdb_options=tmdb_options, books_options=books_options, **options
        )

    monkeypatch.setattr(ingest_handler, "build_pipeline", build)
    return clock


def discoverable_ids(catalog: RecordedCatalog, languages: list[str]) -> set[int]:
    """Every title of the languages, undated ones included: the plan's last slice per language has no date
    filter (issue 11; before it, undated titles were never listed)."""
    return {entry["id"] for entry in catalog.listing if entry["original_language"] in languages}


@contextmanager
def serving(catalog: RecordedCatalog) -> Iterator[str]:
    """The replay as a real HTTP server on a free local port; yields its base URL."""
    server = make_server(catalog, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
