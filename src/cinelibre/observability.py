"""One Powertools Logger and Metrics for the package: JSON logs with the service name and, in handlers,
correlation ids. The service name and metrics namespace come from POWERTOOLS_SERVICE_NAME and
POWERTOOLS_METRICS_NAMESPACE, which template.yaml sets per function."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics

# Defaults for local runs and tests, where the environment names neither.
logger = Logger(service=os.getenv("POWERTOOLS_SERVICE_NAME", "cinelibre"), utc=True)
metrics = Metrics(namespace=os.getenv("POWERTOOLS_METRICS_NAMESPACE", "CineLibre"))
