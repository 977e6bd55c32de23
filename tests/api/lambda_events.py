"""Build real Lambda HTTP events (payload format 2.0) from the sample files and call handlers with them.

Two shapes: a Lambda Function URL event (the committed `events/*.json`, which is how the functions are
deployed) and an API Gateway HTTP API event (`tests/events/http-api-*.json`, routeKey `ANY /{proxy+}`).
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

REPO_ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = REPO_ROOT / "events"
TEST_EVENTS_DIR = REPO_ROOT / "tests" / "events"

Shape = Literal["function_url", "http_api"]
_TEMPLATES = {
    "function_url": EVENTS_DIR / "auth-health.json",
    "http_api": TEST_EVENTS_DIR / "http-api-search-semantic.json",
}


@cache
def _template(shape: Shape) -> dict[str, Any]:
    return json.loads(_TEMPLATES[shape].read_text())


def load_event(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def with_token(event: dict[str, Any], token: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["headers"]["authorization"] = f"Bearer {token}"
    return event


def http_event(
    method: str,
    path: str,
    *,
    query: dict[str, Any] | None = None,
    json_body: Any = None,
    raw_body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    token: str | None = None,
    shape: Shape = "function_url",
    base64_body: bool = False,
    source_ip: str | None = None,
) -> dict[str, Any]:
    event = copy.deepcopy(_template(shape))
    event_headers = {k: v for k, v in event["headers"].items() if k not in ("content-type", "content-length")}
    body: str | bytes | None = raw_body
    if json_body is not None:
        body = json.dumps(json_body)
        event_headers["content-type"] = "application/json"
    if token is not None:
        event_headers["authorization"] = f"Bearer {token}"
    event_headers.update({k.lower(): v for k, v in (headers or {}).items()})
    pairs = [
        (k, v)
        for k, values in (query or {}).items()
        for v in (values if isinstance(values, list) else [values])
    ]
    event["rawPath"] = path
    event["rawQueryString"] = urlencode(pairs)
    event.pop("queryStringParameters", None)
    if pairs:
        # Lambda joins repeated parameters with commas in this map; rawQueryString keeps them apart.
        joined: dict[str, str] = {}
        for key, value in pairs:
            joined[key] = f"{joined[key]},{value}" if key in joined else str(value)
        event["queryStringParameters"] = joined
    context = event["requestContext"]
    context["http"]["method"] = method
    context["http"]["path"] = path
    context["requestId"] = str(uuid.uuid4())
    if source_ip is not None:
        context["http"]["sourceIp"] = source_ip
    if shape == "http_api":
        event["pathParameters"] = {"proxy": path.lstrip("/")}
    event.pop("body", None)
    event["isBase64Encoded"] = False
    if body is not None:
        if base64_body:
            raw = body.encode() if isinstance(body, str) else body
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
        else:
            event["body"] = body if isinstance(body, str) else body.decode()
        if shape == "http_api":
            event_headers["content-length"] = str(len(event["body"]))
    event["headers"] = event_headers
    return event


@dataclass
class LambdaResponse:
    status: int
    headers: dict[str, str]
    text: str
    raw: dict[str, Any] = field(repr=False)

    def json(self) -> Any:
        return json.loads(self.text)


def invoke(handler: Any, context: Any, event: dict[str, Any]) -> LambdaResponse:
    result = handler(event, context)
    body = result.get("body", "")
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    return LambdaResponse(
        status=result["statusCode"],
        headers={k.lower(): v for k, v in (result.get("headers") or {}).items()},
        text=body,
        raw=result,
    )


@dataclass
class LambdaClient:
    """Calls one function's handler the way Lambda would, one event per request."""

    handler: Any
    context: Any
    shape: Shape = "function_url"

    def request(self, method: str, path: str, **options: Any) -> LambdaResponse:
        options.setdefault("shape", self.shape)
        return invoke(self.handler, self.context, http_event(method, path, **options))

    def get(self, path: str, **options: Any) -> LambdaResponse:
        return self.request("GET", path, **options)

    def post(self, path: str, **options: Any) -> LambdaResponse:
        return self.request("POST", path, **options)

    def delete(self, path: str, **options: Any) -> LambdaResponse:
        return self.request("DELETE", path, **options)
