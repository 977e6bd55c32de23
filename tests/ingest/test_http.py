"""The per-source HTTP client: which answers are retried, how long it waits, what it raises, and that no
credential ever reaches an exception message."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx

from cinelibre.errors import UpstreamAuthError, UpstreamError
from cinelibre.ingest.http import (
    RetryPolicy,
    SourceClient,
    UpstreamNotFoundError,
    UpstreamRateLimitedError,
    parse_retry_after,
    redact_url,
)
from cinelibre.ingest.tmdb import auth_for

from .conftest import FIXTURES, TMDB_TEST_KEY

BASE = "https://api.themoviedb.org/3"
URL = f"{BASE}/discover/movie"
POLICY = RetryPolicy(max_attempts=4, initial_backoff_s=1.0, max_backoff_s=8.0, max_retry_after_s=60.0)
PAGE = (FIXTURES / "tmdb" / "discover_movie_language-en_page1_18months.json").read_bytes()
UNAUTHORIZED = (FIXTURES / "tmdb" / "error_401_invalid_api_key_search_movie_ahmetabdi.json").read_bytes()


def make_client(sleeps: list[float], *, seconds_left=None, rate: float = 1000.0) -> SourceClient:
    return SourceClient(
        source="tmdb",
        base_url=BASE,
        requests_per_second=rate,
        params={"api_key": TMDB_TEST_KEY},
        retry=POLICY,
        sleep=sleeps.append,
        seconds_left=seconds_left,
    )


def ok() -> httpx.Response:
    return httpx.Response(200, content=PAGE, headers={"Content-Type": "application/json;charset=utf-8"})


@respx.mock
def test_429_waits_exactly_what_retry_after_says_then_succeeds():
    route = respx.get(URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}, json={}), ok()]
    )
    sleeps: list[float] = []
    with make_client(sleeps) as client:
        body = client.get_json("discover/movie", {"page": 1})
    assert body["results"][0]["id"] == 436270
    assert sleeps == [7.0]
    assert route.call_count == 2


@respx.mock
def test_503_retry_after_as_an_http_date_is_honoured():
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    respx.get(URL).mock(side_effect=[httpx.Response(503, headers={"Retry-After": when}), ok()])
    sleeps: list[float] = []
    with make_client(sleeps) as client:
        client.get_json("discover/movie")
    assert len(sleeps) == 1 and 17.0 <= sleeps[0] <= 20.0


@respx.mock
def test_5xx_backs_off_exponentially_with_jitter_and_a_cap():
    respx.get(URL).mock(side_effect=[httpx.Response(500), httpx.Response(502), httpx.Response(504), ok()])
    sleeps: list[float] = []
    with make_client(sleeps) as client:
        client.get_json("discover/movie")
    # initial 1 s doubling, plus up to 1 s of jitter, never above the 8 s cap
    assert 1.0 <= sleeps[0] <= 2.0
    assert 2.0 <= sleeps[1] <= 3.0
    assert 4.0 <= sleeps[2] <= 5.0
    assert all(s <= POLICY.max_backoff_s for s in sleeps)


@respx.mock
def test_persistent_5xx_gives_up_after_the_attempt_budget():
    route = respx.get(URL).mock(return_value=httpx.Response(500))
    with make_client([]) as client, pytest.raises(UpstreamError) as raised:
        client.get_json("discover/movie")
    assert route.call_count == POLICY.max_attempts
    assert type(raised.value) is UpstreamError
    assert "HTTP 500" in raised.value.message


@respx.mock
def test_timeouts_are_retried_and_then_reported():
    respx.get(URL).mock(side_effect=[httpx.ReadTimeout("slow"), ok()])
    with make_client([]) as client:
        assert client.get_json("discover/movie")["page"] == 1
    respx.get(URL).mock(side_effect=httpx.ConnectTimeout("down"))
    with make_client([]) as client, pytest.raises(UpstreamError, match="ConnectTimeout"):
        client.get_json("discover/movie")


@respx.mock
def test_malformed_json_is_retried_and_then_reported():
    truncated = PAGE[: len(PAGE) // 2]
    respx.get(URL).mock(side_effect=[httpx.Response(200, content=truncated), ok()])
    with make_client([]) as client:
        assert len(client.get_json("discover/movie")["results"]) == 20
    respx.get(URL).mock(return_value=httpx.Response(200, content=b"<html>gateway</html>"))
    with make_client([]) as client, pytest.raises(UpstreamError, match="not JSON"):
        client.get_json("discover/movie")


@respx.mock
def test_401_is_an_auth_error_at_once_never_retried():
    route = respx.get(URL).mock(return_value=httpx.Response(401, content=UNAUTHORIZED))
    sleeps: list[float] = []
    with make_client(sleeps) as client, pytest.raises(UpstreamAuthError, match="refused the API key"):
        client.get_json("discover/movie")
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_404_is_not_found_without_retries():
    route = respx.get(f"{BASE}/movie/1").mock(return_value=httpx.Response(404, json={"status_code": 34}))
    with make_client([]) as client, pytest.raises(UpstreamNotFoundError):
        client.get_json("movie/1")
    assert route.call_count == 1


@respx.mock
def test_429_that_never_clears_becomes_rate_limited():
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    with make_client(sleeps) as client, pytest.raises(UpstreamRateLimitedError):
        client.get_json("discover/movie")
    assert route.call_count == POLICY.max_attempts
    assert sleeps == [2.0] * (POLICY.max_attempts - 1)


@respx.mock
def test_retry_after_beyond_the_cap_stops_at_once_for_a_later_run():
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "86400"}))
    sleeps: list[float] = []
    with make_client(sleeps) as client, pytest.raises(UpstreamRateLimitedError, match="later run"):
        client.get_json("discover/movie")
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_never_sleeps_past_the_deadline():
    route = respx.get(URL).mock(return_value=httpx.Response(429, headers={"Retry-After": "30"}))
    sleeps: list[float] = []
    with make_client(sleeps, seconds_left=lambda: 10.0) as client, pytest.raises(UpstreamRateLimitedError):
        client.get_json("discover/movie")
    assert route.call_count == 1 and sleeps == []


@respx.mock
def test_no_error_message_carries_the_key():
    respx.get(URL).mock(return_value=httpx.Response(500))
    respx.get(f"{BASE}/movie/2").mock(
        side_effect=httpx.ConnectError(f"failed for {URL}?api_key={TMDB_TEST_KEY}")
    )
    respx.get(f"{BASE}/movie/3").mock(return_value=httpx.Response(401, content=UNAUTHORIZED))
    with make_client([]) as client:
        for path in ("discover/movie", "movie/2", "movie/3"):
            with pytest.raises(UpstreamError) as raised:
                client.get_json(path)
            error = raised.value
            assert TMDB_TEST_KEY not in f"{error} {error.message} {error.details}"
            # Nor any exception chained to it, which a traceback in the log would print.
            assert error.__cause__ is None
            assert error.__context__ is None or error.__suppress_context__


def test_redact_url_hides_every_credential_parameter():
    url = f"{BASE}/discover/movie?page=2&api_key={TMDB_TEST_KEY}&key=AIzaSECRET"
    redacted = redact_url(url)
    assert TMDB_TEST_KEY not in redacted and "AIzaSECRET" not in redacted
    assert "page=2" in redacted and redacted.count("REDACTED") == 2


def test_parse_retry_after_forms():
    now = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Fri, 27 Nov 2026 03:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Fri, 27 Nov 2026 02:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_tmdb_v4_token_goes_as_bearer_and_v3_key_as_query_parameter():
    v4 = "eyJhbGciOiJIUzI1NiJ9." + "x" * 150 + ".signature"
    assert auth_for(v4) == ({}, {"Authorization": f"Bearer {v4}"})
    assert auth_for(TMDB_TEST_KEY) == ({"api_key": TMDB_TEST_KEY}, {})


@respx.mock
def test_request_rate_ceiling_holds():
    sent: list[float] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(time.monotonic())
        return ok()

    respx.get(URL).mock(side_effect=record)
    with make_client([], rate=20.0) as client:
        for _ in range(30):
            client.get_json("discover/movie")
    # However slow the machine, requests only spread out: no 0.95 s window may hold more than 20.
    busiest = max(sum(1 for t in sent if start <= t < start + 0.95) for start in sent)
    assert busiest <= 20
