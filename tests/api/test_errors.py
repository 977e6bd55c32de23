"""One error body for every failure, with the status chosen by the error's class, never a stack trace or
a raw database message."""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from cinelibre.api.app import build_app
from cinelibre.api.lambda_handler import make_handler
from cinelibre.db import close_databases
from cinelibre.errors import DatabaseError, ModelUnavailableError
from cinelibre.settings import load_settings
from tests.api.lambda_events import LambdaClient

failing = APIRouter()


@failing.get("/boom")
def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2 at /var/task/app.py line 12")


@failing.get("/database-error")
def database_error() -> None:
    raise DatabaseError('relation "public.moviez" does not exist')


@failing.get("/model-missing")
def model_missing() -> None:
    raise ModelUnavailableError("the model layer is missing at /opt/model")


@pytest.fixture
def failing_client(settings, lambda_context):
    app = build_app(name="test", settings=settings, routers=[failing], needs_tokens=False, description="")
    return LambdaClient(make_handler(app), lambda_context)


def test_an_unexpected_exception_is_a_plain_500_without_internals(failing_client):
    response = failing_client.get("/boom")
    assert response.status == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "the server could not complete the request"},
        "detail": "the server could not complete the request",
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text
    assert response.headers["content-type"] == "application/json"


def test_a_database_error_hides_the_database_message(failing_client):
    response = failing_client.get("/database-error")
    assert response.status == 500
    assert response.json() == {
        "error": {"code": "database_error", "message": "the server could not complete the request"},
        "detail": "the server could not complete the request",
    }


def test_an_unavailable_model_is_a_503_with_its_reason(failing_client):
    response = failing_client.get("/model-missing")
    assert response.status == 503
    assert response.json()["error"]["code"] == "model_unavailable"


def test_unknown_route_and_wrong_method_have_the_same_shape(recommend_client):
    missing = recommend_client.get("/no/such/path")
    assert missing.status == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "no route for GET /no/such/path"},
        "detail": "no route for GET /no/such/path",
    }
    wrong_method = recommend_client.request("PUT", "/recommendations/popular")
    assert wrong_method.status == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_is_a_422_naming_the_body(recommend_client, make_user):
    user = make_user()
    response = recommend_client.post(
        "/ratings",
        raw_body='{"item_id": 1, "rating": ',
        headers={"content-type": "application/json"},
        token=user.token,
    )
    assert response.status == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["location"] == "body"


def test_validation_errors_name_every_field(recommend_client, make_user):
    user = make_user()
    response = recommend_client.post("/ratings", json_body={"item_id": 0, "rating": 7}, token=user.token)
    assert response.status == 422
    error = response.json()["error"]
    assert {detail["field"] for detail in error["details"]} == {"item_id", "rating"}
    assert error["message"] == "invalid request: item_id, rating"
    assert all(set(detail) == {"field", "location", "message"} for detail in error["details"])


@pytest.fixture
def unreachable_settings(monkeypatch):
    # Port 9 (discard) on the loopback: nothing listens, so the connection is refused at once.
    monkeypatch.setenv("CINELIBRE_ENV", "test")
    settings = load_settings(
        DATABASE_URL="postgresql://cinelibre@127.0.0.1:9/cinelibre", db_connect_timeout_s=1
    )
    yield settings
    close_databases()


def test_an_unreachable_database_is_a_503_and_readiness_says_so(unreachable_settings, lambda_context):
    from cinelibre.api.recommend import create_app

    client = LambdaClient(make_handler(create_app(unreachable_settings)), lambda_context)
    popular = client.get("/recommendations/popular")
    assert popular.status == 503
    assert popular.json()["error"]["code"] == "database_unavailable"
    assert "127.0.0.1" not in popular.text

    health = client.get("/")
    assert health.status == 503
    body = health.json()
    assert body["ready"] is False
    assert body["checks"]["database"]["ok"] is False
    assert body["error"]["code"] == "not_ready"
