"""`cinelibre ingest`: the scheduled ingest pipeline run locally with a progress bar and a printed summary."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from tqdm import tqdm

from cinelibre.errors import CineLibreError
from cinelibre.observability import logger

SOURCES_FOR_CHOICE = {"tmdb": ["tmdb"], "books": ["google_books"], "all": ["tmdb", "google_books"]}
SUMMARY_COLUMNS = (
    "fetched",
    "new",
    "updated",
    "unchanged",
    "failed",
    "duplicates",
    "embedded",
    "failed_pages",
)


class SourceChoice(StrEnum):
    TMDB = "tmdb"
    BOOKS = "books"
    ALL = "all"


class _ProgressBars:
    """One bar per source, in turn: sources run one after another."""

    def __init__(self, total_per_source: int | None) -> None:
        self.total = total_per_source
        self.source: str | None = None
        self.bar: tqdm | None = None

    def __call__(self, source: str, items: int) -> None:
        if source != self.source:
            self.close()
            self.source, self.bar = source, tqdm(total=self.total, desc=source, unit="item")
        self.bar.update(items)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_summary(summary: dict[str, Any]) -> str:
    header = (
        f"{'source':<14}{'status':<11}" + "".join(f"{c:>13}" for c in SUMMARY_COLUMNS) + f"{'seconds':>10}"
    )
    lines = [header]
    notes = []
    for source, run in summary["sources"].items():
        stats = run["stats"]
        lines.append(
            f"{source:<14}{run['status']:<11}"
            + "".join(f"{stats[c]:>13}" for c in SUMMARY_COLUMNS)
            + f"{run['seconds']:>10.1f}"
        )
        if run["stopped_by"]:
            notes.append(
                f"{source}: stopped early ({run['stopped_by']}); the next run resumes at {run['checkpoint']}"
            )
        if run["error"]:
            notes.append(f"{source}: {run['error']}")
    lines.append(
        f"overall: {summary['status']}"
        + (" (dry run: nothing embedded or written)" if summary["dry_run"] else "")
    )
    return "\n".join(lines + notes)


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        source: Annotated[
            SourceChoice, typer.Option(help="Which catalog source to crawl.")
        ] = SourceChoice.ALL,
        limit: Annotated[
            int | None,
            typer.Option(min=1, help="Examine at most N items per source; the next run resumes there."),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Fetch and compare only: embed nothing, write nothing.")
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
        verbose: Annotated[bool, typer.Option("--verbose", help="Show the pipeline's log lines.")] = False,
    ) -> None:
        """Crawl TMDB and/or Google Books into the catalog (the base URLs and keys come from the settings)."""
        from cinelibre.db import get_database
        from cinelibre.embedding import get_embedder
        from cinelibre.ingest.pipeline import build_pipeline
        from cinelibre.settings import get_settings

        previous_level = logger.log_level
        if not verbose:
            # JSON log lines would tear through the progress bars; the summary says what they would.
            logger.setLevel("WARNING")
        progress = _ProgressBars(limit)
        try:
            settings = get_settings()
            pipeline = build_pipeline(settings, get_database(settings), get_embedder(settings))
            summary = pipeline.run(
                sources=SOURCES_FOR_CHOICE[source.value],
                trigger="cli",
                limit=limit,
                dry_run=dry_run,
                on_progress=progress,
            ).as_dict()
        except CineLibreError as exc:
            typer.echo(f"ingest failed: {exc.message}", err=True)
            raise typer.Exit(code=1) from None
        finally:
            progress.close()
            logger.setLevel(previous_level)
        typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
        if any(run["status"] == "failed" for run in summary["sources"].values()):
            raise typer.Exit(code=1)
