"""The Lambda entry point for an ASGI app: Mangum with the lifespan off (Mangum would otherwise run the
app's startup and shutdown on every invocation), Powertools context logging and EMF metrics around it, and
the SnapStart hooks (cinelibre.snapstart) that close connections before a snapshot and reload settings,
secrets and randomness after a restore."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mangum import Mangum
from starlette.types import ASGIApp

from cinelibre import snapstart
from cinelibre.observability import logger, metrics

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_handler(app: ASGIApp) -> LambdaHandler:
    adapter = Mangum(app, lifespan="off")
    if snapstart.snapstart_init():
        snapstart.install_app_hooks(app)
        snapstart.prime(adapter)

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics(capture_cold_start_metric=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return adapter(event, context)

    return handler
