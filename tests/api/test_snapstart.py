"""issue 14: SnapStart on the search function. Lambda runs the init once, snapshots it, and starts later
environments from the snapshot after calling the hooks the function registered (cinelibre.snapstart). Here a
production search handler is initialised as for a snapshot, the before-snapshot hooks run, and then the
after-restore hooks, as Lambda's runtime would call them: no secret is fetched before the snapshot, the
restored handler reads its database URL from SSM (moto), connects afresh and answers, and randomness is
re-seeded so two environments restored from one snapshot do not share it."""

from __future__ import annotations

import random
from collections.abc import Iterator

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from cinelibre import snapstart
from cinelibre.cli.invoke import load_handler
from cinelibre.db import close_databases, get_database
from cinelibre.embedding import Embedder
from cinelibre.settings import get_settings
from tests.api.lambda_events import EVENTS_DIR, invoke, load_event

PARAMETER = "/cinelibre/database-url"


@pytest.fixture
def snapstart_init(monkeypatch: pytest.MonkeyPatch, pg_url: str) -> Iterator[pytest.MonkeyPatch]:
    """The environment template.yaml gives the search function, initialising for a SnapStart snapshot."""
    for name in ("DATABASE_URL", "JWT_SECRET", "CINELIBRE_JWT_SECRET", "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CINELIBRE_ENV", "production")
    monkeypatch.setenv("CINELIBRE_DATABASE_URL_PARAMETER", f"ssm:{PARAMETER}")
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "snap-start")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")

    def reset() -> None:
        snapstart.forget_hooks()
        get_settings.cache_clear()
        close_databases()
        parameters.clear_caches()

    reset()
    with mock_aws():
        yield monkeypatch
    reset()


def test_a_restored_search_handler_fetches_its_secret_reconnects_and_answers(
    snapstart_init: pytest.MonkeyPatch, pg_url: str, embedder: Embedder, lambda_context
) -> None:
    handler = load_handler("search")  # the init that Lambda snapshots
    # No secret was fetched: the parameter does not even exist yet, and the settings hold no URL.
    assert snapstart.taking_snapshot()
    assert get_settings().database_url is None
    boto3.client("ssm").put_parameter(Name=PARAMETER, Value=pg_url, Type="SecureString")

    assert snapstart.run_before_snapshot_hooks() == ["install_app_hooks.<locals>.close_connections"]
    snapshot_random_state = random.getstate()
    assert snapstart.run_after_restore_hooks() == ["install_app_hooks.<locals>.reload_settings_and_secrets"]

    assert not snapstart.taking_snapshot()
    restored = get_settings()
    assert restored.database_url is not None and restored.database_url.get_secret_value() == pg_url
    health = invoke(handler, lambda_context, load_event(EVENTS_DIR / "search-health.json"))
    search = invoke(handler, lambda_context, load_event(EVENTS_DIR / "search-semantic.json"))
    assert health.status == 200 and health.json()["checks"]["database"]["ok"] is True
    assert search.status == 200 and search.json()["count"] == 0  # an empty catalog, but a real query
    first_database = get_database(restored)

    # A second environment restored from the same snapshot: the secret is fetched again (here rotated),
    # the connection is its own, and its random numbers differ from the first one's.
    rotated = f"{pg_url}{'&' if '?' in pg_url else '?'}application_name=cinelibre-rotated"
    boto3.client("ssm").put_parameter(Name=PARAMETER, Value=rotated, Type="SecureString", Overwrite=True)
    first_draw = random.random()
    random.setstate(snapshot_random_state)
    snapstart.run_after_restore_hooks()
    second_draw = random.random()

    assert get_settings().database_url.get_secret_value() == rotated
    assert get_database(get_settings()) is not first_database
    assert invoke(handler, lambda_context, load_event(EVENTS_DIR / "search-health.json")).status == 200
    assert first_draw != second_draw


def test_without_snapstart_no_hook_is_registered(monkeypatch: pytest.MonkeyPatch, settings, embedder) -> None:
    monkeypatch.delenv("AWS_LAMBDA_INITIALIZATION_TYPE", raising=False)
    snapstart.forget_hooks()
    load_handler("search")

    assert snapstart.run_before_snapshot_hooks() == []
    assert snapstart.run_after_restore_hooks() == []
    assert not snapstart.taking_snapshot()
