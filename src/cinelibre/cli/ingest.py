"""`cinelibre ingest`: the scheduled ingest pipeline run locally with a progress bar and a printed summary.

Exit codes: 0 succeeded (a deadline or `--limit` stop included: the next run resumes), 3 partial (some pages or
items lost, each listed and retried first by the next run, or the source throttled the run), 1 failed (the
source could not be crawled at all: unreachable, every request refused, a refused key, no database),
2 an invalid setting or argument. docs/operations.md says what to do about each.
"""

from __future__ import annotations

import json
import threading
from enum import StrEnum
from typing import Annotated, Any

import typer

from cinelibre.cli import logs_to_stderr, restore_log_stream
from cinelibre.errors import CineLibreError
from cinelibre.observability import logger

SOURCES_FOR_CHOICE = {"tmdb": ["tmdb"], "books": ["google_books"], "all": ["tmdb", "google_books"]}
EXIT_CODES = {"succeeded": 0, "partial": 3, "failed": 1}
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
    """One bar per source; the sources are crawled at the same time, so their bars stand one under another."""

    def __init__(self, total_per_source: int | None) -> None:
        self.total = total_per_source
        self.bars: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, source: str, items: int) -> None:
        from tqdm import tqdm  # the `local` extra; only a run with progress bars needs it

        with self._lock:
            bar = self.bars.get(source)
            if bar is None:
                bar = self.bars[source] = tqdm(
                    total=self.total, desc=source, unit="item", position=len(self.bars)
                )
            bar.update(items)

    def close(self) -> None:
        with self._lock:
            for bar in self.bars.values():
                bar.close()
            self.bars.clear()


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
        if run.get("abandoned_run_ids"):
            notes.append(f"{source}: closed run(s) {run['abandoned_run_ids']} left running by a process that died")
        if run.get("retried"):
            notes.append(f"{source}: fetched {run['retried']} page(s) or item(s) that earlier runs lost")
        if run["stopped_by"]:
            notes.append(
                f"{source}: stopped early ({run['stopped_by']}); the next run resumes at {run['checkpoint']}"
            )
        if run["error"]:
            notes.append(f"{source}: {run['error']}")
        for skipped in run.get("skipped", []):
            later = "retried by the next run" if skipped["retried_later"] else "not retried"
            notes.append(f"{source}: skipped {skipped['kind']} {skipped['label']}: {skipped['reason']} ({later})")
        unlisted = run.get("skipped_total", 0) - len(run.get("skipped", []))
        if unlisted > 0:
            notes.append(f"{source}: and {unlisted} more skipped (see ingest_retries)")
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
        as_json: Annotated[
            bool, typer.Option("--json", help="Print only the summary, as JSON, on stdout (logs go to stderr).")
        ] = False,
        verbose: Annotated[bool, typer.Option("--verbose", help="Show the pipeline's log lines.")] = False,
    ) -> None:
        """Crawl TMDB and/or Google Books into the catalog (the base URLs and keys come from the settings)."""
        from cinelibre.db import get_database
        from cinelibre.embedding import get_embedder
        from cinelibre.ingest.handler import build_pipeline
        from cinelibre.ingest.memory import limit_malloc_arenas
        from cinelibre.ingest.pipeline import RunOptions
        from cinelibre.settings import get_settings

        limit_malloc_arenas()

        previous_stream = logs_to_stderr()
        previous_level = logger.log_level
        if not verbose:
            # JSON log lines would tear through the progress bars; the summary says what they would.
            logger.setLevel("WARNING")
        progress = _ProgressBars(limit)
        try:
            settings = get_settings()
            pipeline = build_pipeline(settings, get_database(settings), get_embedder(settings))
            options = RunOptions(
                trigger="cli",
                limit=limit,
                dry_run=dry_run,
                on_progress=None if as_json else progress,
                abandon_after_s=settings.ingest_abandon_after_s,
                detail_concurrency=settings.ingest_detail_concurrency,
            )
            summary = pipeline.run(sources=SOURCES_FOR_CHOICE[source.value], options=options).as_dict()
        except CineLibreError as exc:
            typer.echo(f"ingest failed: {exc.message}", err=True)
            raise typer.Exit(code=1) from None
        finally:
            progress.close()
            logger.setLevel(previous_level)
            restore_log_stream(previous_stream)
        typer.echo(json.dumps(summary, indent=2) if as_json else format_summary(summary))
        code = EXIT_CODES[summary["status"]]
        if code:
            raise typer.Exit(code=code)
