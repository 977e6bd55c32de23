"""DELETE /auth/me: re-authentication, then the account and everything personal goes, and the per-item
rating statistics (kept by trigger) still equal what the remaining ratings say."""

from __future__ import annotations

import psycopg

from tests.recommend.synthetic import load_catalog, movie_row

PASSWORD = "correct horse battery"


def stats_match_ratings(pg_url: str) -> list[tuple]:
    """Rows where item_rating_stats disagrees with the ratings table (none when consistent)."""
    with psycopg.connect(pg_url) as conn:
        return conn.execute(
            """
            select coalesce(s.item_id, r.item_id), s.rating_count, s.rating_sum, r.n, r.total
            from public.item_rating_stats s
            full join (select item_id, count(*) as n, sum(rating) as total from public.ratings group by item_id) r
              on r.item_id = s.item_id
            where coalesce(s.rating_count, 0) <> coalesce(r.n, 0) or coalesce(s.rating_sum, 0) <> coalesce(r.total, 0)
            """
        ).fetchall()


def test_deleting_the_account_erases_it_and_keeps_the_statistics_consistent(
    auth_client, recommend_client, db, pg_url
):
    items = load_catalog(db, [movie_row(100 + i, f"Film {i}", theme=i % 2) for i in range(3)])
    ana = auth_client.post(
        "/auth/register", json_body={"email": "ana@example.com", "password": PASSWORD, "name": "Ana"}
    ).json()
    bo = auth_client.post(
        "/auth/register", json_body={"email": "bo@example.com", "password": PASSWORD, "name": "Bo"}
    ).json()
    for session, rating in ((ana, 5.0), (bo, 3.0)):
        for item_id in items.values():
            saved = recommend_client.post(
                "/ratings", token=session["access_token"], json_body={"item_id": item_id, "rating": rating}
            )
            assert saved.status == 201
        recommend_client.post(
            "/interactions", token=session["access_token"], json_body={"kind": "search", "query": "film"}
        )
    other_session = auth_client.post("/auth/login", json_body={"email": "ana@example.com", "password": PASSWORD})

    wrong = auth_client.delete("/auth/me", token=ana["access_token"], json_body={"password": "not it at all"})
    assert wrong.status == 403
    missing = auth_client.delete("/auth/me", token=ana["access_token"])
    assert missing.status == 422

    deleted = auth_client.delete("/auth/me", token=ana["access_token"], json_body={"password": PASSWORD})
    assert deleted.status == 204 and deleted.text == ""

    with psycopg.connect(pg_url) as conn:
        left = conn.execute(
            """
            select (select count(*) from public.users where email = 'ana@example.com'),
                   (select count(*) from public.ratings where user_id = %(id)s),
                   (select count(*) from public.interactions where user_id = %(id)s),
                   (select count(*) from public.auth_sessions where user_id = %(id)s),
                   (select count(*) from public.ratings)
            """,
            {"id": ana["user"]["id"]},
        ).fetchone()
    assert left == (0, 0, 0, 0, 3)  # only Bo's three ratings remain
    assert stats_match_ratings(pg_url) == []
    popular = recommend_client.get("/recommendations/popular").json()["items"]
    assert all(item["item_id"] in items.values() for item in popular)

    for token in (ana["access_token"], other_session.json()["access_token"]):
        assert recommend_client.get("/ratings/my", token=token).status == 401
        assert recommend_client.get("/recommendations/personalized", token=token).status == 401
    assert auth_client.post("/auth/login", json_body={"email": "ana@example.com", "password": PASSWORD}).status == 401
    assert recommend_client.get("/ratings/my", token=bo["access_token"]).json()["total"] == 3
