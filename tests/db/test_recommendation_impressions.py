"""Online evaluation through the real database: impressions recorded per list, and click-through and
rating-after-recommendation per day, method and model version."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from cinelibre.errors import CineLibreError
from tests.recommend.synthetic import create_users, load_catalog, movie_row


@pytest.fixture
def world(db):
    ids = load_catalog(db, [movie_row(n, f"Film {n}", theme=0) for n in range(1, 6)])
    users = create_users(db, "ana", "ben")
    return db, [ids[f"Film {n}"] for n in range(1, 6)], users


def shown(items, method, version=None):
    return [
        {"item_id": item, "method": method, "model_version": version, "position": position}
        for position, item in enumerate(items, start=1)
    ]


def backdate(pg_url, table, hours, **where):
    condition = " and ".join(f"{column} = %({column})s" for column in where)
    column = "shown_at" if table == "recommendation_impressions" else "created_at"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            f"update public.{table} set {column} = {column} - make_interval(hours => %(hours)s) where {condition}",
            {"hours": hours, **where},
        )


def test_click_through_and_rating_after_recommendation_per_method_and_version(world, pg_url):
    db, items, users = world
    ana, ben = users["ana"], users["ben"]
    assert db.record_recommendation_impressions(user_id=ana, impressions=shown(items[:3], "ease", 7)) == 3
    assert db.record_recommendation_impressions(user_id=ben, impressions=shown(items[:2], "ease", 7)) == 2
    assert db.record_recommendation_impressions(user_id=ben, impressions=shown(items[3:5], "popularity")) == 2
    # The same list shown to ana again the same day counts each pair once.
    db.record_recommendation_impressions(user_id=ana, impressions=shown(items[:3], "ease", 7))

    db.record_interaction(user_id=ana, kind="click", item_id=items[0], query=None)
    db.record_interaction(user_id=ana, kind="view", item_id=items[1], query=None)
    db.upsert_rating(user_id=ana, item_id=items[1], rating=4.5)
    db.record_interaction(user_id=ben, kind="click", item_id=items[3], query=None)
    db.upsert_rating(user_id=ben, item_id=items[4], rating=2.0)
    # A click on an item ben was shown, but two days before: not credited.
    db.record_interaction(user_id=ben, kind="click", item_id=items[0], query=None)
    backdate(pg_url, "interactions", 48, user_id=ben, item_id=items[0])

    rows = db.get_recommendation_performance(days=7)

    by_method = {(row["method"], row["model_version"]): row for row in rows}
    assert set(by_method) == {("ease", 7), ("popularity", None)}
    ease = by_method[("ease", 7)]
    assert (ease["impressions"], ease["users"], ease["engaged"], ease["rated"], ease["liked"]) == (5, 2, 2, 1, 1)
    assert ease["click_through_rate"] == pytest.approx(2 / 5)
    assert ease["rating_rate"] == pytest.approx(1 / 5)
    assert ease["mean_rating_after"] == pytest.approx(4.5)
    popular = by_method[("popularity", None)]
    assert (popular["impressions"], popular["engaged"], popular["rated"], popular["liked"]) == (2, 1, 1, 0)
    assert popular["mean_rating_after"] == pytest.approx(2.0)


def test_days_are_reported_separately_newest_first_and_old_days_left_out(world, pg_url):
    db, items, users = world
    ana = users["ana"]
    db.record_recommendation_impressions(user_id=ana, impressions=shown(items[:2], "ease", 1))
    backdate(pg_url, "recommendation_impressions", 24 * 3, user_id=ana)
    db.record_recommendation_impressions(user_id=ana, impressions=shown(items[2:5], "ease", 2))
    backdate(pg_url, "recommendation_impressions", 24 * 40, user_id=ana, model_version=1)
    db.record_recommendation_impressions(user_id=ana, impressions=shown(items[:1], "item_knn", 2))

    recent = db.get_recommendation_performance(days=30)
    assert [(row["method"], row["model_version"], row["impressions"]) for row in recent] == [
        ("ease", 2, 3),
        ("item_knn", 2, 1),
    ]
    older = db.get_recommendation_performance(days=60)
    assert [row["model_version"] for row in older] == [2, 2, 1]
    assert older[-1]["day"] < older[0]["day"]


def test_a_deleted_item_is_skipped_and_oversized_or_malformed_lists_refused(world):
    db, items, users = world
    recorded = db.record_recommendation_impressions(
        user_id=users["ana"], impressions=shown([items[0], 999_999], "ease", 1)
    )
    assert recorded == 1
    with pytest.raises(ValueError, match="at most 100"):
        db.record_recommendation_impressions(user_id=users["ana"], impressions=shown(list(range(1, 102)), "ease"))
    with pytest.raises(CineLibreError):
        db.record_recommendation_impressions(user_id=users["ana"], impressions=shown(items[:1], "Not A Method"))
    assert db.record_recommendation_impressions(user_id=users["ana"], impressions=[]) == 0


def test_recording_does_not_wait_for_the_disk_flush_and_only_for_its_own_transaction(world, pg_url):
    db, items, users = world
    with psycopg.connect(pg_url) as conn:  # one explicit transaction, as PostgREST or the adapter runs a call
        conn.execute("select public.record_recommendation_impressions(%s, %s::jsonb)",
                     (users["ana"], Jsonb(shown(items[:2], "ease", 3))))
        assert conn.execute("show synchronous_commit").fetchone()[0] == "off"
        conn.commit()
        assert conn.execute("show synchronous_commit").fetchone()[0] == "on"
    rows = db.get_recommendation_performance(days=1)
    assert [(row["method"], row["model_version"], row["impressions"]) for row in rows] == [("ease", 3, 2)]
