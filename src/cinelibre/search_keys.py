"""Bringing deployed rows' search keys up to date (issue 12): `cinelibre search-keys --backfill`.

The keys a title or a name is matched by (title_keys, people_keys; cinelibre.text) are computed in Python at
ingest, so a row ingested before the keys existed, or before a change to how they are made, keeps none or
old ones until it is upserted again. Each row records the version of the keys it holds
(`search_keys_version`); the backfill reads the rows whose version is missing or older than
`SEARCH_KEYS_VERSION` a bounded page at a time, keys them as the ingest would, and writes them through the
ingest's own RPC (`set_title_keys`).

Resumable and idempotent without a checkpoint: a written row is no longer stale, so a run stopped at any point
and started again finds only what is left, and a run with nothing left writes nothing. A row that an ingest
changes between the read and the write keeps the keys the ingest wrote (the write is conditional on the
row's content hash).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cinelibre.db.port import Database, Row
from cinelibre.errors import DatabaseUnavailableError, ValidationError
from cinelibre.observability import logger
from cinelibre.text import (
    SEARCH_KEYS_VERSION,
    book_people_keys,
    book_title_keys,
    movie_people_keys,
    movie_title_keys,
)

# Each rewritten row also re-enters every index of its table, the HNSW vector index included (an update that
# changes an indexed column cannot be HOT): about 5-20 ms a row on 2 shared cores, so a batch must stay well
# inside the adapter's statement timeout (8 s).
DEFAULT_BATCH_SIZE = 100
MAX_BATCH_SIZE = 1000


@dataclass(slots=True)
class BackfillProgress:
    examined: int = 0
    # Rows whose keys or version were written; a row skipped because an ingest changed it meanwhile, or
    # whose stored keys were already right but unversioned, is examined; the latter is also written.
    written: int = 0
    batches: int = 0
    last_item_id: int = 0


def search_key_row(row: Row, *, keys_version: int = SEARCH_KEYS_VERSION) -> Row:
    """The set_title_keys row of one stale row, keyed as the ingest keys it (RpcDatabase.upsert_*)."""
    if row["item_type"] == "movie":
        title_keys, people_keys = movie_title_keys(row), movie_people_keys(row)
    else:
        title_keys, people_keys = book_title_keys(row), book_people_keys(row)
    return {
        "item_type": row["item_type"], "external_id": row["external_id"], "title_keys": title_keys,
        "people_keys": people_keys, "keys_version": keys_version, "content_hash": row["content_hash"],
    }


def count_stale(database: Database, *, keys_version: int = SEARCH_KEYS_VERSION) -> dict[str, dict[str, int]]:
    """Per item type: {"stale": ..., "total": ...}."""
    return {
        row["item_type"]: {"stale": int(row["stale"]), "total": int(row["total"])}
        for row in database.count_stale_search_keys(keys_version=keys_version)
    }


def _write(database: Database, key_rows: list[Row]) -> int:
    """One batch in one call; a batch that times out (a busy database: every row re-enters the vector index)
    is written again in halves, down to one row, rather than failing the run."""
    try:
        return database.set_title_keys(rows=key_rows)
    except DatabaseUnavailableError:
        if len(key_rows) == 1:
            raise
        logger.warning("search keys batch timed out; writing it in halves", extra={"rows": len(key_rows)})
        half = len(key_rows) // 2
        return _write(database, key_rows[:half]) + _write(database, key_rows[half:])


def backfill_search_keys(
    database: Database,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int | None = None,
    keys_version: int = SEARCH_KEYS_VERSION,
    on_batch: Callable[[BackfillProgress], None] | None = None,
) -> BackfillProgress:
    """Key every row whose keys are missing or older than `keys_version`, `batch_size` rows per read and per
    write (one transaction each); stop after `max_batches` if given (a bounded run, continued by the next)."""
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValidationError(f"batch size must be 1 to {MAX_BATCH_SIZE}", details={"field": "batch_size"})
    progress = BackfillProgress()
    while max_batches is None or progress.batches < max_batches:
        rows = database.get_stale_search_key_rows(
            after_item_id=progress.last_item_id, page_size=batch_size, keys_version=keys_version
        )
        if not rows:
            break
        progress.written += _write(database, [search_key_row(row, keys_version=keys_version) for row in rows])
        progress.examined += len(rows)
        progress.batches += 1
        progress.last_item_id = max(int(row["item_id"]) for row in rows)
        if on_batch is not None:
            on_batch(progress)
    return progress
