"""Map database errors to the project's own types by SQLSTATE (never by message text).

Both adapters use this: psycopg exposes the SQLSTATE as `diag.sqlstate`, PostgREST as the `code` field of
its error body. Messages raised by our own SQL functions (`raise exception using message = ...`) are ours
and safe to show; other database messages are logged, not shown.
"""

from __future__ import annotations

from cinelibre.errors import (
    CineLibreError,
    ConflictError,
    DatabaseError,
    DatabaseUnavailableError,
    NotFoundError,
    ValidationError,
)

_NOT_FOUND_MESSAGES = {
    "ratings_item_id_fkey": "item not found",
    "interactions_item_id_fkey": "item not found",
    "ratings_user_id_fkey": "user not found",
    "interactions_user_id_fkey": "user not found",
}
_CONFLICT_MESSAGES = {"users_email_key": "an account with this email already exists"}


def error_for_sqlstate(
    sqlstate: str | None, *, constraint: str | None = None, own_message: str | None = None
) -> CineLibreError:
    """The project error for a failed statement. `own_message` is the message of an exception our own SQL
    raised (SQLSTATE class P0 or 22023 from a function), shown as is."""
    code = sqlstate or ""
    details = {"constraint": constraint} if constraint else None
    if code == "23505":
        return ConflictError(_CONFLICT_MESSAGES.get(constraint or "", "already exists"), details=details)
    if code == "23503":
        return NotFoundError(_NOT_FOUND_MESSAGES.get(constraint or "", "referenced row not found"), details=details)
    if code == "P0002":
        return NotFoundError(own_message or "not found")
    if code in {"23514", "23502", "22P02", "22003", "22007", "22008", "22023", "22000", "2202E"}:
        if code == "22023" and own_message:
            return ValidationError(own_message)
        return ValidationError("a value is not acceptable to the database", details=details)
    if code.startswith("22"):
        # Any other data exception (bad encoding, NUL in text via PostgREST, a string too long) is the input's.
        return ValidationError("a value is not acceptable to the database", details=details)
    if code == "57014":
        return DatabaseUnavailableError("the database statement timed out")
    if code.startswith("08") or code in {"53300", "57P01", "57P02", "57P03", "40001", "40P01"}:
        return DatabaseUnavailableError("the database is unavailable; try again")
    return DatabaseError("the database could not complete the request")
