"""`cinelibre ingest` end to end: the command against the replay server on a local port (real HTTP, no
mocks), filling the database; a second run embeds and writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
import typer
from typer.testing import CliRunner

from cinelibre.cli.ingest import register
from cinelibre.ingest.replay import RecordedCatalog
from cinelibre.settings import get_settings

from .conftest import FIXTURES, TMDB_TEST_KEY, serving


@pytest.fixture
def replay_server() -> Iterator[tuple[str, RecordedCatalog]]:
    catalog = RecordedCatalog(FIXTURES)
    with serving(catalog) as base:
        yield base, catalog


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def noop() -> None:
        """Typer runs a lone command as the app itself; a second one keeps `ingest` a subcommand."""

    return app


@pytest.fixture
def pointed_at(replay_server, settings, monkeypatch):
    base, catalog = replay_server
    monkeypatch.setenv("CINELIBRE_TMDB_BASE_URL", f"{base}/3")
    monkeypatch.setenv("CINELIBRE_GOOGLE_BOOKS_BASE_URL", f"{base}/books/v1")
    monkeypatch.setenv("TMDB_API_KEY", TMDB_TEST_KEY)
    monkeypatch.setenv("CINELIBRE_INGEST_LANGUAGES", "en")
    monkeypatch.setenv("CINELIBRE_TMDB_REQUESTS_PER_SECOND", "40")
    monkeypatch.setenv("CINELIBRE_GOOGLE_BOOKS_REQUESTS_PER_SECOND", "20")
    get_settings.cache_clear()
    return catalog


def counts(pg_url: str) -> tuple[int, int, int]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            "select (select count(*) from public.movies), (select count(*) from public.books), "
            "(select count(*) from public.ingest_runs)"
        ).fetchone()


def test_ingest_fills_the_database_from_the_replay_server_and_a_second_run_changes_nothing(
    cli, pointed_at, db, pg_url
):
    runner = CliRunner()
    first = runner.invoke(cli, ["ingest"])
    assert first.exit_code == 0, first.output
    movies, books, runs = counts(pg_url)
    assert movies > 50 and books > 0 and runs == 2
    assert "overall: succeeded" in first.output
    tmdb_line = next(line for line in first.output.splitlines() if line.startswith("tmdb "))
    assert tmdb_line.split()[1:5] == ["succeeded", str(movies), str(movies), "0"]

    second = runner.invoke(cli, ["ingest", "--json"])
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output[second.output.index("{") :])
    for run in summary["sources"].values():
        assert run["stats"]["embedded"] == run["stats"]["new"] == run["stats"]["updated"] == 0
        assert run["stats"]["unchanged"] == run["stats"]["fetched"] > 0
    assert counts(pg_url) == (movies, books, 4)


def test_dry_run_and_limit(cli, pointed_at, db, pg_url):
    runner = CliRunner()
    dry = runner.invoke(cli, ["ingest", "--source", "tmdb", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.output and counts(pg_url) == (0, 0, 0)
    limited = runner.invoke(cli, ["ingest", "--source", "books", "--limit", "3"])
    assert limited.exit_code == 0, limited.output
    assert counts(pg_url)[1] == 3
    assert "stopped early (limit)" in limited.output


def test_a_missing_key_fails_the_command_with_the_reason(cli, pointed_at, db, pg_url, monkeypatch):
    monkeypatch.delenv("TMDB_API_KEY")
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["ingest", "--source", "tmdb"])
    assert result.exit_code == 1
    assert "TMDB_API_KEY" in result.output and "failed" in result.output
    assert counts(pg_url)[0] == 0
