"""`cinelibre train`: fit the recommender on every stored rating and swap the new model version in, with a
progress bar; `--tune` first chooses λ, k and the predictor's shrinkage on a validation split."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from typing import Annotated

import typer

from cinelibre.cli.progress import StepProgress
from cinelibre.errors import CineLibreError
from cinelibre.observability import logger

# Bulk writes of model rows, and the swap that deletes the version before last, outlast a request's timeout.
TRAINING_STATEMENT_TIMEOUT_S = 300.0


def register(app: typer.Typer) -> None:
    @app.command("train")
    def train(
        l2: Annotated[
            float | None, typer.Option("--lambda", min=0.0, help="EASE's λ (default: the tuned one).")
        ] = None,
        dropout: Annotated[
            float | None,
            typer.Option("--dropout", min=0.0, max=0.9, help="DLAE's input dropout (default: the tuned one)."),
        ] = None,
        user_weight_exponent: Annotated[
            float | None,
            typer.Option("--user-weight-exponent", min=0.0, max=2.0,
                         help="Each user's Gram weight is (their ratings / the mean)^-this (default: tuned)."),
        ] = None,
        neighbours: Annotated[
            int | None, typer.Option("--k", min=1, max=1000, help="Neighbours kept per item (default: tuned).")
        ] = None,
        max_ease_items: Annotated[
            int | None,
            typer.Option(min=0, help="Fit item-kNN instead of EASE past this many items (default: from memory)."),
        ] = None,
        tune: Annotated[
            bool, typer.Option("--tune", help="Choose λ, k and the shrinkage on a validation split first (slow).")
        ] = False,
        validate: Annotated[
            bool, typer.Option(help="Record offline metrics from a validation refit with the version.")
        ] = True,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    ) -> None:
        """Train the recommendation model on every rating in the configured database and publish it."""
        from cinelibre.db import get_database
        from cinelibre.recommend.training import TrainingParams, read_ratings, select_params, train_and_publish
        from cinelibre.settings import get_settings

        params = TrainingParams(validate=validate)
        if l2 is not None:
            params = replace(params, l2=l2)
        if dropout is not None:
            params = replace(params, dropout=dropout)
        if user_weight_exponent is not None:
            params = replace(params, user_weight_exponent=user_weight_exponent)
        if neighbours is not None:
            params = replace(params, neighbours=neighbours)
        if max_ease_items is not None:
            params = replace(params, max_ease_items=max_ease_items)
        previous_level = logger.log_level
        logger.setLevel("WARNING")  # JSON log lines would tear through the progress bars
        progress = StepProgress()
        try:
            settings = get_settings()
            settings = settings.model_copy(
                update={"db_statement_timeout_s": max(settings.db_statement_timeout_s, TRAINING_STATEMENT_TIMEOUT_S)}
            )
            database = get_database(settings)
            if tune:
                ratings, _ = read_ratings(database, progress=progress)
                if len(ratings.values) == 0:
                    raise typer.BadParameter("there are no ratings to tune on")
                params, table = select_params(ratings, params, progress=progress)
                progress.close()
                typer.echo("validation split (NDCG@10 by λ, k and the neutral weight; RMSE by shrinkage):")
                for row in table:
                    typer.echo("  " + json.dumps(row))
            report = train_and_publish(database, params=params, progress=progress)
        except CineLibreError as exc:
            progress.close()
            typer.echo(f"training failed: {exc.message}", err=True)
            raise typer.Exit(code=1) from None
        finally:
            progress.close()
            logger.setLevel(previous_level)
        if as_json:
            typer.echo(json.dumps(asdict(report), indent=2))
            return
        typer.echo(
            f"model version {report.model_version} ({report.algorithm}) is now serving: {report.item_count} items, "
            f"{report.user_count} users, {report.rating_count} ratings, {report.neighbour_count} neighbour rows, "
            f"{report.train_seconds:.1f} s"
        )
        if "error" in report.score_cache:
            typer.echo(f"the heavy users' score cache was not refreshed ({report.score_cache['error']}); their lists "
                       "are summed live until `cinelibre train` runs again", err=True)
        elif report.score_cache:
            typer.echo(f"score cache: {report.score_cache['refreshed']} of {report.score_cache['heavy_users']} heavy "
                       f"users summed for the new version in {report.score_cache['seconds']:.1f} s")
        metrics = {key: value for key, value in report.metrics.items() if "@" in key or key == "rmse"}
        if metrics:
            typer.echo("validation: " + ", ".join(f"{key} {value:.4f}" for key, value in metrics.items()))

    @app.command("refresh-scores")
    def refresh_scores(
        batch_users: Annotated[
            int, typer.Option("--batch", min=1, max=200, help="Heavy users summed per transaction.")
        ] = 20,
    ) -> None:
        """Sum the heavy users' cached scores for the active model version (issue 9): `cinelibre train` does it
        after every activation; run this when that step failed. Lists are right either way (a user without a
        current row is summed live); this only makes heavy users fast again."""
        from cinelibre.db import get_database
        from cinelibre.recommend.training import refresh_score_cache
        from cinelibre.settings import get_settings

        progress = StepProgress(units={"score cache": "user"})
        try:
            figures = refresh_score_cache(get_database(get_settings()), batch_users=batch_users, progress=progress)
        except CineLibreError as exc:
            typer.echo(f"refresh failed: {exc.message}", err=True)
            raise typer.Exit(code=1) from None
        finally:
            progress.close()
        if figures["model_version"] is None:
            typer.echo("no model is active: nothing to refresh")
            return
        typer.echo(f"model version {figures['model_version']}: {figures['refreshed']} of {figures['heavy_users']} "
                   f"heavy users' scores summed in {figures['seconds']:.1f} s")
