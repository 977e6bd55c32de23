"""`cinelibre search-keys --backfill` (issue 12): rows ingested before the search keys existed, or keyed by an
older version of cinelibre.text, get the keys the ingest makes today, in bounded batches, resumably and
idempotently, on the real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cinelibre.errors import ValidationError
from cinelibre.search_keys import backfill_search_keys, count_stale
from cinelibre.text import SEARCH_KEYS_VERSION, movie_people_keys, movie_title_keys
from tests.db.catalog_rows import book, movie

CLI = Path(sys.executable).with_name("cinelibre")
REPO = Path(__file__).resolve().parents[2]


def _keys(pg_url: str) -> dict[str, tuple]:
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "select title, title_keys, people_keys, search_keys_version from public.movie_search "
            "union all select title, title_keys, people_keys, search_keys_version from public.book_search"
        ).fetchall()
    return {title: (title_keys, people, version) for title, title_keys, people, version in rows}


@pytest.fixture
def deployed_catalog(db, pg_url):
    """Rows as a deployment that predates the keys holds them: ingested, then keys and version wiped."""
    movies = [
        movie(i, title, original_title=original, director=director,
              cast_members=[{"name": "Mohanlal", "character": "Georgekutty"}])
        for i, (title, original, director) in enumerate([
            ("Drishyam", "ദൃശ്യം", "Jeethu Joseph"), ("Nayakan", "நாயகன்", "Mani Ratnam"),
            ("Kaithi", "கைதி", "Lokesh Kanagaraj"), ("Psycho", "Psycho", "Alfred Hitchcock"),
            ("Baahubali", "బాహుబలి", "S. S. Rajamouli"),
        ], start=1)
    ]
    db.upsert_movies(movies=movies)
    db.upsert_books(books=[
        book("b1", "गोदान", authors=["Premchand"]), book("b2", "Gitanjali", subtitle="Song Offerings"),
    ])
    expected = _keys(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for table in ("movie_search", "book_search"):
            conn.execute(f"update public.{table} set title_keys = null, people_keys = null, search_keys_version = null")
    return movies, expected


def test_the_ingest_records_the_version_of_the_keys_it_made(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Drishyam", original_title="ദൃശ്യം", director="Jeethu Joseph")])
    assert _keys(pg_url)["Drishyam"][2] == SEARCH_KEYS_VERSION
    assert count_stale(db)["movie"] == {"stale": 0, "total": 1}


def test_backfill_gives_old_rows_the_keys_the_ingest_makes(db, pg_url, deployed_catalog):
    movies, expected = deployed_catalog
    assert count_stale(db) == {"movie": {"stale": 5, "total": 5}, "book": {"stale": 2, "total": 2}}
    batches = []
    progress = backfill_search_keys(db, batch_size=3, on_batch=lambda p: batches.append(p.examined))
    assert (progress.examined, progress.written, progress.batches) == (7, 7, 3)
    assert batches == [3, 6, 7]  # bounded batches, across both kinds in item id order
    assert _keys(pg_url) == expected
    assert expected["Drishyam"][:2] == (movie_title_keys(movies[0]), movie_people_keys(movies[0]))
    assert count_stale(db) == {"movie": {"stale": 0, "total": 5}, "book": {"stale": 0, "total": 2}}
    # Idempotent: nothing left, nothing written.
    again = backfill_search_keys(db, batch_size=3)
    assert (again.examined, again.written, again.batches) == (0, 0, 0)


def test_an_interrupted_backfill_goes_on_where_it_stopped(db, pg_url, deployed_catalog):
    _, expected = deployed_catalog
    first = backfill_search_keys(db, batch_size=2, max_batches=2)
    assert (first.examined, first.written) == (4, 4)
    assert count_stale(db)["movie"]["stale"] + count_stale(db)["book"]["stale"] == 3
    rest = backfill_search_keys(db, batch_size=2)
    assert (rest.examined, rest.written) == (3, 3)
    assert _keys(pg_url) == expected


def test_keys_of_an_older_version_are_remade_and_newer_ones_left(db, pg_url, deployed_catalog):
    backfill_search_keys(db)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("update public.movie_search set title_keys = 'made by version 1', search_keys_version = 1 "
                     "where title = 'Kaithi'")
    assert count_stale(db)["movie"]["stale"] == 1
    progress = backfill_search_keys(db)
    assert (progress.examined, progress.written) == (1, 1)
    assert _keys(pg_url)["Kaithi"] == deployed_catalog[1]["Kaithi"]
    # Rows keyed by a newer version (a deployment rolled back) are not remade by the older code.
    assert backfill_search_keys(db, keys_version=SEARCH_KEYS_VERSION - 1).examined == 0


def test_a_row_changed_by_an_ingest_during_the_backfill_keeps_the_ingests_keys(db, pg_url, deployed_catalog):
    movies, _ = deployed_catalog
    stale = db.get_stale_search_key_rows(after_item_id=0, page_size=10, keys_version=SEARCH_KEYS_VERSION)
    # The ingest renames a film (new content hash) between the backfill's read and its write.
    renamed = {**movies[2], "title": "Kaithi (2019)", "content_hash": "hash-3-renamed"}
    db.upsert_movies(movies=[renamed])
    from cinelibre.search_keys import search_key_row

    written = db.set_title_keys(rows=[search_key_row(row) for row in stale])
    assert written == len(stale) - 1
    assert _keys(pg_url)["Kaithi (2019)"][0] == movie_title_keys(renamed)


def test_batch_size_is_bounded(db):
    with pytest.raises(ValidationError):
        backfill_search_keys(db, batch_size=1001)
    with pytest.raises(ValidationError):
        backfill_search_keys(db, batch_size=0)


def test_the_command_reports_and_backfills(db, pg_url, deployed_catalog):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CINELIBRE_"))}
    env.update({"DATABASE_URL": pg_url, "POWERTOOLS_LOG_LEVEL": "WARNING"})

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(CLI), "search-keys", *args], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=120)

    status = run()
    assert status.returncode == 0, status.stderr
    assert f"movies: 5 of 5 with missing or outdated search keys (keys version {SEARCH_KEYS_VERSION})" in status.stdout
    done = run("--backfill", "--batch-size", "4", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "keys_version": SEARCH_KEYS_VERSION,
        "backfill": {"examined": 7, "written": 7, "batches": 2},
        "stale": {"movie": {"stale": 0, "total": 5}, "book": {"stale": 0, "total": 2}},
    }
    assert _keys(pg_url) == deployed_catalog[1]
    refused = run("--backfill", "--batch-size", "5000")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr


def test_a_batch_that_times_out_is_written_in_halves(db, pg_url, deployed_catalog):
    """A busy database: a write of more than two rows times out (as a statement timeout surfaces, 503)."""
    from cinelibre.errors import DatabaseUnavailableError

    class Busy:
        def __init__(self, database):
            self.database, self.writes = database, []

        def __getattr__(self, name):
            return getattr(self.database, name)

        def set_title_keys(self, *, rows):
            self.writes.append(len(rows))
            if len(rows) > 2:
                raise DatabaseUnavailableError("the database statement timed out")
            return self.database.set_title_keys(rows=rows)

    busy = Busy(db)
    progress = backfill_search_keys(busy, batch_size=5)
    assert (progress.examined, progress.written) == (7, 7)
    assert busy.writes == [5, 2, 3, 1, 2, 2]
    assert _keys(pg_url) == deployed_catalog[1]
