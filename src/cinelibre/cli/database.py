"""`cinelibre migrate` and `cinelibre db start|stop|status`: the schema and the local embedded database."""

from __future__ import annotations

import typer

from cinelibre.db import database_url_for, embedded
from cinelibre.db.migrate import MigrationError, apply_migrations
from cinelibre.errors import CineLibreError
from cinelibre.settings import get_settings


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


def migrate() -> None:
    """Apply the SQL migrations in supabase/migrations/ that have not run yet (idempotent)."""
    settings = get_settings()
    if settings.database_url is None and settings.supabase_url:
        _fail("migrations need a direct PostgreSQL connection: set DATABASE_URL to the Supabase connection "
              "string, or deploy them with `supabase db push`")
    try:
        url = database_url_for(settings, migrate=False)
        applied = apply_migrations(url)
    except (MigrationError, CineLibreError) as exc:
        _fail(exc.message)
    typer.echo(f"applied {len(applied)} migration(s)" if applied else "database is up to date")
    for name in applied:
        typer.echo(f"  {name}")


db_app = typer.Typer(help="The local embedded PostgreSQL (used when no database is configured).", no_args_is_help=True)


@db_app.command("start")
def start() -> None:
    """Start the embedded PostgreSQL and migrate it."""
    settings = get_settings()
    try:
        url = embedded.start(settings.data_dir)
        apply_migrations(url)
    except CineLibreError as exc:
        _fail(exc.message)
    typer.echo(f"running: {url}")


@db_app.command("stop")
def stop() -> None:
    """Stop the embedded PostgreSQL."""
    settings = get_settings()
    typer.echo("stopped" if embedded.stop(settings.data_dir) else "not running")


@db_app.command("status")
def status() -> None:
    """Report the embedded PostgreSQL's state, and which database the service would use."""
    settings = get_settings()
    state = embedded.status(settings.data_dir)
    if settings.supabase_url:
        typer.echo(f"configured: Supabase at {settings.supabase_url}")
    elif settings.database_url is not None:
        typer.echo("configured: DATABASE_URL")
    typer.echo(f"embedded data directory: {state.data_dir}")
    running = f"running (pid {state.pid}) at {state.url}" if state.running else "not running"
    typer.echo(f"embedded: {running}{'' if state.initialised else ', not initialised'}")


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)
    app.add_typer(db_app, name="db")
