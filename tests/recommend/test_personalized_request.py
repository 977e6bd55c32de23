"""GET /recommendations/personalized asks the database for the session check, the rating count and the
trained model's list in one round trip (`get_personalized_start`), and serves exactly what the shared code
path (`service.personalized`, also behind `cinelibre evaluate`) gives."""

from __future__ import annotations

import psycopg
import pytest

from cinelibre.db.postgres import PostgresTransport
from cinelibre.recommend import service
from cinelibre.recommend.training import TrainingParams, train_and_publish
from tests.db.test_supabase_auth_adapter import postgrest  # noqa: F401, F811 (the PostgREST emulator fixture)
from tests.recommend.synthetic import load_catalog, movie_row, two_taste_world

SESSION_ENDED = "the session has ended or the account no longer exists; sign in again"


@pytest.fixture
def database_calls(monkeypatch):
    """The SQL functions every psycopg adapter in this process calls, in order."""
    calls: list[str] = []
    untimed = PostgresTransport._call

    def recorded(self, function, args, *, returns_set):
        calls.append(function)
        return untimed(self, function, args, returns_set=returns_set)

    monkeypatch.setattr(PostgresTransport, "_call", recorded)
    return calls


@pytest.fixture
def modelled(db, make_user, forget_models):
    """A trained model over two taste groups, and a user who loved four north films and hated two south ones."""
    items, users, ratings = two_taste_world(db, users_per_group=4, items_per_group=6)
    target = make_user("target")
    for user, item, value in ratings:
        db.upsert_rating(user_id=user, item_id=item, rating=value)
    for item in items["north"][:4]:
        db.upsert_rating(user_id=target.id, item_id=item, rating=5.0)
    for item in items["south"][:2]:
        db.upsert_rating(user_id=target.id, item_id=item, rating=1.0)
    report = train_and_publish(db, params=TrainingParams(l2=10.0, validate=False))
    return items, target, report


def comparable(item) -> dict:
    return {"item_id": item.item_id, "title": item.title, "score": round(item.score, 6), "method": item.method,
            "reason": item.reason, "predicted_rating": item.predicted_rating, "model_version": item.model_version}


def served_items(body: dict) -> list[dict]:
    keys = ("item_id", "title", "score", "method", "reason", "predicted_rating", "model_version")
    return [{key: item[key] for key in keys} for item in body["items"]]


def test_one_round_trip_before_the_impressions_and_the_same_list_as_the_shared_code(
    recommend_client, db, modelled, database_calls
):
    items, target, report = modelled

    served = recommend_client.get("/recommendations/personalized", query={"limit": 2}, token=target.token)

    assert served.status == 200
    assert database_calls == ["get_personalized_start", "record_recommendation_impressions"]
    body = served.json()
    direct = service.personalized(db, target.id, n=2)
    assert body["method"] == direct.method == "ease" and body["model_version"] == report.model_version
    assert body["rating_count"] == direct.rating_count == 6 and body["explanation"] == direct.explanation
    assert served_items(body) == [comparable(item) for item in direct.recommendations]
    assert {item["item_id"] for item in body["items"]} == set(items["north"][4:])
    shown = db.get_recommendation_performance(days=1)
    assert [(row["method"], row["model_version"], row["impressions"]) for row in shown] == [
        ("ease", report.model_version, 2)
    ]


def test_a_list_topped_up_by_content_is_still_the_shared_codes(recommend_client, db, modelled, database_calls):
    items, target, report = modelled

    served = recommend_client.get("/recommendations/personalized", query={"limit": 5}, token=target.token)

    body = served.json()
    direct = service.personalized(db, target.id, n=5)
    assert served_items(body) == [comparable(item) for item in direct.recommendations]
    assert [item["method"] for item in body["items"]][:2] == ["ease", "ease"]
    assert "content_based" in {item["method"] for item in body["items"]}
    first_request = database_calls[: database_calls.index("record_recommendation_impressions") + 1]
    assert first_request[0] == "get_personalized_start"
    assert not {"check_auth_session", "count_user_ratings", "get_model_recommendations"} & set(first_request)


def test_an_ended_session_is_refused_before_anything_is_computed_or_recorded(recommend_client, db, make_user):
    load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 4)])
    user = make_user("leaver")
    assert recommend_client.get("/recommendations/personalized", token=user.token).status == 200
    db.revoke_auth_sessions(user_id=user.id, reason="logout")

    refused = recommend_client.get("/recommendations/personalized", token=user.token)

    assert refused.status == 401
    assert refused.json()["error"]["message"] == SESSION_ENDED
    impressions = db.get_recommendation_performance(days=1)
    assert sum(row["impressions"] for row in impressions) == 3  # the first list only


def test_a_deleted_account_is_refused(recommend_client, db, make_user):
    user = make_user("gone")
    db.delete_user(user_id=user.id)

    refused = recommend_client.get("/recommendations/personalized", token=user.token)

    assert refused.status == 401 and refused.json()["error"]["message"] == SESSION_ENDED


def test_users_without_ratings_still_share_the_list_kept_per_container(
    recommend_client, db, make_user, database_calls
):
    load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 6)])
    first, second = make_user("first"), make_user("second")

    lists = [
        recommend_client.get("/recommendations/personalized", query={"limit": 3, "item_type": "movie"},
                             token=user.token).json()
        for user in (first, second)
    ]

    assert lists[0]["method"] == lists[1]["method"] == "popularity"
    assert lists[0]["items"] == lists[1]["items"]
    assert database_calls.count("get_popular_items") <= 1
    assert "count_user_ratings" not in database_calls and "check_auth_session" not in database_calls


def test_the_start_function_answers_as_the_functions_it_replaces(db, pg_url, modelled):
    items, target, report = modelled
    with psycopg.connect(pg_url, autocommit=True) as conn:
        session_id = conn.execute(
            "select id::text from public.auth_sessions where user_id = %s", (target.id,)
        ).fetchone()[0]

    start = db.get_personalized_start(user_id=target.id, session_id=session_id, item_type="movie", count=3)

    assert start["session_live"] is True and start["rating_count"] == db.count_user_ratings(user_id=target.id)
    expected = db.get_model_recommendations(user_id=target.id, item_type="movie", count=3)
    assert [row["item_id"] for row in start["model_items"]] == [row["item_id"] for row in expected]
    assert [row["score"] for row in start["model_items"]] == pytest.approx([row["score"] for row in expected])
    assert start["model_items"][0]["model_version"] == report.model_version
    assert start["model_items"][0]["because_titles"] == expected[0]["because_titles"]

    unknown = "00000000-0000-0000-0000-000000000001"
    assert db.get_personalized_start(user_id=target.id, session_id=unknown, item_type="all", count=3) == {
        "session_live": False
    }
    # The target's session is not another user's.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        someone_else = conn.execute(
            "select id::text from public.users where id <> %s limit 1", (target.id,)
        ).fetchone()[0]
    assert db.get_personalized_start(user_id=someone_else, session_id=session_id, item_type="all", count=3) == {
        "session_live": False
    }


def test_a_user_without_ratings_gets_no_model_list(db, pg_url, make_user):
    user = make_user("new")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        session_id = conn.execute(
            "select id::text from public.auth_sessions where user_id = %s", (user.id,)
        ).fetchone()[0]

    start = db.get_personalized_start(user_id=user.id, session_id=session_id, item_type="all", count=10)

    assert start == {"session_live": True, "rating_count": 0, "model_items": None}


def test_the_supabase_adapter_gets_the_same_start(db, pg_url, make_user, postgrest):  # noqa: F811
    emulator, supabase = postgrest
    user = make_user("remote")
    ids = load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 3)])
    db.upsert_rating(user_id=user.id, item_id=ids["Film 1"], rating=4.0)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        session_id = conn.execute(
            "select id::text from public.auth_sessions where user_id = %s", (user.id,)
        ).fetchone()[0]

    remote = supabase.get_personalized_start(user_id=user.id, session_id=session_id, item_type="all", count=5)

    assert remote == db.get_personalized_start(user_id=user.id, session_id=session_id, item_type="all", count=5)
    assert remote == {"session_live": True, "rating_count": 1, "model_items": []}
    assert emulator.calls[-1][0] == "get_personalized_start"
