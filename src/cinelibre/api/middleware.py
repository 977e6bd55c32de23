"""The ASGI middleware around every app. `RequestContextMiddleware`: a correlation id on each request (logged,
and echoed in `x-correlation-id`), the latency metric, one access log line, and the last line of defence that
turns an unexpected exception into the standard 500 body instead of a stack trace. `InputBoundaryMiddleware`:
the body size cap and the refusal of control characters."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from aws_lambda_powertools.metrics import MetricUnit
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cinelibre.api.errors import INTERNAL_MESSAGE, error_body
from cinelibre.observability import logger, metrics

CORRELATION_HEADER = "x-correlation-id"
# A client-chosen id is echoed into logs and headers, so only a short, plain token is accepted.
_ACCEPTABLE_CORRELATION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def correlation_id_for(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == CORRELATION_HEADER.encode():
            candidate = value.decode("latin-1")
            if _ACCEPTABLE_CORRELATION_ID.fullmatch(candidate):
                return candidate
            break
    event = scope.get("aws.event") or {}
    request_id = (event.get("requestContext") or {}).get("requestId")
    if isinstance(request_id, str) and request_id:
        return request_id
    return str(uuid.uuid4())


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id = correlation_id_for(scope)
        logger.set_correlation_id(correlation_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_correlation_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                MutableHeaders(scope=message).append(CORRELATION_HEADER, correlation_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_correlation_id)
        except Exception:
            logger.exception("unhandled error", extra={"method": scope["method"], "path": scope["path"]})
            if not response_started:
                body = json.dumps(error_body("internal_error", INTERNAL_MESSAGE)).encode()
                await send_with_correlation_id(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            latency_ms = (time.perf_counter() - started) * 1000
            metrics.add_metric(name="RequestLatency", unit=MetricUnit.Milliseconds, value=latency_ms)
            logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "latency_ms": round(latency_ms, 2),
                },
            )


# -- the input boundary (issue 10) -----------------------------------------------------------------------
# NUL and other control characters (and lone surrogates, which no encoder can write) are refused before any
# route sees them: PostgreSQL cannot store NUL in text, and nothing legitimate needs the rest. JSON strings
# may keep tab, newline and carriage return; query parameters may not.
_FORBIDDEN_IN_JSON = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN_IN_QUERY = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
CONTROL_CHARACTER_MESSAGE = "must not contain control characters (such as NUL)"
_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def _json_field_with_control_character(value: Any, path: tuple[str, ...] = ()) -> str | None:
    if isinstance(value, str):
        return ".".join(path) or "body" if _FORBIDDEN_IN_JSON.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _FORBIDDEN_IN_JSON.search(key):
                return ".".join((*path, _FORBIDDEN_IN_JSON.sub("?", key)))
            found = _json_field_with_control_character(item, (*path, key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _json_field_with_control_character(item, (*path, str(index)))
            if found:
                return found
    return None


def _query_field_with_control_character(query_string: bytes) -> str | None:
    if not query_string:
        return None
    pairs = parse_qsl(
        query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8", errors="surrogateescape"
    )
    for name, value in pairs:
        if _FORBIDDEN_IN_QUERY.search(name):
            return _FORBIDDEN_IN_QUERY.sub("?", name)
        if _FORBIDDEN_IN_QUERY.search(value):
            return name
    return None


async def _send_error(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class InputBoundaryMiddleware:
    """Bounded bodies (413 past `max_body_bytes`) and no control characters in query parameters or JSON
    string values (422 naming the field), checked once here for every route of every function."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = _query_field_with_control_character(scope.get("query_string", b""))
        location = "query"
        if field is None and _FORBIDDEN_IN_QUERY.search(scope.get("path", "")):
            field, location = "path", "path"
        if field is not None:
            await self._refuse_control_character(send, field, location)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._refuse_size(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._refuse_size(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                document = json.loads(body)
            except (ValueError, UnicodeDecodeError):
                document = None  # not JSON: the route's own parsing answers (400 or 422)
            field = _json_field_with_control_character(document) if document is not None else None
            if field is not None:
                await self._refuse_control_character(send, field, "body")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse_control_character(self, send: Send, field: str, location: str) -> None:
        details = [{"field": field, "location": location, "message": CONTROL_CHARACTER_MESSAGE}]
        await _send_error(send, 422, error_body("validation_error", f"invalid request: {field}", details))

    async def _refuse_size(self, send: Send) -> None:
        message = f"the request body is larger than {self.max_body_bytes} bytes"
        await _send_error(send, 413, error_body("payload_too_large", message))
