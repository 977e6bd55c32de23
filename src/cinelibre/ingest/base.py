"""What the pipeline needs from a catalog source, and the page it receives from one."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cinelibre.db.port import Database, Row, SourceName
from cinelibre.errors import UpstreamError

Checkpoint = dict[str, Any]


class IncompleteRecordError(ValueError):
    """A source record lacks a field the catalog cannot do without (an id, a title)."""


@dataclass
class SourcePage:
    """One page of normalised rows. `position` refetches this very page; `next_position` is where the crawl
    goes on after it (None once the whole plan is done). A page that could not be fetched carries `error`
    and no rows: the pipeline records it and moves on."""

    label: str
    position: Checkpoint
    next_position: Checkpoint | None
    rows: list[Row] = field(default_factory=list)
    incomplete: int = 0
    error: UpstreamError | None = None
    # Rows that are already whole (an item fetched with its details): the pipeline need not complete them.
    completed: bool = False


class CatalogSource(Protocol):
    name: SourceName
    key_field: str
    # True when listing rows lack what details add (TMDB credits), so new or changed rows are completed.
    needs_completion: bool

    def pages(self, checkpoint: Checkpoint | None) -> Generator[SourcePage]:
        """Pages from `checkpoint` (None or an unknown position: the start of the plan) to the end."""
        ...

    def page_at(self, position: Checkpoint) -> SourcePage:
        """The page at `position` alone: a page an earlier run lost, fetched again before the plan goes on."""
        ...

    def item_page(self, position: Checkpoint) -> SourcePage:
        """The item an earlier run lost ({"id": ...}), fetched whole, as a page of one row (`completed`)."""
        ...

    def complete(self, row: Row) -> Row:
        """The full row for a listing row (TMDB: details with credits). Raises UpstreamError subclasses."""
        ...

    def identity_keys(self, row: Row) -> Sequence[str]:
        """Keys that make two rows the same work within a run (volume id, ISBNs)."""
        ...

    def embedding_text(self, row: Row) -> str: ...

    def upsert(self, database: Database, rows: Sequence[Row]) -> dict[str, int]: ...

    def refresh(self, database: Database, rows: Sequence[Row]) -> dict[str, int]:
        """Write what may have changed in rows whose embedding text did not (vote figures, ratings)."""
        ...

    def set_deadline(self, seconds_left: Any) -> None: ...

    def close(self) -> None: ...
