"""`cinelibre serve`: all three HTTP functions on one local port, and `cinelibre demo load`."""

from __future__ import annotations

import typer

from cinelibre.errors import CineLibreError
from cinelibre.settings import Settings, assume_development, get_settings

demo_app = typer.Typer(help="The bundled demo catalog, users and ratings.", no_args_is_help=True)


def _uses_embedded_database(settings: Settings) -> bool:
    return settings.database_url is None and not settings.supabase_url


def load_demo(settings: Settings) -> None:
    from tqdm import tqdm

    from cinelibre.auth.passwords import hash_password
    from cinelibre.db import get_database
    from cinelibre.demo.catalog import load_catalog
    from cinelibre.demo.ratings import DEMO_PASSWORD, load_ratings
    from cinelibre.embedding import get_embedder

    database = get_database(settings)
    with tqdm(total=None, desc="embedding demo catalog", unit="text", leave=False) as progress:
        summary = load_catalog(database, get_embedder(settings), progress=progress)
    for kind, counts in summary.items():
        typer.echo(f"demo {kind}: {counts['total']} ({counts['embedded']} embedded now, "
                   f"{counts['inserted']} new, {counts['updated']} updated)")
    ratings = load_ratings(database, password_hash=hash_password(DEMO_PASSWORD, rounds=settings.bcrypt_rounds))
    typer.echo(f"demo users: {ratings['users_created']} new; ratings: {ratings['ratings']}")
    from cinelibre.recommend.training import TrainingParams, train_and_publish  # issue 9: the demo's model

    model = train_and_publish(database, params=TrainingParams(validate=False))
    typer.echo(f"recommendation model: version {model.model_version} ({model.algorithm}), {model.item_count} items")


@demo_app.command("load")
def demo_load() -> None:
    """Load the demo catalog and demo ratings into the configured database (embedding on first run)."""
    assume_development()
    try:
        load_demo(get_settings())
    except CineLibreError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def serve(
    port: int = typer.Option(8000, help="Port on localhost."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind; keep it local unless you mean it."),
    demo: bool | None = typer.Option(
        None, "--demo/--no-demo",
        help="Load the demo catalog. Default: yes for the embedded database, no for a configured one.",
    ),
) -> None:
    """Serve the web app at / and auth, search and recommend under their production paths (docs at /docs)."""
    import uvicorn

    from cinelibre.api.local import create_local_app

    # A local server: development (email confirmation off, the development secret, docs on) unless the
    # environment says otherwise. Only this command and the tests assume it; a Lambda never does.
    assume_development()
    settings = get_settings()
    try:
        if demo if demo is not None else _uses_embedded_database(settings):
            load_demo(settings)
        app = create_local_app(settings)
    except CineLibreError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"CineLibre: open http://{host}:{port}/ in a browser  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(demo_app, name="demo")
