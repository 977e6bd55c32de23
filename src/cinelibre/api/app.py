"""The app factory every function shares: exception handlers, CORS, correlation ids and metrics, the
routers of the function, and `GET /` reporting name, version and readiness."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware import Middleware
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from cinelibre import __version__, snapstart
from cinelibre.api.errors import error_body, install_exception_handlers
from cinelibre.api.middleware import CORRELATION_HEADER, InputBoundaryMiddleware, RequestContextMiddleware
from cinelibre.auth.tokens import TokenService
from cinelibre.errors import CineLibreError
from cinelibre.settings import Settings

ReadinessCheck = Callable[[], Mapping[str, Any]]


def _cors(settings: Settings) -> list[Middleware]:
    if not settings.cors_origins:
        return []  # no allowlist: browsers on other origins are refused
    wildcard = "*" in settings.cors_origins or "null" in settings.cors_origins
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            # Credentials never go with "*" or "null" (sandboxed frames and file: pages send "null"); the
            # settings refuse both in production.
            allow_credentials=not wildcard,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Correlation-Id"],
            expose_headers=[CORRELATION_HEADER],
            max_age=600,
        )
    ]


_ERROR_SCHEMA = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_BOUNDARY_RESPONSES = {
    "400": "The body could not be decoded (not UTF-8)",
    "413": "The body is larger than the configured cap (1 MB by default)",
}
_RATE_LIMITED_PREFIXES = ("/auth/", "/search/")
# The input boundary's rule, stated in the schema so that generated clients and fuzzers know it.
_NO_CONTROL_IN_QUERY = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_NO_CONTROL_IN_JSON = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


def _state_text_rule(schema: dict[str, Any], pattern: str) -> None:
    """Add `pattern` to a string schema (or the string branch of an optional one) that has none."""
    for branch in [schema, *schema.get("anyOf", [])]:
        if branch.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(branch):
            branch["pattern"] = pattern


_RETRY_AFTER_HEADER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}}


def _document_boundary(app: FastAPI) -> None:
    """Add to the OpenAPI schema the answers the shared layers give on every route: 400 and 413 where a body
    is read, 503 (database or busy, with Retry-After) everywhere, 429 where rate limits apply."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        components = schema.get("components", {}).get("schemas", {})
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    if parameter.get("in") == "query":
                        _state_text_rule(parameter.get("schema", {}), _NO_CONTROL_IN_QUERY)
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
                reference = body.get("schema", {}).get("$ref", "")
                for branch in [body.get("schema", {}), *body.get("schema", {}).get("anyOf", [])]:
                    reference = branch.get("$ref", reference)
                model = components.get(reference.rsplit("/", 1)[-1], {}) if reference else {}
                for property_schema in model.get("properties", {}).values():
                    _state_text_rule(property_schema, _NO_CONTROL_IN_JSON)
                responses = operation.setdefault("responses", {})
                operation_own = set(responses)
                extra = dict(_BOUNDARY_RESPONSES) if "requestBody" in operation else {}
                extra["503"] = "The database is unavailable or the instance is busy; retry after `Retry-After`"
                if path.startswith(_RATE_LIMITED_PREFIXES):
                    extra["429"] = "Too many requests; retry after `Retry-After` seconds"
                for status, description in extra.items():
                    responses.setdefault(status, {"description": description, "content": _ERROR_SCHEMA})
                # Every 429 and the shared 503 (not, say, a readiness 503 a route declares itself) carry it.
                for status in ("429", "503"):
                    if status in responses and (status == "429" or status not in operation_own):
                        responses[status].setdefault("headers", {"Retry-After": _RETRY_AFTER_HEADER})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_app(
    *, name: str, settings: Settings, routers: Sequence[APIRouter], needs_tokens: bool, description: str
) -> FastAPI:
    """An app with the shared behaviour. With `needs_tokens`, the JWT secret is checked now, so a function
    without a usable secret fails at start-up (outside development) instead of on its first request; while a
    SnapStart snapshot is being prepared no secret is fetched, so the token service is built after the restore
    (cinelibre.snapstart), before any request."""
    docs = settings.docs_enabled
    app = FastAPI(
        title=name,
        version=__version__,
        description=description,
        # Off in production unless CINELIBRE_API_DOCS says otherwise: the schema is a map for attackers too.
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        middleware=[
            Middleware(RequestContextMiddleware),
            *_cors(settings),
            Middleware(InputBoundaryMiddleware, max_body_bytes=settings.max_body_bytes),
        ],
    )
    app.state.settings = settings
    app.state.service_name = name
    if needs_tokens:
        # -- SnapStart (issue 14): `None` marks "build after the restore"; the secret must not be in the snapshot.
        app.state.tokens = None if snapstart.taking_snapshot() else TokenService.from_settings(settings)
    install_exception_handlers(app)
    for router in routers:
        app.include_router(router)
    _document_boundary(app)
    return app


_FILESYSTEM_PATH = re.compile(r"(?:/[\w.@+-]+){2,}/?")


def _without_paths(value: Any) -> Any:
    return _FILESYSTEM_PATH.sub("<path>", value) if isinstance(value, str) else value


def readiness_response(name: str, checks: Mapping[str, ReadinessCheck]) -> JSONResponse:
    """200 with each dependency's state when all are ready; 503 with the same body plus the standard
    error object when one is not, so a probe and a person both read it."""
    results: dict[str, Any] = {}
    for dependency, check in checks.items():
        try:
            # Filesystem paths tell an attacker about the host; the health answer never carries them.
            report = {key: _without_paths(value) for key, value in check().items() if not key.endswith("path")}
            results[dependency] = {"ok": True, **report}
        except CineLibreError as exc:
            results[dependency] = {"ok": False, "error": exc.code, "message": _without_paths(exc.message)}
    ready = all(result.get("ok") for result in results.values())
    body: dict[str, Any] = {"name": name, "version": __version__, "ready": ready, "checks": results}
    if not ready:
        failing = ", ".join(dependency for dependency, result in results.items() if not result.get("ok"))
        body |= error_body("not_ready", f"not ready: {failing}")
    return JSONResponse(body, status_code=200 if ready else 503)
