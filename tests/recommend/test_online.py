"""Recording what was shown: every item with its method, model version and position; a failure to record
is logged and never raised."""

from __future__ import annotations

import pytest

from cinelibre.db.rpc import RpcDatabase
from cinelibre.errors import DatabaseUnavailableError
from cinelibre.recommend.base import Recommendation
from cinelibre.recommend.online import record_shown
from tests.recommend.synthetic import create_users, load_catalog, movie_row


def recommendation(item_id: int, method: str, version: int | None) -> Recommendation:
    return Recommendation(item_id=item_id, item_type="movie", title="t", year=None, image_url=None, score=1.0,
                          method=method, reason="r", model_version=version)


def test_every_item_is_recorded_with_its_method_version_and_position(db):
    ids = load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 4)])
    ana = create_users(db, "ana")["ana"]
    shown = [recommendation(ids["Film 2"], "ease", 4), recommendation(ids["Film 1"], "ease", 4),
             recommendation(ids["Film 3"], "popularity", None)]

    assert record_shown(db, ana, shown) == 3

    rows = {(row["method"], row["model_version"]): row for row in db.get_recommendation_performance(days=1)}
    assert rows[("ease", 4)]["impressions"] == 2 and rows[("popularity", None)]["impressions"] == 1
    assert record_shown(db, ana, []) == 0


def test_a_failure_to_record_is_logged_not_raised(db, caplog):
    class Unreachable:
        def record_recommendation_impressions(self, **_):
            raise DatabaseUnavailableError("the database connection failed; try again")

    with caplog.at_level("WARNING"):
        assert record_shown(Unreachable(), "someone", [recommendation(1, "ease", 1)]) == 0
    assert "recording the recommendations shown failed" in caplog.text


def test_a_bug_is_not_swallowed():
    class Broken:
        def record_recommendation_impressions(self, **_):
            raise TypeError("a programming error must surface in tests")

    with pytest.raises(TypeError):
        record_shown(Broken(), "someone", [recommendation(1, "ease", 1)])


def test_the_personalized_endpoint_records_what_it_served(recommend_client, make_user, db):
    ids = load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 6)])
    user = make_user("reader")

    served = recommend_client.get("/recommendations/personalized", query={"limit": 3}, token=user.token)

    assert served.status == 200
    body = served.json()
    assert len(body["items"]) == 3 and set(ids.values()) >= {item["item_id"] for item in body["items"]}
    rows = db.get_recommendation_performance(days=1)
    assert [(row["method"], row["impressions"], row["users"]) for row in rows] == [(body["method"], 3, 1)]


def test_the_personalized_endpoint_still_answers_when_recording_fails(recommend_client, make_user, db,
                                                                      monkeypatch, caplog):
    load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 4)])
    user = make_user("reader")

    def unreachable(self, **_):
        raise DatabaseUnavailableError("the database connection failed; try again")

    monkeypatch.setattr(RpcDatabase, "record_recommendation_impressions", unreachable)
    with caplog.at_level("WARNING"):
        served = recommend_client.get("/recommendations/personalized", query={"limit": 2}, token=user.token)

    assert served.status == 200 and len(served.json()["items"]) == 2
    assert "recording the recommendations shown failed" in caplog.text
    assert db.get_recommendation_performance(days=1) == []
