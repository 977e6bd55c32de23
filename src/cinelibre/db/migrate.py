"""Apply `supabase/migrations/*.sql` in order, recording each in `supabase_migrations.schema_migrations`,
the table the Supabase CLI keeps, so `cinelibre migrate` and `supabase db push` agree on what has run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from cinelibre.errors import CineLibreError
from cinelibre.observability import logger
from cinelibre.settings import SOURCE_ROOT

MIGRATIONS_DIR = SOURCE_ROOT / "supabase" / "migrations"
_FILE_NAME = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")
# Serialises concurrent `migrate` runs (two cold starts, a test session and a CLI) on one database.
_LOCK_KEY = 0x43494E454C4942  # "CINELIB"


class MigrationError(CineLibreError):
    code = "migration_failed"


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def statements(self) -> str:
        return self.path.read_text(encoding="utf-8")


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    migrations = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named <YYYYMMDDHHMMSS>_<verb_noun>.sql")
        migrations.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version timestamp")
    return migrations


def _ensure_history_table(conn: psycopg.Connection) -> None:
    conn.execute("create schema if not exists supabase_migrations")
    conn.execute(
        "create table if not exists supabase_migrations.schema_migrations"
        " (version text primary key, statements text[], name text)"
    )


def applied_versions(conn: psycopg.Connection) -> dict[str, list[str] | None]:
    _ensure_history_table(conn)
    rows = conn.execute("select version, statements from supabase_migrations.schema_migrations").fetchall()
    return {version: statements for version, statements in rows}


def apply_migrations(conninfo: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what has not run yet, each file in its own transaction. Returns the applied file names.

    A file edited after it was applied is refused: landed migrations are never edited, a new one is added.
    """
    migrations = discover(directory)
    applied_now: list[str] = []
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise MigrationError(f"cannot connect to the database ({reason}); check DATABASE_URL") from None
    with conn:
        conn.execute("select pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            done = applied_versions(conn)
            for migration in migrations:
                text = migration.statements
                if migration.version in done:
                    recorded = done[migration.version]
                    if recorded is not None and recorded != [text]:
                        raise MigrationError(
                            f"{migration.path.name} was edited after it was applied; add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(sql.SQL(text))  # type: ignore[arg-type]  # trusted files from the repo
                        conn.execute(
                            "insert into supabase_migrations.schema_migrations (version, statements, name)"
                            " values (%s, %s, %s)",
                            (migration.version, [text], migration.name),
                        )
                except psycopg.Error as exc:
                    message = exc.diag.message_primary or str(exc)
                    raise MigrationError(f"{migration.path.name} failed: {message}") from None
                logger.info("migration applied", extra={"migration": migration.path.name})
                applied_now.append(migration.path.name)
        finally:
            conn.execute("select pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
