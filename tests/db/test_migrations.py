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


def test_migrations_directory_is_the_repository_one():
    assert Path(migrate.__file__).resolve().parents[3] / "supabase" / "migrations" == MIGRATIONS_DIR
