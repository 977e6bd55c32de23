"""Database access: the `Database` port and the factory that picks its adapter from the settings.

Supabase (SUPABASE_URL + a service-role key) wins, then DATABASE_URL, then the local embedded PostgreSQL.
"""

from __future__ import annotations

import atexit
import threading

from cinelibre.db.port import Database
from cinelibre.errors import ConfigurationError
from cinelibre.settings import Settings

__all__ = ["Database", "close_databases", "database_url_for", "get_database"]


def database_url_for(settings: Settings, *, migrate: bool = True) -> str:
    """The direct PostgreSQL URL: DATABASE_URL, or the embedded server (started, and migrated, on demand)."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    from cinelibre.db import embedded
    from cinelibre.db import migrate as migrations

    url = embedded.start(settings.data_dir)
    if migrate:
        migrations.apply_migrations(url)
    return url


def _build(settings: Settings) -> Database:
    if settings.supabase_url or settings.supabase_service_role_key:
        if not (settings.supabase_url and settings.supabase_service_role_key):
            raise ConfigurationError("set both SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (or neither)")
        from cinelibre.db.supabase import SupabaseDatabase

        return SupabaseDatabase(
            settings.supabase_url,
            settings.supabase_service_role_key.get_secret_value(),
            timeout_s=settings.db_statement_timeout_s + 2,
        )
    from cinelibre.db.postgres import PostgresDatabase

    # Lambda serves one request at a time per container; the local server serves several. A search runs its
    # lexical rankings while it embeds the query and then its nearest-neighbour search, which need not wait for
    # them on a second connection (issue 12, session 3). The pool opens that one only when two calls overlap,
    # so the functions that never overlap calls keep one.
    max_connections = 4 if settings.is_development else 2
    return PostgresDatabase(
        database_url_for(settings, migrate=settings.database_url is None),
        max_connections=max_connections,
        connect_timeout_s=settings.db_connect_timeout_s,
        pool_timeout_s=settings.db_pool_timeout_s,
        statement_timeout_s=settings.db_statement_timeout_s,
    )


_databases: dict[Settings, Database] = {}
_lock = threading.Lock()


def get_database(settings: Settings) -> Database:
    """One database client per container (and per settings), reused by warm invocations."""
    with _lock:
        database = _databases.get(settings)
        if database is None:
            database = _databases[settings] = _build(settings)
        return database


def built_database(settings: Settings) -> Database | None:
    """The client `get_database` made for these settings, or None: never builds one, so never blocks."""
    with _lock:
        return _databases.get(settings)


def close_databases() -> None:
    """Close every client `get_database` made (their pools hold server connections) and forget them."""
    with _lock:
        databases = list(_databases.values())
        _databases.clear()
    for database in databases:
        close = getattr(database, "close", None)
        if close is not None:
            close()


# Close the pools' threads and connections before the interpreter tears down (a CLI run, a test session).
atexit.register(close_databases)
