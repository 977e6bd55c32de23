"""Correlation ids, structured logs, EMF metrics and CORS, seen from outside through the handlers."""

from __future__ import annotations

import io
import json

import pytest
from pydantic import ValidationError as SettingsValidationError

from cinelibre.api.auth import create_app
from cinelibre.api.lambda_handler import make_handler
from cinelibre.observability import logger
from cinelibre.settings import Settings, load_settings
from tests.api.lambda_events import LambdaClient, http_event, invoke


@pytest.fixture
def log_output():
    """What the Powertools logger writes, one JSON object per line (its handler keeps the stdout it was
    created with, which pytest's capsys does not see)."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(buffer)
    yield buffer
    handler.setStream(previous)


def json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_the_lambda_request_id_becomes_the_correlation_id(auth_client, log_output):
    event = http_event("GET", "/auth/me")
    response = invoke(auth_client.handler, auth_client.context, event)
    request_id = event["requestContext"]["requestId"]
    assert response.headers["x-correlation-id"] == request_id
    logs = [line for line in json_lines(log_output.getvalue()) if line.get("message") == "request"]
    assert logs and logs[-1]["correlation_id"] == request_id
    assert logs[-1]["status"] == 401 and logs[-1]["path"] == "/auth/me"
    assert logs[-1]["function_request_id"] == auth_client.context.aws_request_id


def test_a_client_correlation_id_is_kept_and_a_hostile_one_replaced(auth_client):
    kept = auth_client.get("/auth/me", headers={"x-correlation-id": "checkout-7f3a"})
    assert kept.headers["x-correlation-id"] == "checkout-7f3a"
    replaced = auth_client.get("/auth/me", headers={"x-correlation-id": "evil\nInjected: yes"})
    assert replaced.headers["x-correlation-id"] != "evil\nInjected: yes"
    assert "\n" not in replaced.headers["x-correlation-id"]


def test_each_invocation_emits_latency_metrics_in_emf(auth_client, capsys):
    auth_client.get("/")
    emf = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    assert emf, "no EMF metrics printed"
    metric_names = {
        m["Name"] for line in emf for d in line["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert "RequestLatency" in metric_names
    latency = next(line["RequestLatency"] for line in emf if "RequestLatency" in line)
    values = latency if isinstance(latency, list) else [latency]
    assert len(values) == 1 and values[0] > 0  # one request per invocation, flushed with it


def test_passwords_and_tokens_never_reach_the_logs(auth_client, capsys, log_output):
    password = "a very private passphrase"
    registered = auth_client.post(
        "/auth/register", json_body={"email": "ana@example.com", "password": password, "name": "Ana"}
    )
    auth_client.get("/auth/me", token=registered.json()["access_token"])
    output = capsys.readouterr()
    written = output.out + output.err + log_output.getvalue()
    assert '"message":"user registered"' in written
    assert password not in written
    assert registered.json()["access_token"] not in written


def cors_client(settings: Settings, lambda_context) -> LambdaClient:
    return LambdaClient(make_handler(create_app(settings)), lambda_context)


def preflight(client: LambdaClient, origin: str):
    return client.request(
        "OPTIONS",
        "/auth/login",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,authorization",
        },
    )


def test_cors_allows_only_listed_origins_with_credentials(settings, db, lambda_context):
    client = cors_client(
        settings.model_copy(update={"cors_origins": ("https://app.cinelibre.example",)}), lambda_context
    )
    allowed = preflight(client, "https://app.cinelibre.example")
    assert allowed.status == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.cinelibre.example"
    assert allowed.headers["access-control-allow-credentials"] == "true"
    refused = preflight(client, "https://evil.example")
    assert "access-control-allow-origin" not in refused.headers
    simple = client.get("/", headers={"origin": "https://app.cinelibre.example"})
    assert simple.headers["access-control-allow-origin"] == "https://app.cinelibre.example"
    assert "x-correlation-id" in simple.headers["access-control-expose-headers"]


def test_cors_wildcard_never_comes_with_credentials(settings, db, lambda_context):
    client = cors_client(settings.model_copy(update={"cors_origins": ("*",)}), lambda_context)
    response = preflight(client, "https://anywhere.example")
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


def test_no_allowlist_means_no_cross_origin_access(settings, db, lambda_context):
    client = cors_client(settings.model_copy(update={"cors_origins": ()}), lambda_context)
    response = client.get("/", headers={"origin": "https://app.cinelibre.example"})
    assert "access-control-allow-origin" not in response.headers


def test_production_refuses_a_wildcard_origin(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", "p" * 40)
    with pytest.raises(SettingsValidationError, match="CORS"):
        load_settings(CINELIBRE_ENV="production", cors_origins="*")
