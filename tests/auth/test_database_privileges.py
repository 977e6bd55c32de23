"""The account functions and tables are for the service role alone: Supabase exposes every public function
and table to the anon and authenticated roles through PostgREST unless their privileges are revoked."""

from __future__ import annotations

import psycopg
import pytest

from tests.db.test_supabase_auth_adapter import AUTH_RPCS

# take_rate_limit_tokens: called by the adapter through take_rate_limit_tokens_async_commit, and by SQL.
ACCOUNT_FUNCTIONS = sorted(AUTH_RPCS | {"rate_limit_account_key", "take_rate_limit_tokens"})
ACCOUNT_TABLES = ["auth_sessions", "auth_refresh_tokens", "auth_email_tokens", "rate_limit_buckets"]


@pytest.mark.parametrize("role", ["anon", "authenticated"])
def test_client_roles_cannot_execute_any_account_function(pg_url, role):
    """has_function_privilege counts grants to PUBLIC too, which every role inherits."""
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "select p.proname, has_function_privilege(%s, p.oid, 'execute'),"
            " has_function_privilege('service_role', p.oid, 'execute')"
            " from pg_proc p where p.pronamespace = 'public'::regnamespace and p.proname = any(%s)",
            (role, ACCOUNT_FUNCTIONS),
        ).fetchall()
    assert sorted(name for name, _, _ in rows) == ACCOUNT_FUNCTIONS  # one of each: no stale overload
    assert [name for name, allowed, _ in rows if allowed] == []
    assert all(service for _, _, service in rows)


@pytest.mark.parametrize("table", ACCOUNT_TABLES)
def test_client_roles_cannot_touch_account_tables(pg_url, table):
    with psycopg.connect(pg_url) as conn:
        for role in ("anon", "authenticated"):
            for privilege in ("select", "insert", "update", "delete"):
                (allowed,) = conn.execute(
                    "select has_table_privilege(%s, %s, %s)", (role, f"public.{table}", privilege)
                ).fetchone()
                assert not allowed, (role, table, privilege)
