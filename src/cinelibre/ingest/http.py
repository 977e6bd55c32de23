"""One HTTP client per catalog source: connection reuse, timeouts, a request-rate ceiling, and capped
exponential backoff with jitter that honours `Retry-After`.

The rate ceiling is pyrate-limiter's httpx transport; retries are tenacity's. What is ours: which answers
are worth retrying, the wait that prefers the server's `Retry-After`, the stop that never sleeps past the
caller's deadline, and error messages that never carry a credential (query-string keys are redacted).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pyrate_limiter import Duration, Limiter, Rate
from pyrate_limiter.extras.httpx_limiter import RateLimiterTransport
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base

from cinelibre.errors import CineLibreError, UpstreamAuthError, UpstreamError

# httpx logs every request line at INFO, query string included; a v3 TMDB key or a Google key travels
# there, so those lines must never reach the function's log stream.
logging.getLogger("httpx").setLevel(logging.WARNING)

SECRET_QUERY_PARAMETERS = frozenset({"api_key", "key"})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A host that does not accept a connection within 3 s is taken as down for this attempt; with
# `RetryPolicy.max_connect_attempts` tries and their backoff, an unreachable host is given up on within ~12 s.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# No connection at all (refused, unresolvable, connect timeout): the host is down, not one answer flaky.
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)


class UpstreamRateLimitedError(UpstreamError):
    """The source keeps refusing for rate or quota reasons; stop this source and resume on a later run."""

    code = "upstream_rate_limited"
    status = 503


class UpstreamUnreachableError(UpstreamError):
    """No connection to the source could be made after a few quick tries; stop this source for this run."""

    code = "upstream_unreachable"
    status = 503


class UpstreamNotFoundError(UpstreamError):
    """The source says the item does not exist (any more); skip it."""

    code = "upstream_not_found"
    status = 502


class RetryableUpstreamAnswer(Exception):
    """An answer worth another try: 429, 5xx, or a 200 whose body is not the JSON we asked for. A source's
    error refiner may return one (status 429 for "rate limited") to have a source-specific answer retried."""

    def __init__(self, description: str, *, status: int | None, retry_after_s: float | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after_s = retry_after_s


def redact_url(url: httpx.URL | str) -> str:
    """The URL with credential query parameters replaced, safe for logs and exception text."""
    url = httpx.URL(str(url))
    if not url.query:
        return str(url)
    params = [
        (name, "REDACTED" if name.lower() in SECRET_QUERY_PARAMETERS else value)
        for name, value in url.params.multi_items()
    ]
    return str(url.copy_with(params=params))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class _WaitRetryAfterOrBackoff:
    """tenacity wait: the server's `Retry-After` if it sent one, else capped exponential backoff, jittered."""

    def __init__(self, *, initial_s: float, max_s: float) -> None:
        self._backoff = wait_exponential_jitter(initial=initial_s, max=max_s, jitter=initial_s)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, RetryableUpstreamAnswer) and error.retry_after_s is not None:
            return error.retry_after_s
        return self._backoff(retry_state)


class _StopConnectRetries(stop_base):
    """tenacity stop: a host that refuses or ignores connections gets few tries, so a dead host costs
    seconds, not the full retry budget meant for answers that may change (429, 503)."""

    def __init__(self, max_connect_attempts: int) -> None:
        self._max = max_connect_attempts

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return isinstance(error, CONNECT_ERRORS) and retry_state.attempt_number >= self._max


class _StopBeforeDeadline(stop_base):
    """tenacity stop: give up rather than sleep into the time the caller keeps for saving its work."""

    def __init__(self, current_clock: Callable[[], Callable[[], float] | None]) -> None:
        self._current_clock = current_clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        seconds_left = self._current_clock()
        if seconds_left is None:
            return False
        return retry_state.upcoming_sleep >= seconds_left()


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    # Tries at opening a connection before the host counts as unreachable (see DEFAULT_TIMEOUT).
    max_connect_attempts: int = 3
    initial_backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    # A longer Retry-After (Google's daily quota says "tomorrow") means: stop now, resume on a later run.
    max_retry_after_s: float = 120.0


ErrorRefiner = Callable[[httpx.Response, Any], CineLibreError | RetryableUpstreamAnswer | None]


class SourceClient:
    """GET-JSON client for one source. Raises `UpstreamAuthError` (credentials refused: never retried),
    `UpstreamRateLimitedError` (still limited after retries), `UpstreamNotFoundError` (404) or
    `UpstreamError` (anything else after retries), each with a redacted URL in its message."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        requests_per_second: float,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        seconds_left: Callable[[], float] | None = None,
        refine_error: ErrorRefiner | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.source = source
        self.retry = retry or RetryPolicy()
        self.requests_sent = 0
        self._seconds_left = seconds_left
        self._refine_error = refine_error
        self._sleep = sleep
        self._limiter = Limiter(_rate_for(requests_per_second), buffer_ms=0)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            params=dict(params or {}),
            headers={"Accept": "application/json", **dict(headers or {})},
            timeout=timeout,
            transport=RateLimiterTransport(self._limiter),
            follow_redirects=False,
        )
        # One retry controller for the client's life; the deadline is read afresh at each decision.
        self._retrying = Retrying(
            retry=retry_if_exception_type((RetryableUpstreamAnswer, httpx.TransportError)),
            wait=_WaitRetryAfterOrBackoff(
                initial_s=self.retry.initial_backoff_s, max_s=self.retry.max_backoff_s
            ),
            stop=stop_after_attempt(self.retry.max_attempts)
            | _StopConnectRetries(self.retry.max_connect_attempts)
            | _StopBeforeDeadline(lambda: self._seconds_left),
            sleep=self._sleep,
            reraise=True,
        )

    def set_deadline(self, seconds_left: Callable[[], float] | None) -> None:
        self._seconds_left = seconds_left

    def close(self) -> None:
        self._client.close()
        self._limiter.close()

    def __enter__(self) -> SourceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        request = self._client.build_request("GET", path.lstrip("/"), params=_clean_params(params))
        safe_url = redact_url(request.url)
        try:
            return self._retrying(self._attempt, request, safe_url)
        except RetryableUpstreamAnswer as exc:
            if exc.status == 429:
                raise UpstreamRateLimitedError(
                    f"{self.source} kept answering 429 Too Many Requests for {safe_url}",
                    details={"source": self.source, "status": exc.status},
                ) from None
            raise UpstreamError(
                f"{self.source}: {exc.description} for {safe_url} (gave up after retries)",
                details={"source": self.source, "status": exc.status},
            ) from None
        except CONNECT_ERRORS as exc:
            raise UpstreamUnreachableError(
                f"{self.source}: cannot connect ({type(exc).__name__}) to {safe_url}; gave up after "
                f"{self.retry.max_connect_attempts} tries",
                details={"source": self.source, "status": None},
            ) from None
        except httpx.TransportError as exc:
            raise UpstreamError(
                f"{self.source}: {type(exc).__name__} for {safe_url} (gave up after retries)",
                details={"source": self.source, "status": None},
            ) from None

    def _attempt(self, request: httpx.Request, safe_url: str) -> Any:
        self.requests_sent += 1
        response = self._client.send(request)
        try:
            return self._interpret(response, safe_url)
        finally:
            response.close()

    def _interpret(self, response: httpx.Response, safe_url: str) -> Any:
        status = response.status_code
        body = _json_or_none(response)
        if status == 200:
            if body is None:
                raise RetryableUpstreamAnswer("answered 200 with a body that is not JSON", status=status)
            return body
        refined = self._refine_error(response, body) if self._refine_error else None
        if refined is not None:
            raise refined
        if status == 401:
            raise UpstreamAuthError(
                f"{self.source} refused the API key (401) for {safe_url}; check the key setting",
                details={"source": self.source, "status": status},
            )
        if status == 404:
            raise UpstreamNotFoundError(
                f"{self.source} has no such resource: {safe_url}",
                details={"source": self.source, "status": status},
            )
        if status in RETRYABLE_STATUSES:
            retry_after = (
                parse_retry_after(response.headers.get("Retry-After"))
                if status in RETRY_AFTER_STATUSES
                else None
            )
            if retry_after is not None and retry_after > self.retry.max_retry_after_s:
                raise UpstreamRateLimitedError(
                    f"{self.source} asks to wait {retry_after:.0f} s (HTTP {status}) for {safe_url}; "
                    "resuming on a later run",
                    details={"source": self.source, "status": status, "retry_after_s": retry_after},
                )
            raise RetryableUpstreamAnswer(f"answered HTTP {status}", status=status, retry_after_s=retry_after)
        raise UpstreamError(
            f"{self.source} answered HTTP {status} for {safe_url}",
            details={"source": self.source, "status": status},
        )


def _rate_for(requests_per_second: float) -> Rate:
    if requests_per_second <= 0:
        raise ValueError("requests_per_second must be positive")
    # Whole requests per window: 20/s → 20 per 1 s; 0.5/s → 1 per 2 s.
    per_window = max(1, math.ceil(requests_per_second))
    window_ms = round(per_window / requests_per_second * Duration.SECOND)
    return Rate(per_window, window_ms)


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, str]:
    return {name: str(value) for name, value in (params or {}).items() if value is not None}


def _json_or_none(response: httpx.Response) -> Any:
    try:
        response.read()
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, httpx.StreamError):
        return None
