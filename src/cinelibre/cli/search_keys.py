"""`cinelibre search-keys [--backfill]`: how many catalog rows have missing or outdated search keys, and
bringing them up to date (docs/operations.md, "Search keys")."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cinelibre.errors import CineLibreError
from cinelibre.observability import logger


def search_keys(
    backfill: Annotated[
        bool, typer.Option("--backfill", help="Recompute the keys of every row whose keys are missing or outdated.")
    ] = False,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=1000, help="Rows read and written per database call.")
    ] = 100,
    max_batches: Annotated[
        int | None, typer.Option("--max-batches", min=1, help="Stop after this many batches (run again to go on).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Report the rows whose title and people search keys are missing or made by an older version of
    cinelibre.text; with --backfill, recompute them in bounded batches (resumable: run it again after any
    interruption; a run with nothing left changes nothing)."""
    from cinelibre.db import get_database
    from cinelibre.search_keys import backfill_search_keys, count_stale
    from cinelibre.settings import get_settings
    from cinelibre.text import SEARCH_KEYS_VERSION

    logger.setLevel("WARNING")
    try:
        database = get_database(get_settings())
        result: dict = {"keys_version": SEARCH_KEYS_VERSION}
        if backfill:
            progress = backfill_search_keys(
                database, batch_size=batch_size, max_batches=max_batches,
                on_batch=None if as_json else lambda p: typer.echo(
                    f"  batch {p.batches}: {p.examined} rows examined, {p.written} written (item id {p.last_item_id})",
                    err=True,
                ),
            )
            result["backfill"] = {
                "examined": progress.examined, "written": progress.written, "batches": progress.batches,
            }
        result["stale"] = count_stale(database)
    except CineLibreError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result))
        return
    if backfill:
        done = result["backfill"]
        typer.echo(f"backfill: {done['examined']} rows examined, {done['written']} written, {done['batches']} batches")
    for item_type, counts in result["stale"].items():
        typer.echo(
            f"{item_type}s: {counts['stale']} of {counts['total']} with missing or outdated search keys "
            f"(keys version {SEARCH_KEYS_VERSION})"
        )


def register(app: typer.Typer) -> None:
    app.command(name="search-keys")(search_keys)
