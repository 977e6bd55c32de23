"""`cinelibre embed TEXT...`: print each text's embedding as one JSON array of 384 floats per line."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cinelibre.errors import CineLibreError


def embed(
    texts: Annotated[
        list[str], typer.Argument(help="Texts to embed; each one prints one line.", show_default=False)
    ],
) -> None:
    """Embed TEXT... with the model layer and print one JSON array of 384 floats per line."""
    from cinelibre.embedding import get_embedder
    from cinelibre.observability import logger
    from cinelibre.settings import get_settings

    # Powertools logs to stdout, which here carries the vectors; keep only warnings and errors.
    logger.setLevel("WARNING")
    try:
        vectors = get_embedder(get_settings()).embed_queries(texts)
    except CineLibreError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from None
    for vector in vectors:
        typer.echo(json.dumps(vector))


def register(app: typer.Typer) -> None:
    app.command(name="embed")(embed)
