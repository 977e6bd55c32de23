"""Outcomes an operator can act on (issue 11): succeeded / partial / failed with exit codes 0 / 3 / 1, lost pages
and items listed and retried first by the next run, runs of dead processes closed as `abandoned`, an unreachable
host given up on within about 15 s, `--json` output that is only JSON, and settings errors in one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import psycopg
import pytest
import typer
from typer.testing import CliRunner

from cinelibre.cli.ingest import register
from cinelibre.ingest.handler import IngestRunFailed
from cinelibre.settings import get_settings

from .conftest import TMDB_HOST, TMDB_TEST_KEY, SimulatedLambdaContext, discoverable_ids
from .test_handler import SCHEDULED_EVENT, load_function

LANGUAGES = ["en", "hi"]
FIRST_POPULAR_PAGE = {"primary_release_date.gte": "2020-01-01", "sort_by": "popularity.desc", "page": "1"}


def rows(pg_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(pg_url) as conn:
        return conn.execute(sql, params or None).fetchall()


def is_first_popular_en_page(request: httpx.Request) -> bool:
    params = request.url.params
    return (
        request.url.path == "/3/discover/movie"
        and params["with_original_language"] == "en"
        and all(params.get(name) == value for name, value in FIRST_POPULAR_PAGE.items())
    )


def malformed_first_popular_page(request: httpx.Request) -> httpx.Response | None:
    if is_first_popular_en_page(request):
        return httpx.Response(200, content=b'{"page": 1, "results": [{"id": 1')
    return None


def everything_429(request: httpx.Request) -> httpx.Response | None:
    return httpx.Response(429, json={"status_code": 25, "status_message": "Your request count is over the limit."})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the pipeline ---------------------------------------------------------------------------------------------
def test_a_lost_page_makes_the_run_partial_is_listed_and_is_fetched_first_by_the_next_run(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    faults.append(malformed_first_popular_page)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule").runs[0]
    assert run.status == "partial" and run.stats.failed_pages == 1 and run.stopped_by is None
    assert [(s.kind, s.label, s.retried_later) for s in run.skipped] == [
        ("page", "discover en:popular:2020- page 1", True)
    ]
    assert "not JSON" in run.skipped[0].reason
    queued = rows(pg_url, "select kind, position, attempts from public.ingest_retries")
    assert queued == [("page", {"slice": "en:popular:2020-", "page": 1}, 1)]
    assert rows(pg_url, "select status, error from public.ingest_runs") == [
        ("partial", f"skipped 1: discover en:popular:2020- page 1: {run.skipped[0].reason}")
    ]

    faults.clear()
    requests_before = len(catalog.requests)
    again = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule").runs[0]
    listings = [r for r in catalog.requests[requests_before:] if r.url.path == "/3/discover/movie"]
    assert is_first_popular_en_page(listings[0]), "the lost page is fetched before the plan goes on"
    assert again.status == "succeeded" and again.retried == 1
    assert rows(pg_url, "select count(*) from public.ingest_retries") == [(0,)]
    stored = {r[0] for r in rows(pg_url, "select tmdb_id from public.movies")}
    assert stored == discoverable_ids(catalog, LANGUAGES)


def test_a_lost_item_is_queued_and_fetched_first_by_the_next_run(
    upstream, faults, catalog, ingest_settings, make_pipeline, pg_url
):
    faults.append(lambda request: httpx.Response(500) if request.url.path == "/3/movie/607" else None)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.status == "partial" and run.stats.failed == 1
    assert [(s.kind, s.label) for s in run.skipped] == [("item", "tmdb item 607")]
    assert rows(pg_url, "select kind, retry_key, position from public.ingest_retries") == [
        ("item", "607", {"id": 607})
    ]

    faults.clear()
    requests_before = len(catalog.requests)
    again = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    first_details = next(r for r in catalog.requests[requests_before:] if r.url.path.startswith("/3/movie/"))
    assert first_details.url.path == "/3/movie/607"
    assert again.status == "succeeded" and again.retried == 1
    assert rows(pg_url, "select count(*) from public.movies where tmdb_id = 607") == [(1,)]
    assert rows(pg_url, "select count(*) from public.ingest_retries") == [(0,)]


def test_a_page_still_lost_after_five_runs_is_dropped_and_said_so(
    upstream, faults, ingest_settings, make_pipeline, pg_url
):
    faults.append(malformed_first_popular_page)
    runs = [make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0] for _ in range(5)]
    last = runs[-1]
    assert [run.stats.failed_pages for run in runs] == [1] * 5, "one lost page, counted once a run"
    assert [(s.reason.endswith("(dropped after 5 attempts)"), s.retried_later) for s in last.skipped] == [
        (True, False)
    ]
    assert all(run.status == "partial" for run in runs)
    assert rows(pg_url, "select count(*) from public.ingest_retries") == [(0,)]


def test_every_request_answered_429_is_a_failed_run(upstream, faults, clock, ingest_settings, make_pipeline, pg_url):
    faults.append(everything_429)
    summary = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule")
    run = summary.runs[0]
    assert summary.status == run.status == "failed"
    assert run.stopped_by == "rate_limited" and "429" in run.error
    assert rows(pg_url, "select status from public.ingest_runs") == [("failed",)]


def test_an_unreachable_host_fails_the_run_within_15_seconds(
    upstream, faults, clock, ingest_settings, make_pipeline, pg_url
):
    connect_timeout_s = 3.0  # what each refused attempt may cost: httpx's connect timeout

    def unreachable(request: httpx.Request) -> httpx.Response | None:
        clock.spend(connect_timeout_s)
        raise httpx.ConnectTimeout("timed out", request=request)

    faults.append(unreachable)
    clock.left_s = 900.0
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule").runs[0]
    assert run.status == "failed" and run.stopped_by == "unreachable"
    assert "cannot connect" in run.error and TMDB_TEST_KEY not in run.error
    spent = 900.0 - clock.left_s
    assert spent <= 15.0, f"gave up after {spent:.1f} s"


def test_a_failed_genre_lookup_fails_the_run_instead_of_being_swallowed(
    upstream, faults, ingest_settings, make_pipeline, pg_url
):
    faults.append(lambda request: httpx.Response(500) if request.url.path == "/3/genre/movie/list" else None)
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.status == "failed" and "genre list" in run.error
    assert rows(pg_url, "select count(*) from public.movies") == [(0,)]


def test_runs_left_running_by_a_dead_process_are_closed_as_abandoned(
    upstream, ingest_settings, make_pipeline, db, pg_url
):
    with psycopg.connect(pg_url, autocommit=True) as conn:
        dead = conn.execute(
            "insert into public.ingest_runs (source, trigger, started_at, heartbeat_at)"
            " values ('tmdb', 'schedule', now() - interval '2 hours', now() - interval '100 minutes') returning id"
        ).fetchone()[0]
        alive = conn.execute(
            "insert into public.ingest_runs (source, trigger) values ('tmdb', 'cli') returning id"
        ).fetchone()[0]
        other_source = conn.execute(
            "insert into public.ingest_runs (source, trigger, heartbeat_at)"
            " values ('google_books', 'schedule', now() - interval '100 minutes') returning id"
        ).fetchone()[0]
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="schedule").runs[0]
    assert run.abandoned_run_ids == [dead]
    states = dict(rows(pg_url, "select id, status from public.ingest_runs"))
    assert states[dead] == "abandoned" and states[alive] == "running" and states[other_source] == "running"
    closed = rows(pg_url, "select finished_at is not null, error from public.ingest_runs where id = %s", (dead,))
    assert closed[0][0] and closed[0][1].startswith("abandoned: no heartbeat since")


def test_a_failed_scheduled_run_is_a_failed_invocation_with_its_metrics_out(
    upstream, faults, simulated_waits, settings, monkeypatch, db, pg_url, capfd
):
    monkeypatch.setenv("TMDB_API_KEY", TMDB_TEST_KEY)
    monkeypatch.setenv("CINELIBRE_INGEST_LANGUAGES", "en")
    get_settings.cache_clear()
    faults.append(lambda request: everything_429(request) if request.url.host == TMDB_HOST else None)
    handler = load_function()
    with pytest.raises(IngestRunFailed, match="tmdb"):
        handler({**SCHEDULED_EVENT, "detail": {"sources": ["tmdb"]}}, SimulatedLambdaContext(simulated_waits))
    assert simulated_waits.sleeps, "the refused requests were retried, waiting between tries"
    printed = capfd.readouterr().out
    emf = [json.loads(line) for line in printed.splitlines() if line.startswith("{") and '"_aws"' in line]
    overall = next(m for m in emf if "IngestRunsFailed" in m and "source" not in m)
    assert overall["IngestRunsFailed"] == [1.0] and overall["IngestRunsPartial"] == [0.0]


# -- the command ----------------------------------------------------------------------------------------------
@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def noop() -> None:
        """Keeps `ingest` a subcommand."""

    return app


@pytest.fixture
def tmdb_env(settings, monkeypatch):
    monkeypatch.setenv("TMDB_API_KEY", TMDB_TEST_KEY)
    monkeypatch.setenv("CINELIBRE_INGEST_LANGUAGES", "en")
    get_settings.cache_clear()


def test_exit_code_3_for_a_partial_run_and_the_lost_page_in_the_summary(
    cli, upstream, faults, tmdb_env, simulated_waits, db, pg_url
):
    faults.append(malformed_first_popular_page)
    result = CliRunner().invoke(cli, ["ingest", "--source", "tmdb"])
    assert result.exit_code == 3, result.output
    assert simulated_waits.sleeps, "the malformed page was retried, waiting between tries"
    assert "overall: partial" in result.output
    assert "skipped page discover en:popular:2020- page 1" in result.output
    assert "retried by the next run" in result.output


def test_exit_code_1_when_every_request_is_refused(cli, upstream, faults, tmdb_env, simulated_waits, db, pg_url):
    faults.append(everything_429)
    result = CliRunner().invoke(cli, ["ingest", "--source", "tmdb"])
    assert result.exit_code == 1, result.output
    assert simulated_waits.sleeps, "the refused requests were retried, waiting between tries"
    assert "overall: failed" in result.output and "429" in result.output


def command_env(pg_url: str, pg_data_dir, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CINELIBRE_", "SUPABASE_", "TMDB_", "GOOGLE_"))}
    env.update(
        CINELIBRE_ENV="test", DATABASE_URL=pg_url, CINELIBRE_DATA_DIR=str(pg_data_dir), TMDB_API_KEY=TMDB_TEST_KEY,
        CINELIBRE_INGEST_LANGUAGES="en",
    )
    env.update(extra)
    return env


def cinelibre(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", "from cinelibre.cli import main; main()", *args],
        env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_unreachable_host_exit_1_within_15_s_and_json_only_on_stdout(pg_url, pg_data_dir, db):
    env = command_env(pg_url, pg_data_dir, CINELIBRE_TMDB_BASE_URL=f"http://127.0.0.1:{closed_port()}/3")
    started = time.monotonic()
    result = cinelibre("ingest", "--source", "tmdb", "--json", "--verbose", env=env)
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout is the summary
    run = summary["sources"]["tmdb"]
    assert summary["status"] == "failed" and run["stopped_by"] == "unreachable"
    assert "cannot connect" in run["error"]
    assert '"message":"ingest run started"' in result.stderr, "the log lines went to stderr"
    assert elapsed < 15 + 10, f"took {elapsed:.1f} s (process start and model load included)"
    assert run["seconds"] <= 15


def test_a_partial_run_exits_3_from_the_installed_command(pg_url, pg_data_dir, db):
    """The real entry point (not typer's test runner): a partial run's exit code reaches the shell."""
    from cinelibre.ingest.replay import RecordedCatalog

    from .conftest import FIXTURES, serving

    catalog = RecordedCatalog(FIXTURES)
    damaged = next(e for e in catalog.listing if e["original_language"] == "en" and e.get("release_date"))
    damaged["title"] = damaged["original_title"] = None
    with serving(catalog) as base:
        env = command_env(pg_url, pg_data_dir, CINELIBRE_TMDB_BASE_URL=f"{base}/3",
                          CINELIBRE_TMDB_REQUESTS_PER_SECOND="40")
        result = cinelibre("ingest", "--source", "tmdb", "--json", env=env)
    assert result.returncode == 3, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "partial" and summary["sources"]["tmdb"]["stats"]["failed"] >= 1


@pytest.mark.parametrize("command", [["ingest", "--source", "tmdb"], ["migrate"], ["db", "status"]])
def test_an_out_of_range_setting_is_one_line_naming_it_and_its_range(command, pg_url, pg_data_dir):
    env = command_env(pg_url, pg_data_dir, CINELIBRE_TMDB_REQUESTS_PER_SECOND="100")
    result = cinelibre(*command, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "error: setting CINELIBRE_TMDB_REQUESTS_PER_SECOND=100 is invalid: "
        "Input should be less than or equal to 40 (allowed: > 0 and <= 40)"
    ]


def test_an_invalid_choice_is_one_line_too_and_a_refused_secret_is_never_echoed(pg_url, pg_data_dir):
    env = command_env(pg_url, pg_data_dir, CINELIBRE_ENV="nonsense-environment")
    result = cinelibre("migrate", env=env)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "CINELIBRE_ENV=nonsense-environment" in result.stderr and "Traceback" not in result.stderr

    from cinelibre.cli import describe_settings_error
    from cinelibre.settings import Settings

    with pytest.raises(__import__("pydantic").ValidationError) as refused:
        Settings(jwt_secret=12345)
    (line,) = describe_settings_error(refused.value)
    assert "JWT_SECRET" in line and "12345" not in line


def test_undated_titles_are_crawled_by_the_slice_without_a_date_filter(
    upstream, catalog, ingest_settings, make_pipeline, pg_url
):
    undated = {e["id"] for e in catalog.listing if e["original_language"] in LANGUAGES and not e.get("release_date")}
    assert undated, "the recorded listings hold titles without a release date"
    run = make_pipeline(ingest_settings).run(sources=["tmdb"], trigger="manual").runs[0]
    assert run.status == "succeeded"
    stored = {r[0] for r in rows(pg_url, "select tmdb_id from public.movies where release_date is null")}
    assert undated <= stored
    undated_listings = [
        r for r in catalog.requests
        if r.url.path == "/3/discover/movie" and not any(k.startswith("primary_release_date") for k in r.url.params)
    ]
    assert {r.url.params["with_original_language"] for r in undated_listings} == set(LANGUAGES)
