"""The input boundary and fail-closed settings, through the functions' Lambda handlers: control characters
are a 422 naming the field (never a 500), bodies are capped, docs are off in production, GET / shows no
filesystem path, and a process that does not say otherwise runs as production."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr
from pydantic import ValidationError as SettingsValidationError

from cinelibre.api.lambda_handler import make_handler
from cinelibre.db import close_databases
from cinelibre.errors import ConfigurationError, ValidationError
from cinelibre.settings import DEVELOPMENT_JWT_SECRET, Environment, Settings, load_settings
from tests.api.lambda_events import LambdaClient

PASSWORD = "correct horse battery"


def assert_refused(response, field: str) -> None:
    assert response.status == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]], error


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/search/semantic", {"q": "heist\x00film"}, "q"),
        ("/search/semantic", {"q": "heist", "genre": "Thri\x00ller"}, "genre"),
        ("/search/semantic", {"q": "heist", "category": "Fic\x00tion"}, "category"),
        ("/search/semantic", {"q": "bell\x07"}, "q"),
        ("/movies", {"genre": "Drama\x00"}, "genre"),
        ("/books", {"category": "\x00"}, "category"),
        ("/movies", {"language": "e\x00n"}, "language"),
    ],
)
def test_control_characters_in_query_parameters_are_a_422_naming_the_parameter(search_client, path, query, field):
    assert_refused(search_client.get(path, query=query), field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "ana@example.com", "password": PASSWORD, "name": "A\x00na"}, "name"),
        ({"email": "ana\x00@example.com", "password": PASSWORD, "name": "Ana"}, "email"),
        ({"email": "ana@example.com", "password": "correct\x00horse battery", "name": "Ana"}, "password"),
        ({"email": "ana@example.com", "password": PASSWORD, "name": "Ana\x1b[31m"}, "name"),
        ({"email": "ana@example.com", "password": PASSWORD, "na\x00me": "Ana"}, "na?me"),
    ],
)
def test_control_characters_in_json_bodies_are_a_422_naming_the_field(auth_client, body, field):
    assert_refused(auth_client.post("/auth/register", json_body=body), field)


def test_every_text_input_of_the_recommend_and_auth_functions_refuses_nul(recommend_client, auth_client, make_user):
    user = make_user()
    assert_refused(
        recommend_client.post("/interactions", token=user.token, json_body={"kind": "search", "query": "a\x00b"}),
        "query",
    )
    assert_refused(
        recommend_client.post("/interactions", token=user.token, json_body={"interaction_type": "search\x00"}),
        "interaction_type",
    )
    assert_refused(auth_client.post("/auth/login", json_body={"email": "a\x00@b.c", "password": "x"}), "email")
    assert_refused(auth_client.post("/auth/refresh", json_body={"refresh_token": "\x00"}), "refresh_token")
    assert_refused(auth_client.post("/auth/password/forgot", json_body={"email": "\x00"}), "email")
    assert_refused(
        recommend_client.get("/ratings/my", token=user.token, query={"item_type": "movie\x00"}), "item_type"
    )


def test_tabs_and_newlines_stay_allowed_in_json_text(recommend_client, make_user):
    user = make_user()
    saved = recommend_client.post(
        "/interactions", token=user.token, json_body={"kind": "search", "query": "space\topera\nfilms"}
    )
    assert saved.status == 201 and saved.json()["query"] == "space opera films"


def test_a_nul_that_reaches_psycopg_is_a_validation_error_not_a_database_error(db):
    # psycopg refuses NUL in a text parameter before sending it, with a DataError that has no SQLSTATE.
    with pytest.raises(ValidationError):
        db.search_titles(query="heist\x00", item_type="all", count=5)


def test_a_body_over_the_cap_is_a_413(settings, db, lambda_context):
    from cinelibre.api.auth import create_app

    client = LambdaClient(
        make_handler(create_app(settings.model_copy(update={"max_body_bytes": 2048}))), lambda_context
    )
    big = {"email": "ana@example.com", "password": PASSWORD, "name": "A" * 3000}
    response = client.post("/auth/register", json_body=big)
    assert response.status == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    declared = client.post("/auth/register", raw_body="{}", headers={"content-length": "5000000"})
    assert declared.status == 413
    assert client.post("/auth/register", json_body={"email": "x"}).status == 422  # small bodies pass on


def test_the_default_body_cap_is_one_megabyte():
    assert Settings().max_body_bytes == 1_000_000


def test_an_undecodable_body_is_a_400_with_the_standard_error(auth_client):
    response = auth_client.post(
        "/auth/login", raw_body=b'{"email": "\xff"}', headers={"content-type": "application/json"}, base64_body=True
    )
    assert response.status == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_without_cinelibre_env_the_process_runs_as_production(monkeypatch):
    monkeypatch.delenv("CINELIBRE_ENV", raising=False)
    monkeypatch.delenv("CINELIBRE_ENVIRONMENT", raising=False)
    settings = Settings()
    assert settings.environment is Environment.PRODUCTION
    assert settings.docs_enabled is False and settings.email_confirmation_required is True
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        settings.require_jwt_secret()


def test_production_refuses_the_published_development_secret(monkeypatch):
    monkeypatch.setenv("JWT_SECRET", DEVELOPMENT_JWT_SECRET)
    with pytest.raises(ConfigurationError, match="development secret"):
        load_settings(CINELIBRE_ENV="production").require_jwt_secret()


@pytest.mark.parametrize("origins", ["null", "https://app.example,null", "*"])
def test_production_refuses_null_and_wildcard_cors_origins(monkeypatch, origins):
    monkeypatch.setenv("CINELIBRE_ENV", "production")
    monkeypatch.setenv("CINELIBRE_CORS_ORIGINS", origins)
    with pytest.raises(SettingsValidationError, match="CORS"):
        load_settings()


def production_auth_client(settings, lambda_context, **overrides) -> LambdaClient:
    from cinelibre.api.auth import create_app

    production = settings.model_copy(
        update={"environment": Environment.PRODUCTION, "jwt_secret": SecretStr("p" * 40), **overrides}
    )
    return LambdaClient(make_handler(create_app(production)), lambda_context)


def test_docs_are_off_in_production_unless_a_setting_turns_them_on(settings, db, lambda_context):
    closed = production_auth_client(settings, lambda_context)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert closed.get(path).status == 404, path
    opened = production_auth_client(settings, lambda_context, api_docs=True)
    assert opened.get("/openapi.json").status == 200
    assert opened.get("/docs").status == 200


def test_the_health_answer_shows_no_filesystem_path(search_client, settings):
    response = search_client.get("/")
    assert response.status == 200
    assert "model_path" not in response.text
    assert str(settings.model_path) not in response.text and "/opt/model" not in response.text


def test_a_database_outage_is_a_prompt_503_with_retry_after(monkeypatch, lambda_context):
    from cinelibre.api.recommend import create_app

    monkeypatch.setenv("CINELIBRE_ENV", "test")
    # A TEST-NET address that drops packets: connecting would hang until the connect timeout.
    settings = load_settings(DATABASE_URL="postgresql://cinelibre@192.0.2.1:5432/cinelibre")
    try:
        client = LambdaClient(make_handler(create_app(settings)), lambda_context)
        started = time.perf_counter()
        response = client.get("/recommendations/popular")
        elapsed = time.perf_counter() - started
    finally:
        close_databases()
    assert response.status == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "database_unavailable"
    assert elapsed < 2.0, elapsed
