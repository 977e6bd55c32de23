"""The app factory every function shares: exception handlers, CORS, correlation ids and metrics, the
routers of the function, and `GET /` reporting name, version and readiness."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware import Middleware
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from cinelibre import __version__
from cinelibre.api.errors import error_body, install_exception_handlers
from cinelibre.api.middleware import CORRELATION_HEADER, RequestContextMiddleware
from cinelibre.auth.tokens import TokenService
from cinelibre.errors import CineLibreError
from cinelibre.settings import Settings

ReadinessCheck = Callable[[], Mapping[str, Any]]


def _cors(settings: Settings) -> list[Middleware]:
    if not settings.cors_origins:
        return []  # no allowlist: browsers on other origins are refused
    wildcard = "*" in settings.cors_origins
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            # Credentials are never allowed together with "*" (the settings refuse "*" in production).
            allow_credentials=not wildcard,
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Correlation-Id"],
            expose_headers=[CORRELATION_HEADER],
            max_age=600,
        )
    ]


def build_app(
    *, name: str, settings: Settings, routers: Sequence[APIRouter], needs_tokens: bool, description: str
) -> FastAPI:
    """An app with the shared behaviour. With `needs_tokens`, the JWT secret is checked now, so a function
    without a usable secret fails at start-up (outside development) instead of on its first request."""
    app = FastAPI(
        title=name,
        version=__version__,
        description=description,
        middleware=[Middleware(RequestContextMiddleware), *_cors(settings)],
    )
    app.state.settings = settings
    app.state.service_name = name
    if needs_tokens:
        app.state.tokens = TokenService.from_settings(settings)
    install_exception_handlers(app)
    for router in routers:
        app.include_router(router)
    return app


def readiness_response(name: str, checks: Mapping[str, ReadinessCheck]) -> JSONResponse:
    """200 with each dependency's state when all are ready; 503 with the same body plus the standard
    error object when one is not, so a probe and a person both read it."""
    results: dict[str, Any] = {}
    for dependency, check in checks.items():
        try:
            results[dependency] = {"ok": True, **check()}
        except CineLibreError as exc:
            results[dependency] = {"ok": False, "error": exc.code, "message": exc.message}
    ready = all(result.get("ok") for result in results.values())
    body: dict[str, Any] = {"name": name, "version": __version__, "ready": ready, "checks": results}
    if not ready:
        failing = ", ".join(dependency for dependency, result in results.items() if not result.get("ok"))
        body |= error_body("not_ready", f"not ready: {failing}")
    return JSONResponse(body, status_code=200 if ready else 503)
