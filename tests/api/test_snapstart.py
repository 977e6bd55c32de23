"""issue 14: SnapStart on the HTTP functions (search, auth, recommend). Lambda runs the init once, snapshots it, and
starts later environments from the snapshot after calling the hooks the function registered (cinelibre.snapstart).
Here a production search handler is initialised as for a snapshot, the before-snapshot hooks run, and then the
after-restore hooks, as Lambda's runtime would call them: no secret is fetched before the snapshot, the restored
handler reads its database URL from SSM (moto), connects afresh and answers, and randomness is re-seeded so two
environments restored from one snapshot do not share it. Auth and recommend sign or verify tokens: their JWT secret,
too, exists only after the restore (the SSM parameter is created after the init), and the restored handlers sign and
verify with it."""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator

import bcrypt
import boto3
import jwt
import psycopg
import pytest
from aws_lambda_powertools.utilities import parameters
from moto import mock_aws

from cinelibre import snapstart
from cinelibre.cli.invoke import load_handler
from cinelibre.db import close_databases, get_database
from cinelibre.db.postgres import PostgresDatabase
from cinelibre.embedding import Embedder
from cinelibre.observability import metrics
from cinelibre.settings import get_settings
from tests.api.lambda_events import EVENTS_DIR, invoke, load_event, with_token

PARAMETER = "/cinelibre/database-url"
JWT_PARAMETER = "/cinelibre/jwt-secret"


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


def _publish_secrets_after_init(pg_url: str) -> str:
    """What the operator stored in SSM; created only now, so an init that had fetched it would have failed."""
    jwt_secret = "restored-" + "s" * 48
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name=PARAMETER, Value=pg_url, Type="SecureString")
    ssm.put_parameter(Name=JWT_PARAMETER, Value=jwt_secret, Type="SecureString")
    return jwt_secret


def test_a_restored_auth_handler_signs_with_the_secret_fetched_after_the_restore(
    snapstart_init: pytest.MonkeyPatch, pg_url: str, db: PostgresDatabase, lambda_context
) -> None:
    snapstart_init.setenv("CINELIBRE_JWT_SECRET_PARAMETER", f"ssm:{JWT_PARAMETER}")  # as template.yaml sets it
    snapstart_init.setenv("CINELIBRE_REQUIRE_EMAIL_CONFIRMATION", "false")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "insert into public.users (email, password_hash, name, email_confirmed_at) values (%s, %s, 'Ana', now())",
            ("ana@example.com", bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(10)).decode()),
        )
    handler = load_handler("auth")  # the init that Lambda snapshots
    assert snapstart.taking_snapshot()
    assert get_settings().jwt_secret is None and get_settings().database_url is None
    # zxcvbn's lists are loaded at init under SnapStart, so the snapshot holds them.
    assert "zxcvbn" in sys.modules
    jwt_secret = _publish_secrets_after_init(pg_url)

    snapstart.run_before_snapshot_hooks()
    snapstart.run_after_restore_hooks()

    health = invoke(handler, lambda_context, load_event(EVENTS_DIR / "auth-health.json"))
    assert health.status == 200 and health.json()["checks"]["database"]["ok"] is True
    login = invoke(handler, lambda_context, load_event(EVENTS_DIR / "auth-login.json"))
    assert login.status == 200, login.json()
    access_token = login.json()["access_token"]
    claims = jwt.decode(access_token, jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["sub"]
    me = invoke(handler, lambda_context, with_token(load_event(EVENTS_DIR / "auth-me.json"), access_token))
    assert me.status == 200 and me.json()["email"] == "ana@example.com"


def test_a_restored_recommend_handler_verifies_tokens_with_the_secret_fetched_after_the_restore(
    snapstart_init: pytest.MonkeyPatch, pg_url: str, db: PostgresDatabase, lambda_context
) -> None:
    snapstart_init.setenv("CINELIBRE_JWT_SECRET_PARAMETER", f"ssm:{JWT_PARAMETER}")  # as template.yaml sets it
    primed: list[int] = []
    prime = snapstart.prime
    snapstart_init.setattr(snapstart, "prime", lambda adapter: primed.append(prime(adapter)) or primed[-1])
    handler = load_handler("recommend")  # the init that Lambda snapshots
    assert snapstart.taking_snapshot()
    assert get_settings().jwt_secret is None
    # The init answered one priming request (a 404, with no secret and no database to reach) and left no
    # metric behind for the first real invocation to report.
    assert primed == [404]
    assert metrics.metric_set == {}
    jwt_secret = _publish_secrets_after_init(pg_url)

    snapstart.run_before_snapshot_hooks()
    snapstart.run_after_restore_hooks()

    with psycopg.connect(pg_url, autocommit=True) as conn:
        (user_id,) = conn.execute(
            "insert into public.users (email, password_hash, name) values ('bo@example.com', %s, 'Bo') returning id",
            (bcrypt.hashpw(b"another horse battery", bcrypt.gensalt(10)).decode(),),
        ).fetchone()
    from cinelibre.auth.tokens import TokenService

    restored = get_settings()
    assert restored.jwt_secret is not None and restored.jwt_secret.get_secret_value() == jwt_secret
    session_id = db.start_auth_session(user_id=str(user_id), refresh_token_hash="0" * 64, ttl_s=3600)
    signed = TokenService.from_settings(restored).issue(str(user_id), session_id).token
    personalised = load_event(EVENTS_DIR / "recommend-personalized.json")
    assert invoke(handler, lambda_context, with_token(personalised, signed)).status == 200
    # The same claims signed with any other secret (say, one captured before a rotation) are refused.
    claims = jwt.decode(signed, jwt_secret, algorithms=["HS256"], options={"verify_aud": False})
    other_secret = jwt.encode(claims, "another-" + "k" * 48, algorithm="HS256")
    assert invoke(handler, lambda_context, with_token(personalised, other_secret)).status == 401
