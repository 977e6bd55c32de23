"""The `cinelibre` command: one CLI with subcommands for local work.

Each subcommand module exposes `register(app)`; this module only assembles them, so `import cinelibre`
in a Lambda never pulls in typer.

Standard output carries each command's result (a table, or JSON with `--json`); log lines go to standard error.
Exit codes are the same for every command: 0 done, 1 failed, 2 a setting or an argument is invalid, 3 done in
part (`cinelibre ingest`: see docs/operations.md).
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

import pydantic
import typer

from cinelibre.observability import logger

app = typer.Typer(no_args_is_help=True, add_completion=False, help="CineLibre: local database, model and service.")

# Modules that each contribute commands; imported here so a missing one fails loudly, not silently.
_COMMAND_MODULES = ("database", "embed", "evaluate", "ingest", "invoke", "report", "search_keys", "serve", "train")
EXIT_INVALID_SETTINGS = 2


def _register_all() -> None:
    for name in _COMMAND_MODULES:
        module = importlib.import_module(f"cinelibre.cli.{name}")
        module.register(app)


def logs_to_stderr() -> Any:
    """Keep standard output for the command's result, so `--json` output parses. Returns the stream the log
    wrote to before, for a caller that must put it back (a command run inside tests)."""
    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        return handler.setStream(sys.stderr)
    return None


def restore_log_stream(stream: Any) -> None:
    handler = logger.registered_handler
    if stream is not None and isinstance(handler, logging.StreamHandler):
        handler.setStream(stream)


def _allowed_range(metadata: list[Any]) -> str | None:
    bounds = []
    for constraint in metadata:
        for attribute, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            value = getattr(constraint, attribute, None)
            if value is not None:
                bounds.append(f"{symbol} {value:g}" if isinstance(value, int | float) else f"{symbol} {value}")
    return " and ".join(bounds) or None


def describe_settings_error(error: pydantic.ValidationError) -> list[str]:
    """One line per refused setting, naming its environment variable, the value given and what is allowed."""
    from cinelibre.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    by_alias = {
        str(choice): (name, field)
        for name, field in Settings.model_fields.items()
        for choice in getattr(field.validation_alias, "choices", ())
    }
    lines = []
    for problem in error.errors():
        location = problem.get("loc") or ()
        given_name = str(location[0]) if location else ""
        field = Settings.model_fields.get(given_name)
        if given_name in by_alias:  # pydantic names an aliased setting by the alias it was read from
            variable, field = given_name, by_alias[given_name][1]
        elif field is not None:
            choices = getattr(field.validation_alias, "choices", None)
            variable = str(choices[0]) if choices else f"{prefix}{given_name}".upper()
        else:
            variable = given_name or "settings"
        allowed = _allowed_range(field.metadata) if field is not None else None
        # A refused secret is never echoed back.
        shown = field is not None and "Secret" not in str(field.annotation)
        given = f"={problem['input']}" if shown and isinstance(problem.get("input"), str | int | float) else ""
        reason = problem.get("msg", "invalid").removeprefix("Value error, ")
        lines.append(
            f"error: setting {variable}{given} is invalid: {reason}"
            + (f" (allowed: {allowed})" if allowed else "")
        )
    return lines


def main() -> None:
    logs_to_stderr()
    _register_all()
    try:
        app()
    except pydantic.ValidationError as exc:
        for line in describe_settings_error(exc):
            print(line, file=sys.stderr)
        sys.exit(EXIT_INVALID_SETTINGS)
