"""What the pipeline needs from a catalog source, and the page it receives from one."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from cinelibre.db.port import Row, SourceName
from cinelibre.errors import UpstreamError

Checkpoint = dict[str, Any]
ItemKind = Literal["movie", "book"]


@dataclass(frozen=True)
class KindKeys:
    """Where rows of one kind are keyed: the row field holding the external id, and the catalog source under
    which their content hashes are stored."""

    key_field: str
    stored_as: SourceName


KIND_KEYS: dict[ItemKind, KindKeys] = {
    "movie": KindKeys("tmdb_id", "tmdb"),
    "book": KindKeys("google_id", "google_books"),
}


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
    # Why those entries were refused (pydantic's reason for each), for the run's summary and log.
    refused_because: list[str] = field(default_factory=list)
    error: UpstreamError | None = None
    # Rows that are already whole (an item fetched with its details): the pipeline need not complete them.
    completed: bool = False
    # What the rows are, when a source serves more than one kind (the demo catalog); else the source's kind.
    kind: ItemKind | None = None


class CatalogSource(Protocol):
    """Fetches and parses; the pipeline decides what to embed and owns every database write."""

    @property
    def name(self) -> str: ...

    item_kind: ItemKind
    # Rows from this source are the bundled demo catalog (marked so, and never mixed up with a real crawl).
    is_demo: bool
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

    def set_deadline(self, seconds_left: Any) -> None: ...

    def close(self) -> None: ...
