"""Every error answer has one shape, `{"error": {"code", "message"}, "detail": message}` (+ `details`
naming the fields of a validation error), and each error class maps to its status here and nowhere else.

`detail` repeats the message at the top level, where FastAPI's convention puts it and the original FlickPage
client reads it to tell people why a request failed."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cinelibre.errors import AuthenticationError, CineLibreError
from cinelibre.observability import logger

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
INTERNAL_MESSAGE = "the server could not complete the request"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return {"error": error, "detail": message}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _retry_after(exc: CineLibreError) -> dict[str, str] | None:
    # RFC 9110: whole seconds, rounded up so a client that waits exactly that long is let through.
    seconds = getattr(exc, "retry_after_s", None)
    return {"Retry-After": str(max(1, math.ceil(seconds)))} if seconds is not None else None


def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CineLibreError)
    if exc.status >= 500:
        # Unexpected database answers and configuration mistakes are logged in full, shown generically.
        logger.error(
            "request failed", extra={"code": exc.code, "error": exc.message, "path": request.url.path}
        )
        message = INTERNAL_MESSAGE if exc.status == 500 else exc.message
        return error_response(exc.status, exc.code, message, headers=_retry_after(exc))
    headers = _retry_after(exc)
    if isinstance(exc, AuthenticationError):
        # RFC 6750: a request that carried a token learns the token was refused.
        has_token = request.headers.get("authorization", "").lower().startswith("bearer ")
        headers = (headers or {}) | {"WWW-Authenticate": 'Bearer error="invalid_token"' if has_token else "Bearer"}
    field = exc.details.get("field")
    details = [{"field": field, "message": exc.message}] if field else None
    return error_response(exc.status, exc.code, exc.message, details=details, headers=headers)


def _field_name(location: tuple[Any, ...]) -> str:
    # ("body", "rating") -> "rating"; ("query", "limit") -> "limit"; ("body",) -> "body"
    parts = [str(part) for part in location[1:]] or [str(part) for part in location]
    return ".".join(parts)


def _request_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": _field_name(tuple(error["loc"])), "location": str(error["loc"][0]), "message": error["msg"]}
        for error in exc.errors()
    ]
    fields = ", ".join(dict.fromkeys(detail["field"] for detail in details))
    return error_response(422, "validation_error", f"invalid request: {fields}", details=details)


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def install_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CineLibreError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
