"""Rate limits shared through PostgreSQL, through the auth and search handlers on the real database: exact
under concurrency, 429 with Retry-After, keyed by the request context's source IP (not a spoofable header)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter

import psycopg
import pytest

from cinelibre.auth.workgate import HashingGate
from cinelibre.errors import OverloadedError
from cinelibre.settings import RateLimitRule, load_settings

PASSWORD = "correct horse battery"


# Fifty requests at once share the test pool's few connections; on a starved machine a 1 s pool wait would
# answer some with 503 after they passed the limiter, hiding what these tests count.
PATIENT_POOL = {"db_pool_timeout_s": 30.0, "db_connect_timeout_s": 30.0}


def login(client, email="ana@example.com", password="wrong password", **options):
    return client.post("/auth/login", json_body={"email": email, "password": password}, **options)


def in_parallel(count: int, call) -> list:
    start = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        # Mangum drives the app on the calling thread's event loop; a worker thread needs its own.
        asyncio.set_event_loop(asyncio.new_event_loop())
        start.wait()
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifty_parallel_logins_from_one_ip_against_a_limit_of_ten_let_exactly_ten_through(account_client):
    client = account_client(
        rate_limit_login_per_ip=RateLimitRule(10, 300),
        rate_limit_login_per_account=None,
        bcrypt_concurrency=4,
        bcrypt_queue_timeout_s=30.0,
        **PATIENT_POOL,
    )
    # Fifty different accounts, so only the per-IP limit can refuse; a wrong password is a 401 (got through).
    responses = in_parallel(50, lambda index: login(client, email=f"user{index}@example.com"))
    statuses = Counter(response.status for response in responses)
    assert statuses == {401: 10, 429: 40}
    limited = next(response for response in responses if response.status == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    assert set(limited.json()) >= {"error"}


def test_the_per_account_limit_holds_across_ips_and_the_right_password_waits_too(account_client):
    client = account_client(
        rate_limit_login_per_ip=RateLimitRule(100, 300), rate_limit_login_per_account=RateLimitRule(3, 300)
    )
    client.post("/auth/register", json_body={"email": "ana@example.com", "password": PASSWORD, "name": "Ana"})
    statuses = []
    for index in range(4):
        event_ip = f"198.51.100.{index + 1}"
        statuses.append(login(client, password="guess", headers={}, source_ip=event_ip).status)
    assert statuses == [401, 401, 401, 429]
    # Brute force stops here: even the right password is refused until the bucket refills.
    right = login(client, password=PASSWORD, source_ip="198.51.100.9")
    assert right.status == 429 and "retry-after" in right.headers


def test_x_forwarded_for_does_not_move_a_client_to_a_new_bucket(account_client):
    client = account_client(
        rate_limit_login_per_ip=RateLimitRule(2, 300), rate_limit_login_per_account=None, **PATIENT_POOL
    )
    statuses = [
        login(client, email=f"u{index}@example.com", headers={"x-forwarded-for": f"10.0.0.{index}"}).status
        for index in range(3)
    ]
    assert statuses == [401, 401, 429]


def test_a_trusted_proxy_hop_makes_the_forwarded_address_the_client(account_client):
    client = account_client(
        rate_limit_login_per_ip=RateLimitRule(1, 300), rate_limit_login_per_account=None, trusted_proxy_hops=1
    )
    # The proxy appends the address it saw; whatever the client wrote before it is ignored.
    first = login(client, email="a@example.com", headers={"x-forwarded-for": "1.1.1.1, 203.0.113.5"})
    second = login(client, email="b@example.com", headers={"x-forwarded-for": "2.2.2.2, 203.0.113.5"})
    third = login(client, email="c@example.com", headers={"x-forwarded-for": "203.0.113.6"})
    assert (first.status, second.status, third.status) == (401, 429, 401)


def test_registration_and_refresh_are_limited_per_ip(account_client):
    client = account_client(
        rate_limit_register_per_ip=RateLimitRule(1, 300), rate_limit_refresh_per_ip=RateLimitRule(1, 300)
    )
    body = {"email": "ana@example.com", "password": PASSWORD, "name": "Ana"}
    first = client.post("/auth/register", json_body=body)
    assert first.status == 201
    assert client.post("/auth/register", json_body=body | {"email": "bo@example.com"}).status == 429
    token = first.json()["refresh_token"]
    assert client.post("/auth/refresh", json_body={"refresh_token": token}).status == 200
    assert client.post("/auth/refresh", json_body={"refresh_token": "x"}).status == 429


def test_parallel_refreshes_of_one_account_let_exactly_its_limit_through(account_client, db, pg_url):
    """Twenty sessions of one account (twenty devices, or twenty stolen tokens) refresh at once from twenty
    addresses: the per-account limit, taken inside rotate_refresh_token, lets exactly five through."""
    from cinelibre.auth.accounts import new_secret_token, token_hash

    client = account_client(
        rate_limit_refresh_per_ip=None, rate_limit_refresh_per_account=RateLimitRule(5, 300), **PATIENT_POOL,
    )
    user = db.create_user(email="ana@example.com", password_hash="$2b$12$" + "x" * 53, name="Ana")
    tokens = [new_secret_token() for _ in range(20)]
    for token in tokens:
        db.start_auth_session(user_id=str(user["id"]), refresh_token_hash=token_hash(token), ttl_s=3600)
    responses = in_parallel(20, lambda index: client.post(
        "/auth/refresh", json_body={"refresh_token": tokens[index]}, source_ip=f"198.51.100.{index + 1}"))
    assert Counter(response.status for response in responses) == {200: 5, 429: 15}
    limited = next(response for response in responses if response.status == 429)
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    # A refused refresh used nothing up: its token still works once the budget refills.
    refused = [tokens[index] for index, response in enumerate(responses) if response.status == 429]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("delete from public.rate_limit_buckets")
    assert client.post("/auth/refresh", json_body={"refresh_token": refused[0]}).status == 200
    # Another account's refreshes are not affected by this one's budget.
    other = db.create_user(email="bo@example.com", password_hash="$2b$12$" + "x" * 53, name="Bo")
    other_token = new_secret_token()
    db.start_auth_session(user_id=str(other["id"]), refresh_token_hash=token_hash(other_token), ttl_s=3600)
    for _ in range(4):
        client.post("/auth/refresh", json_body={"refresh_token": refused[1]})
    assert client.post("/auth/refresh", json_body={"refresh_token": other_token}).status == 200


def test_the_sql_and_python_per_account_bucket_keys_agree(pg_url):
    from cinelibre.auth.ratelimit import Action, bucket_key

    subject = "1f0c3b5e-0000-4000-8000-000000000001"
    with psycopg.connect(pg_url) as conn:
        (key,) = conn.execute("select public.rate_limit_account_key('refresh', %s)", (subject,)).fetchone()
    assert key == bucket_key(Action.REFRESH, "account", subject)


@pytest.mark.parametrize("registered", [True, False], ids=["registered", "unknown"])
def test_parallel_reset_requests_for_one_address_let_exactly_its_limit_through(account_client, registered):
    """Per address, from many IPs; the same for an address with or without an account."""
    client = account_client(
        require_email_confirmation=False, rate_limit_password_reset_per_ip=None,
        rate_limit_password_reset_per_account=RateLimitRule(3, 3600), email_request_min_duration_s=0.0,
        **PATIENT_POOL,
    )
    if registered:
        client.post("/auth/register", json_body={"email": "ana@example.com", "password": PASSWORD, "name": "Ana"})
    responses = in_parallel(20, lambda index: client.post(
        "/auth/password/forgot", json_body={"email": "Ana@example.com"}, source_ip=f"198.51.100.{index + 1}"))
    assert Counter(response.status for response in responses) == {202: 3, 429: 17}
    limited = next(response for response in responses if response.status == 429)
    assert limited.json()["error"]["code"] == "rate_limited" and "retry-after" in limited.headers
    # Another address has its own budget.
    assert client.post("/auth/password/forgot", json_body={"email": "bo@example.com"}).status == 202


@pytest.mark.parametrize("confirmation", [True, False], ids=["confirmation-on", "confirmation-off"])
def test_registration_is_limited_per_address(account_client, confirmation):
    client = account_client(
        require_email_confirmation=confirmation, rate_limit_register_per_ip=None,
        rate_limit_register_per_account=RateLimitRule(2, 3600),
    )
    body = {"email": "ana@example.com", "password": PASSWORD, "name": "Ana"}
    statuses = [
        client.post("/auth/register", json_body=body | {"email": email}, source_ip=f"198.51.100.{index}").status
        for index, email in enumerate(["ana@example.com", "ANA@example.com", "ana@example.com"])
    ]
    assert statuses == ([202, 202, 429] if confirmation else [201, 409, 429])
    assert client.post("/auth/register", json_body=body | {"email": "bo@example.com"}).status in (201, 202)


def test_rate_limits_are_settings_and_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("CINELIBRE_ENV", "test")
    monkeypatch.setenv("CINELIBRE_RATE_LIMIT_LOGIN_PER_IP", "off")
    monkeypatch.setenv("CINELIBRE_RATE_LIMIT_SEARCH_PER_IP", "5/60")
    settings = load_settings()
    assert settings.rate_limit_login_per_ip is None
    assert settings.rate_limit_search_per_ip == RateLimitRule(5, 60)
    assert settings.rate_limit_refresh_per_ip == RateLimitRule(150, 300)  # GoTrue's default
    assert settings.rate_limit_refresh_per_account == RateLimitRule(30, 300)
    assert settings.rate_limit_password_reset_per_account == RateLimitRule(5, 3600)
    assert settings.rate_limit_register_per_account == RateLimitRule(10, 3600)
    monkeypatch.setenv("CINELIBRE_RATE_LIMIT_LOGIN_PER_IP", "lots")
    with pytest.raises(ValueError, match="requests>/<seconds"):
        load_settings()


def test_search_is_limited_per_ip(search_client, settings, lambda_context):
    from cinelibre.api.lambda_handler import make_handler
    from cinelibre.api.search import create_app
    from tests.api.lambda_events import LambdaClient

    client = LambdaClient(
        make_handler(create_app(settings.model_copy(update={"rate_limit_search_per_ip": RateLimitRule(2, 60)}))),
        lambda_context,
    )
    statuses = [client.get("/search/semantic", query={"q": "a heist"}).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    # The catalog routes are not searches and stay open.
    assert client.get("/movies").status == 200


def test_the_hashing_gate_caps_concurrent_work_and_sheds_the_excess():
    gate = HashingGate(concurrency=1, queue_timeout_s=0.05)
    running = []

    def slow_hash() -> str:
        running.append(1)
        time.sleep(0.3)
        return "hashed"

    async def two_at_once():
        return await asyncio.gather(gate.run(slow_hash), gate.run(slow_hash), return_exceptions=True)

    first, second = asyncio.run(two_at_once())
    assert first == "hashed"
    assert isinstance(second, OverloadedError) and second.retry_after_s >= 1
    assert len(running) == 1


def test_a_token_is_taken_without_waiting_for_the_disk_and_only_that_transaction_is_relaxed(pg_url):
    """Issue 12 (search latency): the API's token-taking commit does not wait for its WAL flush; the setting
    ends with the transaction, so nothing committed after it is relaxed, and the count is the same."""
    with psycopg.connect(pg_url) as conn:
        (before,) = conn.execute("show synchronous_commit").fetchone()
        rows = conn.execute(
            "select * from public.take_rate_limit_tokens_async_commit(%s, %s, %s)",
            (["search:ip:async-commit-test"], [2], [60.0]),
        ).fetchall()
        (inside,) = conn.execute("show synchronous_commit").fetchone()
        conn.commit()
        (after,) = conn.execute("show synchronous_commit").fetchone()
        taken = [
            conn.execute(
                "select allowed from public.take_rate_limit_tokens_async_commit(%s, %s, %s)",
                (["search:ip:async-commit-test"], [2], [60.0]),
            ).fetchone()[0]
            for _ in range(2)
        ]
    assert (before, inside, after) == ("on", "off", "on")
    assert [row[1] for row in rows] == [True]
    assert taken == [True, False]  # a burst of two: the third request is refused, as with the durable call
