"""Connected as Supabase's `anon` role, nothing personal can be read or called; the catalog can."""

from __future__ import annotations

import psycopg
import pytest

from tests.db.catalog_rows import movie

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"
PERSONAL_TABLES = ["users", "ratings", "interactions", "ingest_runs", "ingest_checkpoints", "item_rating_stats"]
PRIVATE_FUNCTIONS = [
    "select * from public.get_user_credentials('ana@example.com')",
    "select * from public.create_user('eve@example.com', '$2b$10$x', 'Eve')",
    "select * from public.list_user_ratings('00000000-0000-0000-0000-000000000000'::uuid)",
    "select * from public.get_popular_items()",
    "select * from public.upsert_movies('[]'::jsonb)",
]


@pytest.fixture
def populated(db):
    user = db.create_user(email="ana@example.com", password_hash=HASH, name="Ana")
    db.upsert_movies(movies=[movie(1, "Public Film")])
    item = db.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=1, offset=0)[0][0]["id"]
    db.upsert_rating(user_id=user["id"], item_id=item, rating=4.0)
    db.record_interaction(user_id=user["id"], kind="view", item_id=item, query=None)
    return user


def _as(role: str, pg_url: str) -> psycopg.Connection:
    conn = psycopg.connect(pg_url, autocommit=True)
    conn.execute(f"set role {role}")
    return conn


@pytest.mark.parametrize("role", ["anon", "authenticated"])
@pytest.mark.parametrize("table", PERSONAL_TABLES)
def test_client_roles_cannot_read_personal_tables(populated, pg_url, role, table):
    with _as(role, pg_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(f"select * from public.{table}")


@pytest.mark.parametrize("table", ["users", "ratings", "interactions"])
def test_row_level_security_hides_rows_even_if_a_grant_slips_in(populated, pg_url, table):
    """Supabase grants table access to anon by default; RLS (with no policy) must still show nothing."""
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"grant select on public.{table} to anon")
    try:
        with _as("anon", pg_url) as conn:
            assert conn.execute(f"select count(*) from public.{table}").fetchone()[0] == 0
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"revoke select on public.{table} from anon")


@pytest.mark.parametrize("statement", PRIVATE_FUNCTIONS)
def test_anon_cannot_execute_private_functions(populated, pg_url, statement):
    with _as("anon", pg_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(statement)


def test_anon_can_browse_the_catalog(populated, pg_url):
    with _as("anon", pg_url) as conn:
        assert conn.execute("select title from public.list_movies()").fetchall() == [("Public Film",)]


def test_service_role_can_read_everything(populated, pg_url):
    with _as("service_role", pg_url) as conn:
        assert conn.execute("select count(*) from public.get_user_credentials('ana@example.com')").fetchone()[0] == 1
        assert conn.execute("select count(*) from public.ratings").fetchone()[0] == 1
