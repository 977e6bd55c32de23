"""`cinelibre report` through the real console entry point, on a database with recorded impressions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cinelibre.db.postgres import PostgresDatabase
from cinelibre.recommend.offline import fresh_database
from tests.recommend.synthetic import create_users, load_catalog, movie_row

CLI = Path(sys.executable).with_name("cinelibre")


@pytest.fixture
def reported(pg_url: str):
    url = fresh_database(pg_url, "cli_report")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CINELIBRE_"))}
    env["DATABASE_URL"] = url
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    database = PostgresDatabase(url)
    try:
        yield database, env
    finally:
        database.close()


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, timeout=120)


def test_report_prints_click_through_and_ratings_per_method_and_version(reported):
    database, env = reported
    assert _run("report", env=env).stdout.strip() == "no recommendations were recorded as shown in the last 30 days"
    ids = load_catalog(database, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 5)])
    ana = create_users(database, "ana")["ana"]
    database.record_recommendation_impressions(user_id=ana, impressions=[
        {"item_id": ids[f"Film {n}"], "method": "ease", "model_version": 3, "position": n} for n in range(1, 5)
    ])
    database.record_interaction(user_id=ana, kind="click", item_id=ids["Film 2"], query=None)
    database.upsert_rating(user_id=ana, item_id=ids["Film 2"], rating=4.0)

    done = _run("report", "--days", "7", env=env)

    assert done.returncode == 0, done.stderr
    header, row = done.stdout.strip().splitlines()
    assert header.split() == ["day", "method", "model", "shown", "users", "engaged", "CTR", "rated", "rated", "%",
                              "mean", "rating", "liked"]
    assert row.split()[1:] == ["ease", "3", "4", "1", "1", "25.0%", "1", "25.0%", "4.00", "1"]


def test_report_refuses_a_nonsense_window(reported):
    _, env = reported
    done = _run("report", "--days", "0", env=env)
    assert done.returncode == 2 and "--days" in done.stderr
