"""Database access: the `Database` port and the factory that picks its adapter from the settings.

Supabase (SUPABASE_URL + a service-role key) wins, then DATABASE_URL, then the local embedded PostgreSQL.
"""

from __future__ import annotations

import atexit
from functools import lru_cache

from cinelibre.db.port import Database
from cinelibre.errors import ConfigurationError
from cinelibre.settings import Settings

__all__ = ["Database", "database_url_for", "get_database"]


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

    # Lambda serves one request at a time per container; the local server serves several.
    max_connections = 4 if settings.is_development else 1
    database = PostgresDatabase(
        database_url_for(settings, migrate=settings.database_url is None),
        max_connections=max_connections,
        connect_timeout_s=settings.db_connect_timeout_s,
        statement_timeout_s=settings.db_statement_timeout_s,
    )
    # Close the pool's threads before the interpreter tears down (a CLI run ends, a test session ends).
    atexit.register(database.close)
    return database


@lru_cache(maxsize=4)
def get_database(settings: Settings) -> Database:
    """One database client per container (and per settings), reused by warm invocations."""
    return _build(settings)
