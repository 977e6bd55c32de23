"""Shared fixtures: one embedded PostgreSQL (with pgvector) per test session, migrated once; the real
embedding model loaded once; a Lambda context like the one Lambda passes to handlers."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from cinelibre import db as db_package
from cinelibre.db import embedded, migrate
from cinelibre.db.postgres import PostgresDatabase
from cinelibre.settings import Settings, get_settings, load_settings
from tests.demo_server import (
    EARLY_DEMO_SERVER,
    StartedDemoServer,
    demo_server,  # noqa: F401 (a session fixture: one `cinelibre serve` for all who need it)
    wanted_by,
)
from tests.deploy.sam_cli import SamBuild

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENTS_DIR = REPO_ROOT / "events"

# Everything a test may leave behind; the catalog tables go with `items` by cascade, sessions and tokens with
# `users`; rate-limit buckets are shared by every request from the events' one source IP, so they go too; a
# trained model (and what it showed) would otherwise decide the next test's recommendations.
_EMPTIED = (
    "public.items", "public.users", "public.ingest_runs", "public.ingest_checkpoints", "public.rate_limit_buckets",
    "public.recommender_models", "public.recommendation_impressions",
    # The search words' kept counts: deleting a catalog's rows (rather than truncating them) leaves their rows.
    "public.search_word_documents",
)  # fmt: skip
_TRUNCATE = f"truncate {', '.join(_EMPTIED)} restart identity cascade"
# The tables `_TRUNCATE` empties: those named and, by cascade, every table that references one of them.
_CASCADE = """
with recursive emptied (rel) as (
    select unnest(%s::regclass[])
    union
    select c.conrelid::regclass from pg_constraint c join emptied on c.confrelid = emptied.rel where c.contype = 'f'
)
select format('%%I.%%I', c.relnamespace::regnamespace, c.relname) from emptied join pg_class c on c.oid = rel
order by 1
"""
# The sequences behind those tables' serial and identity columns, which `restart identity` restarts.
_OWNED_SEQUENCES = """
select format('%%I.%%I', c.relnamespace::regnamespace, c.relname), s.seqstart
from pg_sequence s
join pg_class c on c.oid = s.seqrelid
join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = s.seqrelid
    and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
where d.refobjid = any(%s::regclass[])
order by 1
"""


def truncate_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_TRUNCATE)


class Leftovers:
    """Leaves the database as `_TRUNCATE` would, doing only the part a test made necessary: TRUNCATE gives each
    table and index it empties new files, ~50 ms for all of them, after every test that uses the database,
    although most tests write to a few tables and some to none. One query finds which of the tables hold rows
    and which sequences have moved; only those tables are truncated (with their cascade) and sequences
    restarted."""

    def __init__(self, url: str) -> None:
        self.url = url
        with psycopg.connect(url) as conn:
            self.tables = [row[0] for row in conn.execute(_CASCADE, (list(_EMPTIED),))]
            sequences = conn.execute(_OWNED_SEQUENCES, (self.tables,)).fetchall()
        self.sequences = [name for name, _ in sequences]
        probes = [f"exists (select from {table})" for table in self.tables] + [
            f"(select is_called or last_value <> {start} from {name})" for name, start in sequences
        ]
        self._probe = f"select {', '.join(probes)}"
        self._conn: psycopg.Connection | None = None

    def clear(self) -> None:
        try:
            self._clear(self._connection())
        except psycopg.OperationalError:  # a test ended every session (the server's own view of a dropped one)
            self._conn = None
            self._clear(self._connection())

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    def _connection(self) -> psycopg.Connection:
        # One connection for the session: a new one for each test costs about as much as the probe and a few
        # truncates.
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    def _clear(self, conn: psycopg.Connection) -> None:
        state = conn.execute(self._probe).fetchone()
        holding_rows = [table for table, has_rows in zip(self.tables, state, strict=False) if has_rows]
        moved = [name for name, is_moved in zip(self.sequences, state[len(self.tables):], strict=True) if is_moved]
        if holding_rows:
            conn.execute(f"truncate {', '.join(holding_rows)} restart identity cascade")
        for name in moved:
            conn.execute(f"alter sequence {name} restart")


EARLY_SAM_BUILD = pytest.StashKey[SamBuild]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Two slow starts run in processes of their own; pytest runs one test at a time on a machine with two
    cores, so each starts as soon as the session has collected a test that needs it, beside the tests that come
    before: `sam build` (tests/deploy/test_sam_build.py, about a minute of one core) and the demo server's
    `cinelibre serve`, whose first start embeds the demo catalog."""
    if session.config.option.collectonly:
        return
    if any(item.path.name == "test_sam_build.py" for item in session.items):
        session.config.stash[EARLY_SAM_BUILD] = SamBuild()
    if wanted_by(session.items):
        session.config.stash[EARLY_DEMO_SERVER] = StartedDemoServer()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Whatever started early and was never waited for (the session stopped before its tests)."""
    for key in (EARLY_SAM_BUILD, EARLY_DEMO_SERVER):
        started = config.stash.get(key, None)
        if started is not None:
            started.stop()


@pytest.fixture(scope="session")
def pg_data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="cinelibre-test-") as directory:
        path = Path(directory)
        yield path
        embedded.stop(path)


@pytest.fixture(scope="session")
def pg_url(pg_data_dir: Path) -> str:
    """A migrated embedded PostgreSQL 18 + pgvector for the whole session."""
    url = embedded.start(pg_data_dir)
    migrate.apply_migrations(url)
    return url


@pytest.fixture(scope="session")
def leftovers(pg_url: str) -> Iterator[Leftovers]:
    cleaner = Leftovers(pg_url)
    yield cleaner
    cleaner.close()


@pytest.fixture
def settings(pg_url: str, pg_data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Test settings pointing at the session database; `get_settings()` returns them too."""
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "JWT_SECRET", "TMDB_API_KEY", "GOOGLE_BOOKS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CINELIBRE_ENV", "test")
    monkeypatch.setenv("DATABASE_URL", pg_url)
    monkeypatch.setenv("CINELIBRE_DATA_DIR", str(pg_data_dir))
    monkeypatch.setenv("CINELIBRE_BCRYPT_ROUNDS", "10")
    get_settings.cache_clear()
    db_package.close_databases()
    yield get_settings()
    get_settings.cache_clear()
    db_package.close_databases()


@pytest.fixture
def db(pg_url: str, leftovers: Leftovers) -> Iterator[PostgresDatabase]:
    """The psycopg adapter on the session database; every table is emptied after the test."""
    database = PostgresDatabase(pg_url, max_connections=4)
    try:
        yield database
    finally:
        database.close()
        leftovers.clear()


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 ONNX model from the built layer, loaded once per session."""
    from cinelibre.embedding import get_embedder

    return get_embedder(load_settings())


@dataclass
class LambdaContext:
    """The attributes Lambda's Python runtime gives a handler's `context`."""

    function_name: str = "cinelibre-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:cinelibre-test"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/cinelibre-test"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"
    remaining_ms: int = 900_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
