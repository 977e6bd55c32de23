"""`cinelibre train` and the train function's handler, on the planted-groups world, against the real
database; the handler is called with the EventBridge event in events/."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cinelibre.cli.train import register
from cinelibre.db import get_database
from tests.conftest import EVENTS_DIR
from tests.recommend.synthetic import planted_groups_world, rate_all


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("other")
    def other() -> None:
        """Typer runs a lone command as the app itself; a second one keeps `train` a subcommand."""

    return app


def test_train_publishes_a_model_and_prints_its_figures(cli, settings, db, forget_models):
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    result = CliRunner().invoke(cli, ["train", "--lambda", "30", "--k", "10", "--user-weight-exponent", "0.5"])
    assert result.exit_code == 0, result.output
    active = db.get_active_recommender_model()
    assert f"model version {active['version']} (ease) is now serving: 15 items, 24 users" in result.output
    assert "validation: ndcg@10" in result.output
    assert active["params"]["l2"] == 30.0 and active["params"]["neighbours"] == 10
    assert active["params"]["user_weight_exponent"] == 0.5

    as_json = CliRunner().invoke(cli, ["train", "--json", "--no-validate", "--max-ease-items", "3"])
    report = json.loads(as_json.output[as_json.output.index("{"):])
    assert report["algorithm"] == "item_knn" and report["metrics"]["ease_peak_bytes_formula"] is None


def test_train_without_ratings_fails_with_the_reason(cli, settings, db, forget_models):
    result = CliRunner().invoke(cli, ["train"])
    assert result.exit_code == 1
    assert "training failed: there are no ratings to train on" in result.output
    assert "Traceback" not in result.output


def test_the_scheduled_event_trains_and_publishes(settings, db, forget_models, lambda_context):
    from cinelibre.recommend.train_handler import make_handler

    handler = make_handler()
    event = json.loads((EVENTS_DIR / "train-scheduled.json").read_text())
    assert handler(event, lambda_context) == {"status": "skipped", "reason": (
        "there are no ratings to train on; the previous model (if any) keeps serving")}
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    published = handler(event, lambda_context)
    assert published["status"] == "published" and published["algorithm"] == "ease"
    assert published["model_version"] == get_database(settings).get_active_recommender_model()["version"]
    assert published["rating_count"] == len(ratings)


def test_refresh_scores_reports_what_it_summed(cli, settings, db, forget_models):
    # Issue 9, session 5. The planted world's users are light (no row to sum): the heavy users' rows themselves are
    # tested in tests/db/test_model_score_cache.py.
    result = CliRunner().invoke(cli, ["refresh-scores"])
    assert result.exit_code == 0, result.output
    assert "no model is active: nothing to refresh" in result.output
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    trained = CliRunner().invoke(cli, ["train", "--no-validate"])
    assert "score cache: 0 of 0 heavy users summed for the new version" in trained.output
    result = CliRunner().invoke(cli, ["refresh-scores", "--batch", "5"])
    active = db.get_active_recommender_model()
    assert f"model version {active['version']}: 0 of 0 heavy users' scores summed" in result.output
