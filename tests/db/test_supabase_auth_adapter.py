"""Contract tests of the Supabase adapter for the account RPCs (issue 10): sessions, refresh tokens, rate-limit
buckets and email tokens.

respx stands in for Supabase's hosted PostgREST, as in test_supabase_adapter.py, but instead of canned answers
it does what PostgREST does with an RPC request: it refuses a body whose keys are not exactly the function's
parameter names, reads the arguments out of the JSON body with `json_to_record` (so a JSON value of the wrong
type fails as it would there), calls the function on the real migrated database in one transaction and answers
with PostgreSQL's own JSON (timestamps and uuids as strings; a set as an array; a scalar bare; void as 204).
So every request shape the adapter sends is checked against the SQL signature, and every answer the adapter
reads has the shape PostgREST gives it."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import httpx
import psycopg
import pytest
import respx
from psycopg import sql

from cinelibre.auth.accounts import AccountService, new_secret_token, token_hash
from cinelibre.auth.ratelimit import RateLimiter
from cinelibre.auth.tokens import TokenService
from cinelibre.auth.workgate import HashingGate
from cinelibre.db.supabase import SupabaseDatabase
from cinelibre.errors import AuthenticationError, ConflictError, PermissionDeniedError, RateLimitedError
from cinelibre.settings import RateLimitRule

URL = "https://abcdefghijklmnop.supabase.co"
KEY = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJyb2xlIjoic2VydmljZV9yb2xlIn0.c2lnbmF0dXJlLW5vdC1jaGVja2Vk"
RPC = f"{URL}/rest/v1/rpc"
PASSWORD = "correct horse battery"

# Every account RPC the adapter calls (db/rpc.py, the issue-10 blocks). The last test checks each was called.
AUTH_RPCS = {
    "take_rate_limit_tokens_async_commit", "prune_rate_limit_buckets", "register_user", "get_auth_account",
    "start_auth_session", "check_auth_session", "rotate_refresh_token", "revoke_auth_sessions",
    "set_user_password", "issue_email_token", "confirm_email", "reset_password", "delete_user",
    "request_password_reset",
}

SIGNATURE = """
select count(*) over (), p.proretset, format_type(p.prorettype, null),
       coalesce((select array_agg(a.name order by a.ord)
                   from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                               coalesce(p.proargmodes, array_fill('i'::"char",
                                        array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))])))
                        with ordinality as a(typ, name, mode, ord)
                  where a.mode in ('i', 'b', 'v')), '{}'),
       coalesce((select array_agg(format_type(a.typ, null) order by a.ord)
                   from unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]),
                               coalesce(p.proargmodes, array_fill('i'::"char",
                                        array[cardinality(coalesce(p.proallargtypes, p.proargtypes::oid[]))])))
                        with ordinality as a(typ, mode, ord)
                  where a.mode in ('i', 'b', 'v')), '{}')
from pg_proc p where p.proname = %s and p.pronamespace = 'public'::regnamespace
"""


class PostgrestOnTheRealDatabase:
    """What PostgREST does with `POST /rpc/<function>` and a JSON body, on the test database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls: list[tuple[str, dict]] = []
        self.void_as_204 = True

    def __call__(self, request: httpx.Request, function: str) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {KEY}" and request.headers["apikey"] == KEY
        body = json.loads(request.content)
        self.calls.append((function, body))
        with psycopg.connect(self.url) as conn:
            found = conn.execute(SIGNATURE, (function,)).fetchall()
            if len(found) != 1:
                # PostgREST answers 404 PGRST202 for no match; two overloads make named calls ambiguous.
                return httpx.Response(404 if not found else 300, json={
                    "code": "PGRST202" if not found else "PGRST203", "message": f"{len(found)} x {function}",
                    "details": None, "hint": None})
            _, returns_set, return_type, names, types = found[0]
            if set(body) != set(names):
                return httpx.Response(404, json={
                    "code": "PGRST202", "details": None, "hint": None,
                    "message": f"Could not find the function public.{function}({', '.join(sorted(body))})"})
            record = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(kind))
                for name, kind in zip(names, types, strict=True)
            )
            call = sql.SQL("public.{}({})").format(sql.Identifier(function), sql.SQL(", ").join(
                sql.SQL("{} => args.{}").format(sql.Identifier(name), sql.Identifier(name)) for name in names))
            if returns_set:
                query = sql.SQL(
                    "select coalesce(json_agg(r), '[]'::json) from json_to_record(%s::json) as args({}),"
                    " lateral {} as r").format(record, call)
            elif return_type == "void":
                query = sql.SQL(
                    "select null::json from json_to_record(%s::json) as args({}), lateral (select {}) as called"
                ).format(record, call)
            elif names:
                query = sql.SQL("select to_json({}) from json_to_record(%s::json) as args({})").format(call, record)
            else:
                query = sql.SQL("select to_json({})").format(call)
            try:
                with conn.transaction():
                    cursor = conn.execute(query, (json.dumps(body),) if names else ())
                    (answer,) = cursor.fetchone()
            except psycopg.Error as exc:
                state = exc.sqlstate or ""
                status = 409 if state in ("23505", "23503") else 400
                return httpx.Response(status, json={"code": state, "message": str(exc).splitlines()[0],
                                                    "details": None, "hint": None})
        if return_type == "void" and self.void_as_204:
            return httpx.Response(204)
        return httpx.Response(200, json=answer)


@pytest.fixture
def postgrest(pg_url, db):  # db: every table is emptied after the test
    emulator = PostgrestOnTheRealDatabase(pg_url)
    with respx.mock(assert_all_called=True) as router:
        router.post(url__regex=rf"^{re.escape(RPC)}/(?P<function>\w+)$").mock(side_effect=emulator)
        yield emulator, SupabaseDatabase(URL, KEY, timeout_s=3)


def make_user(database: SupabaseDatabase, email: str = "ana@example.com") -> dict:
    return database.register_user(email=email, password_hash="$2b$12$" + "x" * 53, name="Ana", confirmed=True)


def test_register_and_look_up_accounts(postgrest):
    emulator, database = postgrest
    user = make_user(database)
    assert set(user) == {"id", "email", "name", "created_at", "email_confirmed_at"}
    assert isinstance(user["created_at"], str)  # PostgREST sends timestamps as ISO strings
    with pytest.raises(ConflictError):
        make_user(database)
    by_email = database.get_auth_account(email="ana@example.com")
    by_id = database.get_auth_account(user_id=user["id"])
    assert by_email == by_id and by_email["password_hash"].startswith("$2b$12$")
    assert database.get_auth_account(email="nobody@example.com") is None
    assert emulator.calls[0] == ("register_user", {
        "user_email": "ana@example.com", "user_password_hash": "$2b$12$" + "x" * 53, "user_name": "Ana",
        "mark_confirmed": True})
    assert emulator.calls[2] == ("get_auth_account", {"user_email": "ana@example.com", "target_user_id": None})


def test_sessions_refresh_and_revocation(postgrest):
    emulator, database = postgrest
    user = make_user(database)
    first = new_secret_token()
    session_id = database.start_auth_session(user_id=user["id"], refresh_token_hash=token_hash(first), ttl_s=3600)
    assert re.fullmatch(r"[0-9a-f-]{36}", session_id)  # a bare JSON string, not a list
    assert database.check_auth_session(session_id=session_id, user_id=user["id"]) is True

    second = new_secret_token()
    rotated = database.rotate_refresh_token(
        presented_hash=token_hash(first), next_hash=token_hash(second), next_wrapped="ab" * 32,
        reuse_grace_s=10, owner_limit=(30, 300.0))
    assert rotated["outcome"] == "rotated" and rotated["user_id"] == user["id"]
    assert emulator.calls[-1][1] == {
        "presented_hash": token_hash(first), "next_hash": token_hash(second), "next_wrapped": "ab" * 32,
        "reuse_grace_s": 10.0, "owner_burst": 30, "owner_period_s": 300.0}
    again = database.rotate_refresh_token(
        presented_hash=token_hash(first), next_hash=token_hash(new_secret_token()), next_wrapped="cd" * 32,
        reuse_grace_s=10)
    assert again["outcome"] == "reissued" and again["successor_hash"] == token_hash(second)
    assert again["successor_wrapped"] == "ab" * 32
    assert emulator.calls[-1][1]["owner_burst"] is None and emulator.calls[-1][1]["owner_period_s"] is None

    assert database.revoke_auth_sessions(user_id=user["id"], reason="logout", session_id=session_id) == 1
    assert database.check_auth_session(session_id=session_id, user_id=user["id"]) is False
    gone = database.rotate_refresh_token(
        presented_hash=token_hash(second), next_hash=token_hash(new_secret_token()), next_wrapped="ef" * 32,
        reuse_grace_s=10)
    assert gone["outcome"] == "revoked"


def test_rate_limit_buckets(postgrest):
    emulator, database = postgrest
    buckets = [("login:ip:abc", 2, 300), ("login:account:def", 5, 300.0)]
    first = database.take_rate_limit_tokens(buckets=buckets)
    assert {row["bucket_key"]: row["allowed"] for row in first} == {"login:ip:abc": True, "login:account:def": True}
    assert emulator.calls[-1][1] == {
        "bucket_keys": ["login:ip:abc", "login:account:def"], "bucket_bursts": [2, 5],
        "bucket_periods_s": [300.0, 300.0]}
    database.take_rate_limit_tokens(buckets=buckets)
    third = {row["bucket_key"]: row for row in database.take_rate_limit_tokens(buckets=buckets)}
    assert third["login:ip:abc"]["allowed"] is False and third["login:ip:abc"]["retry_after_s"] > 0
    assert isinstance(database.prune_rate_limit_buckets(), int)


def test_the_limiter_over_postgrest_refuses_with_retry_after(postgrest, settings):
    _, database = postgrest
    limiter = RateLimiter(database, settings.model_copy(update={"rate_limit_login_per_ip": RateLimitRule(1, 60)}))
    from cinelibre.auth.ratelimit import Action

    limiter.check(Action.LOGIN, ip="203.0.113.9")
    with pytest.raises(RateLimitedError) as refused:
        limiter.check(Action.LOGIN, ip="203.0.113.9")
    assert refused.value.retry_after_s > 0


@pytest.mark.parametrize("void_as_204", [True, False], ids=["void-204", "void-null"])
def test_email_tokens_passwords_and_deletion(postgrest, void_as_204):
    emulator, database = postgrest
    emulator.void_as_204 = void_as_204
    user = make_user(database)
    confirm = new_secret_token()
    assert database.issue_email_token(
        user_id=user["id"], purpose="confirm_email", token_hash=token_hash(confirm), ttl_s=3600) is None
    confirmed = database.confirm_email(token_hash=token_hash(confirm))
    assert confirmed is not None and confirmed["id"] == user["id"]
    assert database.confirm_email(token_hash=token_hash(confirm)) is None  # single use

    reset = new_secret_token()
    requested = database.request_password_reset(email="ana@example.com", token_hash=token_hash(reset), ttl_s=3600)
    assert requested == {"user_id": user["id"], "email": "ana@example.com"}
    assert database.request_password_reset(
        email="nobody@example.com", token_hash=token_hash(new_secret_token()), ttl_s=3600) is None
    assert database.reset_password(token_hash=token_hash(reset), password_hash="$2b$12$" + "r" * 53) == user["id"]
    assert database.reset_password(token_hash=token_hash(reset), password_hash="$2b$12$" + "s" * 53) is None

    assert database.set_user_password(
        user_id=user["id"], password_hash="$2b$12$" + "n" * 53, keep_session_id=None) is True
    assert database.delete_user(user_id=user["id"]) is True
    assert database.delete_user(user_id=user["id"]) is False


def service(database: SupabaseDatabase, settings, outbox) -> AccountService:
    changed = settings.model_copy(update={"email_request_min_duration_s": 0.0, "require_email_confirmation": True})
    return AccountService(
        database, changed, tokens=TokenService.from_settings(changed), gate=HashingGate(2, 5.0), sender=outbox,
    )


def test_the_account_service_over_postgrest_end_to_end(postgrest, settings, tmp_path):
    """Every account flow the auth function runs, over the Supabase adapter: each RPC it calls is checked
    against its SQL signature by the emulator, and the adapter reads PostgREST's answers."""
    from cinelibre.auth.email import OutboxEmailSender
    from tests.auth.conftest import Outbox

    emulator, database = postgrest
    outbox = Outbox(tmp_path / "outbox")
    accounts = service(database, settings, OutboxEmailSender(outbox.directory))

    async def flows() -> None:
        registered = await accounts.register(email="Ana@Example.com", password=PASSWORD, name="Ana", ip="203.0.113.1")
        assert registered.tokens is None
        session = await accounts.confirm_email(token=outbox.token(), ip="203.0.113.1")
        claims = accounts.tokens.verify(session.access_token)
        assert database.check_auth_session(session_id=claims.session_id, user_id=claims.user_id)

        rotated = await accounts.refresh(refresh_token=session.refresh_token, ip="203.0.113.1")
        repeated = await accounts.refresh(refresh_token=session.refresh_token, ip="203.0.113.2")
        assert repeated.refresh_token == rotated.refresh_token
        await accounts.logout(accounts.tokens.verify(rotated.access_token))
        with pytest.raises(AuthenticationError):
            await accounts.refresh(refresh_token=rotated.refresh_token, ip="203.0.113.1")

        await accounts.resend_confirmation(email="ana@example.com", ip="203.0.113.1")  # confirmed: nothing sent
        await accounts.forgot_password(email="ana@example.com", ip="203.0.113.1")
        await accounts.forgot_password(email="nobody@example.com", ip="203.0.113.1")
        await accounts.reset_password(token=outbox.token(), new_password="violet marmalade kettle", ip="203.0.113.1")
        with pytest.raises(AuthenticationError):
            await accounts.login(email="ana@example.com", password=PASSWORD, ip="203.0.113.1")
        fresh = await accounts.login(email="ana@example.com", password="violet marmalade kettle", ip="203.0.113.1")
        fresh_claims = accounts.tokens.verify(fresh.access_token)
        await accounts.change_password(
            fresh_claims, current_password="violet marmalade kettle", new_password="quiet orange lantern 7",
            ip="203.0.113.1")
        assert await accounts.logout_all(fresh_claims) == 1
        with pytest.raises(PermissionDeniedError):
            await accounts.delete_account(fresh_claims, password="wrong password", ip="203.0.113.1")
        await accounts.delete_account(fresh_claims, password="quiet orange lantern 7", ip="203.0.113.1")
        assert database.get_auth_account(email="ana@example.com") is None

    asyncio.run(flows())
    called = Counter(function for function, _ in emulator.calls)
    # The prune call is random (one request in 500); it is covered by test_rate_limit_buckets.
    assert AUTH_RPCS - {"prune_rate_limit_buckets"} <= set(called), AUTH_RPCS - set(called)


def test_the_emulator_refuses_what_postgrest_would(postgrest):
    """The checks above bite: last session's three-argument rotate_refresh_token body, a misspelt key and a
    JSON value of the wrong type are all refused, as PostgREST refuses them."""
    from cinelibre.errors import DatabaseError, ValidationError

    emulator, database = postgrest
    old_shape = {"presented_hash": "a" * 64, "next_hash": "b" * 64, "reuse_grace_s": 10.0}
    with pytest.raises(DatabaseError):
        database.transport.rows("rotate_refresh_token", old_shape)
    with pytest.raises(DatabaseError):
        database.transport.rows("get_auth_account", {"email": "ana@example.com", "target_user_id": None})
    with pytest.raises(ValidationError):
        database.transport.rows("take_rate_limit_tokens", {
            "bucket_keys": ["k"], "bucket_bursts": [2.5], "bucket_periods_s": [60.0]})
    assert [function for function, _ in emulator.calls] == [
        "rotate_refresh_token", "get_auth_account", "take_rate_limit_tokens"]
