"""`cinelibre report`: online evaluation of the recommendations, per day, method and model version:
click-through (views and clicks within 24 hours of being shown) and ratings within 7 days."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cinelibre.errors import CineLibreError
from cinelibre.observability import logger

COLUMNS = (
    ("day", "day", 12),
    ("method", "method", 15),
    ("model", "model_version", 7),
    ("shown", "impressions", 9),
    ("users", "users", 7),
    ("engaged", "engaged", 9),
    ("CTR", "click_through_rate", 8),
    ("rated", "rated", 7),
    ("rated %", "rating_rate", 9),
    ("mean rating", "mean_rating_after", 12),
    ("liked", "liked", 7),
)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if key in ("click_through_rate", "rating_rate"):
        return f"{float(value):.1%}"
    if key == "mean_rating_after":
        return f"{float(value):.2f}"
    return str(value)


def format_report(rows: list[dict[str, Any]]) -> str:
    lines = ["".join(f"{title:<{width}}" if i < 2 else f"{title:>{width}}"
                     for i, (title, _, width) in enumerate(COLUMNS))]
    for row in rows:
        lines.append("".join(f"{_cell(row, key):<{width}}" if i < 2 else f"{_cell(row, key):>{width}}"
                             for i, (_, key, width) in enumerate(COLUMNS)))
    return "\n".join(lines)


def report(
    days: Annotated[int, typer.Option("--days", min=1, max=366, help="How many days back, today included.")] = 30,
) -> None:
    """Print, per day, method and model version, how many distinct items users were shown, how many they
    viewed or clicked within 24 hours (click-through) and rated within 7 days, and how highly."""
    from cinelibre.db import get_database
    from cinelibre.settings import get_settings

    logger.setLevel("WARNING")
    try:
        rows = get_database(get_settings()).get_recommendation_performance(days=days)
    except CineLibreError as exc:
        typer.secho(f"error: {exc.message}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    if not rows:
        typer.echo(f"no recommendations were recorded as shown in the last {days} days")
        return
    typer.echo(format_report(rows))


def register(app: typer.Typer) -> None:
    app.command("report")(report)
