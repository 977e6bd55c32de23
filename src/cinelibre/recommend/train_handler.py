"""The train Lambda handler, built by `make_handler()`: an EventBridge schedule (daily, after the ingest) or
a manual invoke fits the item-to-item model on every rating and swaps it in; returns the training report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from cinelibre.db import get_database
from cinelibre.db.port import Database
from cinelibre.observability import logger, metrics
from cinelibre.recommend.training import TrainingError, train_and_publish
from cinelibre.settings import Settings, get_settings

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(
    *,
    settings_provider: Callable[[], Settings] = get_settings,
    database_provider: Callable[[Settings], Database] = get_database,
) -> LambdaHandler:
    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        database = database_provider(settings_provider())
        try:
            report = train_and_publish(database)
        except TrainingError as exc:
            # Nothing to learn from (no ratings yet) is not a fault; any other failure raises, so the run
            # shows as failed, and the previous model keeps serving either way.
            logger.warning("training skipped", extra={"reason": exc.message})
            return {"status": "skipped", "reason": exc.message}
        metrics.add_metric(name="ModelTrainSeconds", unit=MetricUnit.Seconds, value=report.train_seconds)
        metrics.add_metric(name="ModelItems", unit=MetricUnit.Count, value=report.item_count)
        if "ndcg@10" in report.metrics:
            metrics.add_metric(name="ModelValidationNdcgAt10", unit=MetricUnit.NoUnit, value=report.metrics["ndcg@10"])
        return {"status": "published", **asdict(report)}

    return handler
