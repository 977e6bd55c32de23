"""The `cinelibre` command: one CLI with subcommands for local work.

Each subcommand module exposes `register(app)`; this module only assembles them, so `import cinelibre`
in a Lambda never pulls in typer.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="CineLibre: local database, model and service.")

# Modules that each contribute commands; imported here so a missing one fails loudly, not silently.
_COMMAND_MODULES = ("database", "embed", "evaluate", "ingest", "invoke", "report", "serve", "train")


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"cinelibre.cli.{name}")
        module.register(app)


def main() -> None:
    _register_all()
    app()
