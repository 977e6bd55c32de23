"""The ingest Lambda handler, built by `make_handler()`: an EventBridge schedule (or a manual invoke) runs the
pipeline within the invocation's remaining time and returns the run summary. This side of the package knows
the concrete sources; the pipeline knows only the source protocol.

A failed run raises `IngestRunFailed` after its metrics and summary are out, so the invocation counts as a
Lambda error: the schedule's on-failure destination receives it and the function's Errors alarm fires."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from cinelibre.db import get_database
from cinelibre.db.port import Database
from cinelibre.embedding import get_embedder
from cinelibre.errors import CineLibreError, ValidationError
from cinelibre.ingest.base import CatalogSource
from cinelibre.ingest.google_books import GoogleBooksSource
from cinelibre.ingest.memory import limit_malloc_arenas
from cinelibre.ingest.pipeline import Deadline, IngestPipeline, IngestSummary, PassageEmbedder, RunOptions
from cinelibre.ingest.tmdb import TmdbSource
from cinelibre.observability import logger, metrics
from cinelibre.settings import Settings, get_settings

SOURCE_NAMES: tuple[str, ...] = ("tmdb", "google_books")
RUN_OUTCOMES = ("succeeded", "partial", "failed")


class IngestRunFailed(CineLibreError):
    """The scheduled run failed; raised after the summary is logged so Lambda reports the invocation failed."""

    code = "ingest_failed"
    status = 502


def build_pipeline(
    settings: Settings,
    database: Database,
    embedder: PassageEmbedder,
    *,
    tmdb_options: Mapping[str, Any] | None = None,
    books_options: Mapping[str, Any] | None = None,
) -> IngestPipeline:
    """The pipeline over both sources as the settings describe them (base URLs, keys, rates, languages).
    The options reach each source's `from_settings` (subjects, pages per slice, retry policy, sleep)."""

    def tmdb(seconds_left: Callable[[], float]) -> CatalogSource:
        return TmdbSource.from_settings(settings, seconds_left=seconds_left, **(tmdb_options or {}))

    def google_books(seconds_left: Callable[[], float]) -> CatalogSource:
        return GoogleBooksSource.from_settings(settings, seconds_left=seconds_left, **(books_options or {}))

    return IngestPipeline(
        database=database, embedder=embedder, sources={"tmdb": tmdb, "google_books": google_books}
    )

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def sources_from_event(event: Any) -> list[str]:
    """A schedule's event has an empty `detail`: every source. A manual invoke may name some in
    `detail.sources`."""
    detail = event.get("detail") if isinstance(event, Mapping) else None
    requested = detail.get("sources") if isinstance(detail, Mapping) else None
    if requested is None:
        return list(SOURCE_NAMES)
    if (
        not isinstance(requested, list)
        or not requested
        or not all(name in SOURCE_NAMES for name in requested)
    ):
        raise ValidationError(f"detail.sources must be a non-empty list drawn from {list(SOURCE_NAMES)}")
    return list(dict.fromkeys(requested))


def trigger_of(event: Any) -> str:
    if isinstance(event, Mapping) and event.get("source") == "aws.events":
        return "schedule"
    return "manual"


def publish_metrics(summary: IngestSummary) -> None:
    """Per source: its counters and its outcome (IngestRunsSucceeded/Partial/Failed, 0 or 1). Overall, with
    only the service dimension (what the alarms watch): how many sources ended each way, and how many runs
    left `running` by a dead process this invocation closed."""
    for run in summary.runs:
        per_source = {f"Ingest{name.title().replace('_', '')}": value for name, value in run.stats.as_dict().items()}
        per_source.update({f"IngestRuns{outcome.title()}": int(run.status == outcome) for outcome in RUN_OUTCOMES})
        per_source["IngestSkipped"] = run.skipped_total
        for name, value in per_source.items():
            with single_metric(
                name=name, unit=MetricUnit.Count, value=value, namespace=metrics.namespace
            ) as metric:
                metric.add_dimension(name="source", value=run.source)
    for outcome in RUN_OUTCOMES:
        metrics.add_metric(
            name=f"IngestRuns{outcome.title()}",
            unit=MetricUnit.Count,
            value=sum(run.status == outcome for run in summary.runs),
        )
    metrics.add_metric(
        name="IngestRunsAbandoned",
        unit=MetricUnit.Count,
        value=sum(len(run.abandoned_run_ids) for run in summary.runs),
    )


def make_handler(
    *,
    settings_provider: Callable[[], Settings] = get_settings,
    database_provider: Callable[[Settings], Database] = get_database,
    embedder_provider: Callable[[Settings], PassageEmbedder] = get_embedder,
) -> LambdaHandler:
    # Before the run's threads exist: a dozen threads allocating would otherwise get a malloc arena each.
    limit_malloc_arenas()

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sources = sources_from_event(event)
        settings = settings_provider()
        pipeline = build_pipeline(settings, database_provider(settings), embedder_provider(settings))
        options = RunOptions(
            trigger=trigger_of(event),
            deadline=Deadline.from_lambda_context(context, margin_s=settings.ingest_deadline_margin_s),
            abandon_after_s=settings.ingest_abandon_after_s,
            detail_concurrency=settings.ingest_detail_concurrency,
        )
        summary = pipeline.run(sources=sources, options=options)
        publish_metrics(summary)
        result = summary.as_dict()
        if summary.status == "failed" and trigger_of(event) == "schedule":
            failed = {run.source: run.error for run in summary.runs if run.status == "failed"}
            logger.error("scheduled ingest failed", extra={"summary": result})
            raise IngestRunFailed(f"ingest failed: {failed}", details={"summary": result})
        return result

    return handler
