"""The ingest Lambda handler, built by `make_handler()`: an EventBridge schedule (or a manual invoke) runs the
pipeline within the invocation's remaining time and returns the run summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from cinelibre.db import get_database
from cinelibre.db.port import Database
from cinelibre.embedding import get_embedder
from cinelibre.errors import ValidationError
from cinelibre.ingest.pipeline import SOURCE_NAMES, Deadline, IngestSummary, PassageEmbedder, build_pipeline
from cinelibre.observability import logger, metrics
from cinelibre.settings import Settings, get_settings

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
    for run in summary.runs:
        for name, value in run.stats.as_dict().items():
            with single_metric(
                name=f"Ingest{name.title().replace('_', '')}",
                unit=MetricUnit.Count,
                value=value,
                namespace=metrics.namespace,
            ) as metric:
                metric.add_dimension(name="source", value=run.source)
    metrics.add_metric(
        name="IngestRunsFailed",
        unit=MetricUnit.Count,
        value=sum(run.status == "failed" for run in summary.runs),
    )


def make_handler(
    *,
    settings_provider: Callable[[], Settings] = get_settings,
    database_provider: Callable[[Settings], Database] = get_database,
    embedder_provider: Callable[[Settings], PassageEmbedder] = get_embedder,
) -> LambdaHandler:
    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        sources = sources_from_event(event)
        settings = settings_provider()
        pipeline = build_pipeline(settings, database_provider(settings), embedder_provider(settings))
        deadline = Deadline.from_lambda_context(context, margin_s=settings.ingest_deadline_margin_s)
        summary = pipeline.run(sources=sources, trigger=trigger_of(event), deadline=deadline)
        publish_metrics(summary)
        return summary.as_dict()

    return handler
