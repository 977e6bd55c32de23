from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from cinelibre.db import migrate
from cinelibre.db.migrate import MIGRATIONS_DIR, MigrationError, apply_migrations, discover
from cinelibre.embedding import EMBEDDING_DIMENSION


def _fresh_database(pg_url: str, name: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    return pg_url.replace("/cinelibre?", f"/{name}?", 1)


def _schema_snapshot(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select c.relname, c.relkind, pg_get_userbyid(c.relowner) from pg_class c"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' order by 1"
        ).fetchall() + conn.execute(
            "select p.proname, md5(p.prosrc) from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'public' order by 1"
        ).fetchall()


def test_files_follow_the_supabase_cli_naming(tmp_path: Path):
    names = [m.path.name for m in discover()]
    assert names == sorted(names) and len(names) >= 5
    (tmp_path / "create_things.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match="create_things.sql"):
        discover(tmp_path)


def test_migrate_twice_changes_nothing_the_second_time(pg_url: str):
    url = _fresh_database(pg_url, "migrate_twice")
    first = apply_migrations(url)
    assert first == [m.path.name for m in discover()]
    before = _schema_snapshot(url)
    assert apply_migrations(url) == []
    assert _schema_snapshot(url) == before
    with psycopg.connect(url) as conn:
        recorded = conn.execute("select count(*) from supabase_migrations.schema_migrations").fetchone()[0]
    assert recorded == len(first)


def test_a_failing_migration_names_the_file_and_the_database_message(pg_url: str, tmp_path: Path):
    url = _fresh_database(pg_url, "migrate_failing")
    for migration in discover():
        shutil.copy(migration.path, tmp_path)
    (tmp_path / "29991231000000_create_broken.sql").write_text("create table public.broken (id nosuchtype);")
    with pytest.raises(MigrationError) as failure:
        apply_migrations(url, tmp_path)
    assert "29991231000000_create_broken.sql" in failure.value.message
    assert 'type "nosuchtype" does not exist' in failure.value.message
    with psycopg.connect(url) as conn:
        assert conn.execute("select to_regclass('public.broken')").fetchone()[0] is None
        assert conn.execute("select to_regclass('public.movies')").fetchone()[0] == "movies"


def test_an_applied_migration_that_was_edited_is_refused(pg_url: str, tmp_path: Path):
    url = _fresh_database(pg_url, "migrate_edited")
    for migration in discover():
        shutil.copy(migration.path, tmp_path)
    apply_migrations(url, tmp_path)
    first = sorted(tmp_path.glob("*.sql"))[1]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        apply_migrations(url, tmp_path)


def test_vector_columns_match_the_model_dimension(pg_url: str):
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "select c.relname, format_type(a.atttypid, a.atttypmod) from pg_attribute a"
            " join pg_class c on c.oid = a.attrelid where a.attname = 'embedding' and c.relname in ('movies', 'books')"
        ).fetchall()
    assert sorted(rows) == [("books", f"extensions.vector({EMBEDDING_DIMENSION})"),
                            ("movies", f"extensions.vector({EMBEDDING_DIMENSION})")]


def test_every_table_has_row_level_security(pg_url: str):
    with psycopg.connect(pg_url) as conn:
        without = conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " where n.nspname = 'public' and c.relkind = 'r' and not c.relrowsecurity"
        ).fetchall()
    assert without == []


def test_search_functions_pin_their_search_path(pg_url: str):
    with psycopg.connect(pg_url) as conn:
        unpinned = conn.execute(
            "select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace"
            " where n.nspname = 'public' and not coalesce(p.proconfig @> array['search_path=\"\"'], false)"
        ).fetchall()
    assert unpinned == []


def test_the_package_reads_the_repository_migrations_folder_through_its_link():
    """supabase/migrations/ is the single source: in a checkout the package resource is a link to it."""
    repository_folder = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
    assert Path(str(MIGRATIONS_DIR)).resolve() == repository_folder
    assert [m.path.name for m in discover()] == sorted(p.name for p in repository_folder.glob("*.sql"))


# -- statements split as the Supabase CLI splits them ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "statements"),
    [
        ("create table a (id int);\ncreate table b (id int);\n",
         ["create table a (id int)", "create table b (id int)"]),
        ("-- leading comment\nselect 1;\n-- trailing comment\n",
         ["-- leading comment\nselect 1", "-- trailing comment"]),
        ("select 'a;b'; select \"c;d\";", ["select 'a;b'", 'select "c;d"']),
        ("select 'it''s;'; select 2;", ["select 'it''s;'", "select 2"]),
        ("create function f() returns int language sql as $$ select 1; select 2; $$;\nselect 3;",
         ["create function f() returns int language sql as $$ select 1; select 2; $$", "select 3"]),
        ("do $body$ begin perform 1; end $body$; select $1;", ["do $body$ begin perform 1; end $body$", "select $1"]),
        ("/* a; /* nested; */ still; */ select 1; select 2;", ["/* a; /* nested; */ still; */ select 1", "select 2"]),
        ("-- a comment; with a semicolon\nselect 1;", ["-- a comment; with a semicolon\nselect 1"]),
        ("select (1; 2); select 3;", ["select (1; 2)", "select 3"]),
        ("create function g() returns int begin atomic select 1; select 2; end; select 4;",
         ["create function g() returns int begin atomic select 1; select 2; end", "select 4"]),
        ("select 1;;\n\n;", ["select 1"]),
    ],
)
def test_split_statements_like_the_supabase_cli(text: str, statements: list[str]):
    assert migrate.split_statements(text) == statements


def test_every_shipped_migration_splits_back_into_its_own_text():
    for migration in discover():
        statements = migration.statements
        assert statements and all(s == s.strip() and not s.endswith(";") for s in statements)
        for statement in statements:
            assert statement in migration.text, f"{migration.path.name}: a statement that is not in the file"


def test_history_written_whole_by_earlier_versions_is_still_accepted(pg_url: str):
    url = _fresh_database(pg_url, "migrate_whole_history")
    apply_migrations(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for migration in discover():
            conn.execute(
                "update supabase_migrations.schema_migrations set statements = %s where version = %s",
                ([migration.text], migration.version),
            )
    assert apply_migrations(url) == []


def test_history_rows_are_version_name_and_split_statements(pg_url: str):
    url = _fresh_database(pg_url, "migrate_history_rows")
    apply_migrations(url)
    with psycopg.connect(url) as conn:
        recorded = conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by version"
        ).fetchall()
    assert recorded == [(m.version, m.name, m.statements) for m in discover()]
