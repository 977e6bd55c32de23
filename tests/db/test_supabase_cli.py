"""`cinelibre migrate` and the real Supabase CLI (2.117.0, from the npm registry, installed by `make test` into
.cache/supabase-cli) follow each other in both orders on the embedded PostgreSQL, reached over a local TCP port:
the CLI speaks TCP only and the embedded server listens on a Unix socket, so a small forwarder joins them."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from cinelibre.db.migrate import apply_migrations, discover

REPO_ROOT = Path(__file__).resolve().parents[2]
SUPABASE_CLI_VERSION = "2.117.0"
SUPABASE_CLI = REPO_ROOT / ".cache" / "supabase-cli" / "node_modules" / ".bin" / "supabase"


@pytest.fixture(scope="module")
def supabase_cli() -> Path:
    if not SUPABASE_CLI.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed, so the Supabase CLI (an npm package) cannot be; install Node.js/npm")
        pytest.fail(f"the Supabase CLI is not installed at {SUPABASE_CLI}: run `make supabase-cli` (make test does)")
    version = subprocess.run([SUPABASE_CLI, "--version"], capture_output=True, text=True, timeout=60).stdout.strip()
    assert version == SUPABASE_CLI_VERSION
    return SUPABASE_CLI


class UnixSocketForwarder:
    """127.0.0.1:<port> -> the server's Unix socket, one asyncio loop in a daemon thread."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)

    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(self.socket_path)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer),
                             return_exceptions=True)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


@pytest.fixture(scope="module")
def tcp_port(pg_url: str) -> Iterator[int]:
    query = parse_qs(urlsplit(pg_url).query)
    socket_path = f"{query['host'][0]}/.s.PGSQL.{query.get('port', ['5432'])[0]}"
    forwarder = UnixSocketForwarder(socket_path)
    try:
        yield forwarder.port
    finally:
        forwarder.close()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A project folder for the CLI holding the shipped migrations, as a Supabase project would."""
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    for migration in discover():
        shutil.copy(migration.path, migrations / migration.path.name)
    return tmp_path


def fresh_database(pg_url: str, name: str) -> str:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")
        conn.execute(f"create database {name}")
    return pg_url.replace("/cinelibre?", f"/{name}?", 1)


def supabase(cli: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1"}
    result = subprocess.run(  # noqa: S603 (the pinned CLI, fixed arguments)
        [str(cli), *args, "--workdir", str(workdir)], capture_output=True, text=True, timeout=300, env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"supabase {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def history(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by version"
        ).fetchall()


def listed_as_applied(output: str) -> list[str]:
    """Versions that `supabase migration list` shows both locally and on the database."""
    versions = []
    for line in output.splitlines():
        cells = [cell.strip().strip("`").strip() for cell in line.split("|")]
        if len(cells) >= 2 and cells[0].isdigit() and cells[0] == cells[1]:
            versions.append(cells[0])
    return versions


def test_cinelibre_migrate_follows_supabase_db_push(supabase_cli, tcp_port, workdir, pg_url):
    url = fresh_database(pg_url, "cli_pushed_first")
    db_url = f"postgresql://postgres@127.0.0.1:{tcp_port}/cli_pushed_first?sslmode=disable"
    pushed = supabase(supabase_cli, workdir, "db", "push", "--yes", "--db-url", db_url)
    assert "Finished supabase db push" in pushed.stdout + pushed.stderr

    assert apply_migrations(url) == [], "everything the CLI applied is recognised, nothing re-run or refused"
    assert history(url) == [(m.version, m.name, m.statements) for m in discover()]
    listed = supabase(supabase_cli, workdir, "migration", "list", "--db-url", db_url)
    assert listed_as_applied(listed.stdout) == [m.version for m in discover()]


def test_supabase_db_push_follows_cinelibre_migrate(supabase_cli, tcp_port, workdir, pg_url):
    url = fresh_database(pg_url, "cli_migrated_first")
    db_url = f"postgresql://postgres@127.0.0.1:{tcp_port}/cli_migrated_first?sslmode=disable"
    assert len(apply_migrations(url)) == len(discover())

    listed = supabase(supabase_cli, workdir, "migration", "list", "--db-url", db_url)
    assert listed_as_applied(listed.stdout) == [m.version for m in discover()]
    pushed = supabase(supabase_cli, workdir, "db", "push", "--yes", "--db-url", db_url)
    assert "up to date" in (pushed.stdout + pushed.stderr).lower()
    assert history(url) == [(m.version, m.name, m.statements) for m in discover()]


def test_each_tool_applies_what_the_other_has_not(supabase_cli, tcp_port, workdir, pg_url, tmp_path):
    """Half the files by cinelibre, the rest by the CLI, a new file by the CLI then another by cinelibre: one
    history, each tool accepting the other's rows."""
    url = fresh_database(pg_url, "cli_interleaved")
    db_url = f"postgresql://postgres@127.0.0.1:{tcp_port}/cli_interleaved?sslmode=disable"
    migrations = discover()
    first_half = tmp_path / "first_half"
    first_half.mkdir()
    for migration in migrations[: len(migrations) // 2]:
        shutil.copy(migration.path, first_half / migration.path.name)
    apply_migrations(url, first_half)
    supabase(supabase_cli, workdir, "db", "push", "--yes", "--db-url", db_url)

    folder = workdir / "supabase" / "migrations"
    (folder / "29991230000000_create_later_thing.sql").write_text(
        "-- a later file; with a comment\ncreate table public.later_thing (id int);\n"
        "alter table public.later_thing enable row level security;\n-- the end; of the file\n"
    )
    supabase(supabase_cli, workdir, "db", "push", "--yes", "--db-url", db_url)
    assert apply_migrations(url, folder) == [], "the CLI's split of the new file is accepted"
    assert history(url)[-1] == (
        "29991230000000",
        "create_later_thing",
        [
            "-- a later file; with a comment\ncreate table public.later_thing (id int)",
            "alter table public.later_thing enable row level security",
            "-- the end; of the file",
        ],
    )

    (folder / "29991231000000_create_last_thing.sql").write_text(
        "create function public.last_thing() returns int language sql set search_path = '' as $$ select 1; $$;\n"
        "-- closing remark\n"
    )
    assert apply_migrations(url, folder) == ["29991231000000_create_last_thing.sql"]
    listed = supabase(supabase_cli, workdir, "migration", "list", "--db-url", db_url)
    expected = [m.version for m in migrations] + ["29991230000000", "29991231000000"]
    assert listed_as_applied(listed.stdout) == expected
    pushed = supabase(supabase_cli, workdir, "db", "push", "--yes", "--db-url", db_url)
    assert "up to date" in (pushed.stdout + pushed.stderr).lower()
