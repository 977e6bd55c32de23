"""One ASGI middleware around every app: a correlation id on each request (logged, and echoed in
`x-correlation-id`), the latency metric, one access log line, and the last line of defence that turns an
unexpected exception into the standard 500 body instead of a stack trace."""

from __future__ import annotations

import json
import re
import time
import uuid

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
