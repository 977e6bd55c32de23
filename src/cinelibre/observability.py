"""One Powertools Logger, Tracer-free: JSON logs with the service name and, in handlers, correlation ids."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger(service="cinelibre", utc=True)
metrics = Metrics(namespace="CineLibre", service="cinelibre")
