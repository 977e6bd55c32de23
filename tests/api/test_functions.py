"""The deployed entry points: each `functions/<name>/app.py` imported as Lambda imports it, answering the
committed sample events in `events/`, and the auth and recommend functions never importing the model."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import boto3
import jwt
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from cinelibre.cli.invoke import load_handler
from cinelibre.db import close_databases
from cinelibre.errors import ConfigurationError
from cinelibre.settings import get_settings
from tests.api.lambda_events import EVENTS_DIR, REPO_ROOT, invoke, load_event, with_token
from tests.recommend.synthetic import book_row, load_catalog, movie_row

FUNCTIONS = ("auth", "search", "recommend")
MODEL_MODULES = ("cinelibre.embedding", "fastembed", "onnxruntime", "tokenizers")


def event(name: str) -> dict:
    return load_event(EVENTS_DIR / f"{name}.json")


def test_every_function_has_a_thin_handler_and_a_short_readme():
    for name in FUNCTIONS:
        source = (REPO_ROOT / "functions" / name / "app.py").read_text()
        assert f"from cinelibre.api.{name} import create_app" in source
        assert "handler = make_handler(create_app())" in source
        assert "sys.path" not in source and "ImportError" not in source
        readme = (REPO_ROOT / "functions" / name / "README.md").read_text().strip().splitlines()
        assert 0 < len(readme) <= 10, name


def test_every_sample_event_is_a_payload_2_0_http_event_of_a_known_function():
    names = sorted(path.stem for path in EVENTS_DIR.glob("*.json"))
    http_events = [name for name in names if name.split("-")[0] in FUNCTIONS]
    assert {name.split("-")[0] for name in http_events} == set(FUNCTIONS)
    for name in http_events:
        payload = event(name)
        assert payload["version"] == "2.0" and payload["routeKey"] == "$default", name
        assert payload["rawPath"] == payload["requestContext"]["http"]["path"], name
        assert payload["requestContext"]["domainName"].endswith(".lambda-url.eu-west-1.on.aws"), name


def modules_loaded_by(function: str, pg_url: str) -> set[str]:
    app_path = str(REPO_ROOT / "functions" / function / "app.py")
    script = (
        "import importlib.util, json, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {app_path!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert callable(module.handler)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {**os.environ, "CINELIBRE_ENV": "test", "DATABASE_URL": pg_url}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def model_modules(loaded: set[str]) -> set[str]:
    return {m for m in loaded if m.startswith(MODEL_MODULES)}


@pytest.mark.parametrize("function", ["auth", "recommend"])
def test_auth_and_recommend_never_import_the_model(function, pg_url):
    assert model_modules(modules_loaded_by(function, pg_url)) == set()


def test_the_search_function_does_load_the_model(pg_url):
    # The control for the test above: the same check sees the model where it is imported.
    assert {"cinelibre.embedding", "fastembed", "onnxruntime"} <= model_modules(
        modules_loaded_by("search", pg_url)
    )


def test_the_auth_function_answers_its_sample_events(settings, db, lambda_context):
    handler = load_handler("auth")
    health = invoke(handler, lambda_context, event("auth-health"))
    assert health.status == 200 and health.json()["name"] == "cinelibre-auth"
    assert invoke(handler, lambda_context, event("auth-register")).status == 201
    login = invoke(handler, lambda_context, event("auth-login"))
    assert login.status == 200
    me = invoke(handler, lambda_context, with_token(event("auth-me"), login.json()["access_token"]))
    assert me.status == 200 and me.json()["email"] == "ana@example.com"
    # As committed, auth-me carries a placeholder token: a clear 401, not a crash.
    assert invoke(handler, lambda_context, event("auth-me")).status == 401


def test_the_recommend_function_answers_its_sample_events(settings, db, lambda_context, make_user):
    # The sample events name item 1 (a movie) and 2 (a book): the first two items of an empty database.
    ids = load_catalog(db, [movie_row(1, "Sample Movie", theme=0)])
    ids |= load_catalog(db, [], [book_row(1, "Sample Book", theme=0)])
    assert (ids["Sample Movie"], ids["Sample Book"]) == (1, 2)
    user = make_user()
    handler = load_handler("recommend")
    replies = {}
    for name in (
        "recommend-health",
        "recommend-popular",
        "recommend-similar",
        "recommend-rate",
        "recommend-my-ratings",
        "recommend-interaction",
        "recommend-personalized",
        "recommend-delete-rating",
    ):
        replies[name] = invoke(handler, lambda_context, with_token(event(name), user.token))
    assert {name: reply.status for name, reply in replies.items()} == {
        "recommend-health": 200,
        "recommend-popular": 200,
        "recommend-similar": 200,
        "recommend-rate": 201,
        "recommend-my-ratings": 200,
        "recommend-interaction": 201,
        "recommend-personalized": 200,
        "recommend-delete-rating": 204,
    }
    assert replies["recommend-similar"].json()["items"][0]["title"] == "Sample Book"
    assert replies["recommend-my-ratings"].json()["items"][0]["title"] == "Sample Movie"


def test_the_search_function_answers_its_sample_events(settings, db, embedder, lambda_context):
    from cinelibre.embedding import book_text, movie_text
    from tests.search import catalog as search_catalog

    # The sample events name movie 1 and book 2: an empty database's first two items.
    movie = next(row for row in search_catalog.movie_rows() if row["title"] == "Drishyam")
    book = next(row for row in search_catalog.book_rows() if row["title"] == "The Hobbit")
    (movie,) = search_catalog.embedded([movie], [movie_text(movie)], embedder)
    (book,) = search_catalog.embedded([book], [book_text(book)], embedder)
    ids = search_catalog.load(db, [movie], [])
    ids |= search_catalog.load(db, [], [book])
    assert (ids[("movie", "Drishyam")], ids[("book", "The Hobbit")]) == (1, 2)
    handler = load_handler("search")
    statuses = {}
    for name in (
        "search-health",
        "search-semantic",
        "search-semantic-filtered",
        "search-movies",
        "search-movie",
        "search-books",
        "search-book",
    ):
        reply = invoke(handler, lambda_context, event(name))
        statuses[name] = reply.status
    assert set(statuses.values()) == {200}, statuses
    semantic = invoke(handler, lambda_context, event("search-semantic")).json()
    assert semantic["results"][0]["title"] == "Drishyam"
    assert invoke(handler, lambda_context, event("search-book")).json()["title"] == "The Hobbit"


@pytest.fixture
def production_environment(monkeypatch, pg_url):
    """The environment template.yaml gives the functions, with the database pointed at the test one."""
    for name in ("JWT_SECRET", "CINELIBRE_JWT_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CINELIBRE_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    get_settings.cache_clear()
    close_databases()
    parameters.clear_caches()
    yield monkeypatch
    get_settings.cache_clear()
    close_databases()
    parameters.clear_caches()


@pytest.mark.parametrize("function", ["auth", "recommend"])
def test_a_production_function_without_a_jwt_secret_refuses_to_start(production_environment, function):
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        load_handler(function)


@pytest.mark.parametrize("secret", ["short", "x" * 31])
def test_a_production_function_with_a_short_secret_refuses_to_start(production_environment, secret):
    production_environment.setenv("JWT_SECRET", secret)
    with pytest.raises(ConfigurationError, match="32 bytes"):
        load_handler("auth")


def test_in_production_the_secret_comes_from_ssm_once_per_cold_start(
    production_environment, db, lambda_context
):
    secret = "s3cr3t-from-parameter-store-0123456789abcdef"
    with mock_aws():
        boto3.client("ssm").put_parameter(Name="/cinelibre/jwt-secret", Value=secret, Type="SecureString")
        production_environment.setenv("CINELIBRE_JWT_SECRET_PARAMETER", "ssm:/cinelibre/jwt-secret")
        # As a deployment serving the original client does: tokens straight from registration.
        production_environment.setenv("CINELIBRE_REQUIRE_EMAIL_CONFIRMATION", "false")
        handler = load_handler("auth")
        registered = invoke(handler, lambda_context, event("auth-register"))
        # Later invocations reuse the settings read at cold start: the parameter is not read again.
        boto3.client("ssm").delete_parameter(Name="/cinelibre/jwt-secret")
        me = invoke(handler, lambda_context, with_token(event("auth-me"), registered.json()["access_token"]))
    assert registered.status == 201 and me.status == 200
    claims = jwt.decode(
        registered.json()["access_token"], secret, algorithms=["HS256"], audience="cinelibre-api"
    )
    assert claims["sub"] == registered.json()["user"]["id"]


def test_in_production_a_missing_parameter_stops_the_function(production_environment):
    with mock_aws():
        production_environment.setenv("CINELIBRE_JWT_SECRET_PARAMETER", "ssm:/cinelibre/missing")
        with pytest.raises(ConfigurationError, match="/cinelibre/missing"):
            load_handler("auth")
