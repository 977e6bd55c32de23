"""The ingest Lambda's own entry point (functions/ingest/app.py) driven with the EventBridge scheduled event,
and a context whose remaining time runs down with each upstream request."""

from __future__ import annotations

import importlib.util
import json

import psycopg
import pytest

from cinelibre.errors import ValidationError
from cinelibre.settings import get_settings

from ..conftest import EVENTS_DIR, REPO_ROOT
from .conftest import TMDB_TEST_KEY, SimulatedLambdaContext, discoverable_ids

SCHEDULED_EVENT = json.loads((EVENTS_DIR / "scheduled-ingest.json").read_text())


def load_function():
    spec = importlib.util.spec_from_file_location(
        "ingest_function_app", REPO_ROOT / "functions" / "ingest" / "app.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@pytest.fixture
def function_env(settings, monkeypatch):
    """What the function's configuration sets, with the sources at their highest permitted request rates."""
    monkeypatch.setenv("TMDB_API_KEY", TMDB_TEST_KEY)
    monkeypatch.setenv("CINELIBRE_INGEST_LANGUAGES", "en,hi")
    monkeypatch.setenv("CINELIBRE_TMDB_REQUESTS_PER_SECOND", "40")
    monkeypatch.setenv("CINELIBRE_GOOGLE_BOOKS_REQUESTS_PER_SECOND", "20")
    get_settings.cache_clear()
    return get_settings()


def count(pg_url: str, sql: str):
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql).fetchall()


def test_the_event_file_is_a_real_eventbridge_scheduled_event():
    assert SCHEDULED_EVENT["detail-type"] == "Scheduled Event" and SCHEDULED_EVENT["source"] == "aws.events"
    assert SCHEDULED_EVENT["resources"][0].startswith("arn:aws:events:") and SCHEDULED_EVENT["detail"] == {}
    assert set(SCHEDULED_EVENT) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }


def test_scheduled_event_runs_every_source_and_returns_the_summary(
    upstream, catalog, clock, function_env, db, pg_url, capfd
):
    handler = load_function()
    summary = handler(SCHEDULED_EVENT, SimulatedLambdaContext(clock))
    assert summary["status"] == "succeeded" and summary["trigger"] == "schedule"
    assert set(summary["sources"]) == {"tmdb", "google_books"}
    tmdb = summary["sources"]["tmdb"]
    assert tmdb["stats"]["new"] == len(discoverable_ids(catalog, ["en", "hi"])) and tmdb["checkpoint"] is None
    assert summary["sources"]["google_books"]["stats"]["new"] > 0
    # The sources run at the same time (issue 11), so either may record its run first.
    assert count(pg_url, "select source, trigger, status from public.ingest_runs order by source") == [
        ("google_books", "schedule", "succeeded"),
        ("tmdb", "schedule", "succeeded"),
    ]
    printed = capfd.readouterr().out
    emf = [json.loads(line) for line in printed.splitlines() if line.startswith("{") and '"_aws"' in line]
    new_movies = [m for m in emf if m.get("source") == "tmdb" and "IngestNew" in m]
    assert new_movies and new_movies[0]["IngestNew"] == [tmdb["stats"]["new"]]
    assert TMDB_TEST_KEY not in printed


def test_stops_before_the_lambda_deadline_and_the_next_invocation_resumes(
    upstream, catalog, clock, function_env, db, pg_url
):
    handler = load_function()
    margin = function_env.ingest_deadline_margin_s
    clock.request_cost_s = 1.0
    clock.left_s = margin + 40.0
    first = handler(SCHEDULED_EVENT, SimulatedLambdaContext(clock))
    # Stopping at the deadline loses nothing: the run did its share and the next one resumes (issue 11).
    assert first["status"] == "succeeded" and first["sources"]["tmdb"]["skipped"] == []
    assert first["sources"]["tmdb"]["stopped_by"] == "deadline"
    assert first["sources"]["tmdb"]["checkpoint"] is not None
    assert clock.left_s > 0, "returned before Lambda's deadline"
    movies_after_first = count(pg_url, "select count(*) from public.movies")[0][0]
    assert 0 < movies_after_first < len(discoverable_ids(catalog, ["en", "hi"]))

    clock.left_s = 900.0
    second = handler(SCHEDULED_EVENT, SimulatedLambdaContext(clock))
    assert second["status"] == "succeeded"
    assert second["sources"]["tmdb"]["stats"]["new"] + first["sources"]["tmdb"]["stats"]["new"] == len(
        discoverable_ids(catalog, ["en", "hi"])
    )
    assert count(pg_url, "select count(*), count(distinct tmdb_id) from public.movies") == [
        (len(discoverable_ids(catalog, ["en", "hi"])),) * 2
    ]


def test_a_manual_invoke_may_name_its_sources(upstream, clock, function_env, db, pg_url):
    handler = load_function()
    summary = handler({"detail": {"sources": ["google_books"]}}, SimulatedLambdaContext(clock))
    assert summary["trigger"] == "manual" and list(summary["sources"]) == ["google_books"]
    with pytest.raises(ValidationError):
        handler({"detail": {"sources": ["imdb"]}}, SimulatedLambdaContext(clock))
