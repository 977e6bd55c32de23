"""`cinelibre migrate` and `cinelibre db ...` through the real console entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cinelibre.db.migrate import discover

REPO = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).with_name("cinelibre")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)


@pytest.fixture
def cli_env(pg_url: str) -> dict[str, str]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database if exists cli_migrate with (force)")
        conn.execute("create database cli_migrate")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CINELIBRE_"))}
    env["DATABASE_URL"] = pg_url.replace("/cinelibre?", "/cli_migrate?", 1)
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return env


def test_migrate_applies_everything_then_nothing(cli_env):
    first = _run("migrate", env=cli_env)
    assert first.returncode == 0, first.stderr
    assert f"applied {len(discover())} migration(s)" in first.stdout
    second = _run("migrate", env=cli_env)
    assert second.returncode == 0 and "database is up to date" in second.stdout


def test_migrate_names_the_setting_when_the_database_is_unreachable(cli_env):
    cli_env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2"
    result = _run("migrate", env=cli_env)
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_db_status_and_lifecycle_of_the_embedded_server(tmp_path, cli_env):
    env = {k: v for k, v in cli_env.items() if k != "DATABASE_URL"}
    env["CINELIBRE_DATA_DIR"] = str(tmp_path)
    def output(*args: str) -> str:
        result = _run(*args, env=env)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "not running" in output("db", "status")
    assert "running: postgresql://" in output("db", "start")
    assert "running (pid" in output("db", "status")
    assert "stopped" in output("db", "stop")
    assert "not running" in output("db", "status")
    assert "not running" in output("db", "stop")
