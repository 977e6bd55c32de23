"""Response and request bodies shared by the functions. Response models also guarantee that nothing the
database returns beyond these fields (an embedding, a password hash) can reach a client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

ItemTypeName = Literal["movie", "book"]
ItemTypeQuery = Literal["movie", "book", "all"]

MAX_PAGE_SIZE = 100
MAX_OFFSET = 10_000


class ErrorDetail(BaseModel):
    field: str
    location: str | None = None
    message: str


class ErrorObject(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorObject
    detail: str = Field(
        description="The same message as error.message, at the top level (FastAPI's convention). "
        "Kept for the original FlickPage client."
    )


# Documented on every route, so the OpenAPI schema shows the one error shape.
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in (
        (401, "Missing, expired or invalid bearer token"),
        (404, "Not found"),
        (422, "Invalid input; `details` names the fields"),
        (503, "Database or model unavailable; retry"),
    )
}


class Page[T](BaseModel):
    items: list[T]
    total: int = Field(description="How many items match, across all pages")
    limit: int
    offset: int


def page(fetch: Callable[[int, int], tuple[list[Any], int]], limit: int, offset: int) -> dict[str, Any]:
    """One page and the total. The SQL counts matching rows alongside the page, so a page past the end
    carries no count; one row from the start supplies it."""
    rows, total = fetch(limit, offset)
    if not rows and offset > 0:
        _, total = fetch(1, 0)
    return {"items": rows, "total": total, "limit": limit, "offset": offset}
