"""The project's error hierarchy. Each class carries a stable code and an HTTP status; the API maps
them to `{"error": {"code": ..., "message": ...}}` bodies, never by matching message text."""

from __future__ import annotations

from typing import Any


class CineLibreError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigurationError(CineLibreError):
    """A setting is missing or invalid; the message names the setting to fix."""

    code = "configuration_error"
    status = 500


class ValidationError(CineLibreError):
    code = "validation_error"
    status = 422


class NotFoundError(CineLibreError):
    code = "not_found"
    status = 404


class ConflictError(CineLibreError):
    code = "conflict"
    status = 409


class AuthenticationError(CineLibreError):
    code = "unauthorized"
    status = 401


class PermissionDeniedError(CineLibreError):
    code = "forbidden"
    status = 403


class DatabaseUnavailableError(CineLibreError):
    """The database cannot be reached (network, pooler, timeout). Retryable by the caller."""

    code = "database_unavailable"
    status = 503
    retry_after_s: float | None = 1.0


class DatabaseError(CineLibreError):
    """The database answered with an error the project did not expect. Logged in full, shown generically."""

    code = "database_error"
    status = 500


class ModelUnavailableError(CineLibreError):
    """The embedding model layer is missing or corrupt."""

    code = "model_unavailable"
    status = 503


class UpstreamError(CineLibreError):
    """An external catalog source (TMDB, Google Books) failed after retries."""

    code = "upstream_error"
    status = 502


class UpstreamAuthError(UpstreamError):
    """An external source refused our credentials; retrying cannot help."""

    code = "upstream_unauthorized"
    status = 502


# -- accounts under attack (issue 10) -------------------------------------------------------------------
class RateLimitedError(CineLibreError):
    """Too many requests for one client or account; `retry_after_s` says when one more will pass."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after_s: float, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after_s = retry_after_s


class OverloadedError(CineLibreError):
    """This instance is busy with expensive work (password hashing); another try shortly will likely pass."""

    code = "overloaded"
    status = 503

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class EmailNotConfirmedError(CineLibreError):
    code = "email_not_confirmed"
    status = 403
