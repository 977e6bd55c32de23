"""Ratings, interactions and recommendations through the recommend function's Lambda handler."""

from __future__ import annotations

import json

import pytest

from tests.recommend.synthetic import book_row, load_catalog, movie_row


@pytest.fixture
def catalog(db):
    movies = [movie_row(10 + i, f"Space film {i}", theme=0) for i in range(4)]
    movies += [movie_row(20 + i, f"Romance film {i}", theme=1) for i in range(4)]
    books = [book_row(30 + i, f"Space novel {i}", theme=0) for i in range(3)]
    return load_catalog(db, movies, books)


def emf_metrics(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


# -- ratings ----------------------------------------------------------------------------------------------


def test_rating_creates_then_updates_one_row(recommend_client, make_user, catalog, capsys):
    user = make_user()
    item = catalog["Space film 0"]
    created = recommend_client.post("/ratings", json_body={"item_id": item, "rating": 4.5}, token=user.token)
    assert created.status == 201
    assert created.json()["created"] is True
    assert created.json()["rating"] == 4.5 and created.json()["item_type"] == "movie"

    updated = recommend_client.post("/ratings", json_body={"item_id": item, "rating": 3.0}, token=user.token)
    assert updated.status == 200
    assert updated.json()["created"] is False
    assert updated.json()["id"] == created.json()["id"]

    mine = recommend_client.get("/ratings/my", token=user.token).json()
    assert mine["total"] == 1
    assert mine["items"][0]["rating"] == 3.0
    assert any(line.get("RatingsSaved") for line in emf_metrics(capsys.readouterr().out))


@pytest.mark.parametrize("rating", [0, 0.25, 4.3, 5.5, -1, "five", None])
def test_ratings_outside_half_steps_from_half_to_five_are_refused(
    recommend_client, make_user, catalog, rating
):
    user = make_user()
    response = recommend_client.post(
        "/ratings", json_body={"item_id": catalog["Space film 0"], "rating": rating}, token=user.token
    )
    assert response.status == 422
    assert [detail["field"] for detail in response.json()["error"]["details"]] == ["rating"]


def test_rating_an_unknown_item_is_a_404(recommend_client, make_user, catalog):
    user = make_user()
    response = recommend_client.post(
        "/ratings", json_body={"item_id": 999_999, "rating": 4.0}, token=user.token
    )
    assert response.status == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "item not found"},
        "detail": "item not found",
    }


def test_rating_with_the_wrong_item_type_is_a_404(recommend_client, make_user, catalog):
    user = make_user()
    response = recommend_client.post(
        "/ratings",
        json_body={"item_id": catalog["Space novel 0"], "item_type": "movie", "rating": 4.0},
        token=user.token,
    )
    assert response.status == 404
    assert recommend_client.get("/ratings/my", token=user.token).json()["total"] == 0


def test_ratings_and_interactions_need_a_token(recommend_client, catalog):
    for method, path, body in (
        ("POST", "/ratings", {"item_id": catalog["Space film 0"], "rating": 4.0}),
        ("GET", "/ratings/my", None),
        ("DELETE", "/ratings/1", None),
        ("POST", "/interactions", {"kind": "view", "item_id": catalog["Space film 0"]}),
        ("GET", "/recommendations/personalized", None),
    ):
        response = recommend_client.request(method, path, json_body=body)
        assert response.status == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"


def test_my_ratings_are_paginated_filtered_and_carry_titles_and_images(recommend_client, make_user, catalog):
    user = make_user()
    for title in ("Space film 0", "Space film 1", "Space film 2", "Space novel 0"):
        recommend_client.post(
            "/ratings", json_body={"item_id": catalog[title], "rating": 4.0}, token=user.token
        )

    page = recommend_client.get("/ratings/my", query={"limit": 2, "offset": 0}, token=user.token).json()
    assert page["total"] == 4 and page["limit"] == 2 and len(page["items"]) == 2
    assert page["items"][0]["title"] == "Space novel 0"  # newest first
    assert page["items"][0]["image_url"].startswith("https://")
    rest = recommend_client.get("/ratings/my", query={"limit": 2, "offset": 2}, token=user.token).json()
    assert {item["id"] for item in page["items"]}.isdisjoint({item["id"] for item in rest["items"]})
    books = recommend_client.get("/ratings/my", query={"item_type": "book"}, token=user.token).json()
    assert books["total"] == 1 and books["items"][0]["item_type"] == "book"

    too_many = recommend_client.get("/ratings/my", query={"limit": 101}, token=user.token)
    assert too_many.status == 422
    assert too_many.json()["error"]["details"][0]["field"] == "limit"


def test_deleting_a_rating_only_works_once_and_only_for_its_owner(recommend_client, make_user, catalog):
    ana, bo = make_user("ana"), make_user("bo")
    rating_id = recommend_client.post(
        "/ratings", json_body={"item_id": catalog["Space film 0"], "rating": 4.0}, token=ana.token
    ).json()["id"]

    stolen = recommend_client.delete(f"/ratings/{rating_id}", token=bo.token)
    assert stolen.status == 404
    assert recommend_client.get("/ratings/my", token=ana.token).json()["total"] == 1

    deleted = recommend_client.delete(f"/ratings/{rating_id}", token=ana.token)
    assert deleted.status == 204 and deleted.text == ""
    again = recommend_client.delete(f"/ratings/{rating_id}", token=ana.token)
    assert again.status == 404
    assert again.json()["error"]["code"] == "not_found"


# -- interactions -----------------------------------------------------------------------------------------


def test_interactions_are_recorded(recommend_client, make_user, catalog):
    user = make_user()
    view = recommend_client.post(
        "/interactions", json_body={"kind": "view", "item_id": catalog["Space film 0"]}, token=user.token
    )
    assert view.status == 201
    assert view.json()["kind"] == "view" and view.json()["item_id"] == catalog["Space film 0"]
    search = recommend_client.post(
        "/interactions",
        json_body={"interaction_type": "search", "query": "  space   opera "},
        token=user.token,
    )
    assert search.status == 201
    assert search.json()["query"] == "space opera"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "view"}, "item_id"),
        ({"kind": "click", "query": "x"}, "item_id"),
        ({"kind": "search"}, "query"),
        ({"kind": "search", "query": "   "}, "query"),
        ({"kind": "purchase", "item_id": 1}, "kind"),
        ({"item_id": 1}, "kind"),
        ({"kind": "search", "query": "q" * 501}, "query"),
        ({"kind": "view", "item_id": "abc"}, "item_id"),
    ],
)
def test_invalid_interactions_are_422_naming_the_field(recommend_client, make_user, body, field):
    user = make_user()
    response = recommend_client.post("/interactions", json_body=body, token=user.token)
    assert response.status == 422
    assert field in [detail["field"] for detail in response.json()["error"]["details"]]


def test_an_interaction_with_an_unknown_item_is_a_404(recommend_client, make_user, catalog):
    user = make_user()
    response = recommend_client.post(
        "/interactions", json_body={"kind": "click", "item_id": 424242}, token=user.token
    )
    assert response.status == 404


# -- recommendations --------------------------------------------------------------------------------------


def test_personalized_names_the_method_and_gives_reasons_for_each_stage(
    recommend_client, make_user, catalog, capsys
):
    user = make_user()
    cold = recommend_client.get("/recommendations/personalized", query={"limit": 5}, token=user.token).json()
    assert cold["method"] == "popularity" and cold["rating_count"] == 0
    assert len(cold["items"]) == 5 and all(item["reason"] for item in cold["items"])

    recommend_client.post(
        "/ratings", json_body={"item_id": catalog["Space film 0"], "rating": 4.5}, token=user.token
    )
    warm = recommend_client.get(
        "/recommendations/personalized", query={"limit": 3, "item_type": "movie"}, token=user.token
    ).json()
    assert warm["method"] == "content_based"
    assert warm["explanation"]
    assert [item["reason"] for item in warm["items"]] == ["because you rated Space film 0 4.5"] * 3
    assert catalog["Space film 0"] not in [item["item_id"] for item in warm["items"]]
    assert {item["item_type"] for item in warm["items"]} == {"movie"}

    methods = [
        d[0]["method"]
        for line in emf_metrics(capsys.readouterr().out)
        if "PersonalizedRecommendations" in line
        for d in [[line]]
    ]
    assert methods == ["popularity", "content_based"]


def test_personalized_from_the_trained_model_through_the_handler(recommend_client, make_user, db, forget_models):
    from cinelibre.recommend.training import TrainingParams, train_and_publish
    from tests.recommend.synthetic import two_taste_world

    items, users, ratings = two_taste_world(db, users_per_group=4, items_per_group=6)
    target = make_user("target")
    for user, item, value in ratings:
        db.upsert_rating(user_id=user, item_id=item, rating=value)
    for item in items["north"][:4] + items["south"][:2]:
        value = 5.0 if item in items["north"] else 1.0
        recommend_client.post("/ratings", json_body={"item_id": item, "rating": value}, token=target.token)

    report = train_and_publish(db, params=TrainingParams(l2=10.0, validate=False))

    body = recommend_client.get(
        "/recommendations/personalized", query={"limit": 2}, token=target.token
    ).json()

    assert body["method"] == "ease" and body["model_version"] == report.model_version
    assert {item["item_id"] for item in body["items"]} == set(items["north"][4:])
    assert {item["method"] for item in body["items"]} == {"ease"}
    assert {item["model_version"] for item in body["items"]} == {report.model_version}
    assert all(item["reason"].startswith("because you liked north film ") for item in body["items"])
    # The target loved every north film and hated every south one: the predictor says so, shrunk towards
    # the baseline as a few ratings warrant.
    from cinelibre.recommend import service

    south = service.predicted_ratings(db, target.id, items["south"][2:])
    assert min(item["predicted_rating"] for item in body["items"]) > max(south.values()) + 0.5


def test_personalized_limits(recommend_client, make_user):
    user = make_user()
    for limit in (0, 101):
        response = recommend_client.get(
            "/recommendations/personalized", query={"limit": limit}, token=user.token
        )
        assert response.status == 422
    bad_type = recommend_client.get(
        "/recommendations/personalized", query={"item_type": "game"}, token=user.token
    )
    assert bad_type.status == 422
    assert bad_type.json()["error"]["details"][0]["field"] == "item_type"


def test_similar_items_within_and_across_kinds(recommend_client, catalog):
    movie_id = catalog["Space film 0"]
    movies = recommend_client.get(f"/recommendations/similar/movie/{movie_id}", query={"limit": 3})
    assert movies.status == 200
    body = movies.json()
    assert body["source"] == {"item_id": movie_id, "item_type": "movie", "title": "Space film 0"}
    assert {item["title"] for item in body["items"]} == {"Space film 1", "Space film 2", "Space film 3"}
    assert "embedding" not in movies.text

    books = recommend_client.get(
        f"/recommendations/similar/movie/{movie_id}", query={"target_type": "book"}
    ).json()
    assert books["target_type"] == "book"
    assert [item["title"].startswith("Space novel") for item in books["items"]] == [True] * 3

    back = recommend_client.get(
        f"/recommendations/similar/book/{catalog['Space novel 0']}",
        query={"target_type": "movie", "limit": 4},
    ).json()
    assert {item["title"] for item in back["items"]} == {f"Space film {i}" for i in range(4)}


def test_similar_items_of_a_missing_or_mistyped_item_is_a_404(recommend_client, catalog):
    assert recommend_client.get("/recommendations/similar/movie/999999").status == 404
    mistyped = recommend_client.get(f"/recommendations/similar/movie/{catalog['Space novel 0']}")
    assert mistyped.status == 404
    assert mistyped.json()["error"]["message"] == f"no movie with id {catalog['Space novel 0']}"
    assert recommend_client.get("/recommendations/similar/song/1").status == 422


def test_popular_is_public_and_filtered(recommend_client, make_user, catalog):
    user = make_user()
    recommend_client.post(
        "/ratings", json_body={"item_id": catalog["Romance film 2"], "rating": 5.0}, token=user.token
    )
    popular = recommend_client.get("/recommendations/popular", query={"limit": 3, "item_type": "movie"})
    assert popular.status == 200
    body = popular.json()
    assert body["method"] == "popularity"
    assert body["items"][0]["title"] == "Romance film 2"
    assert body["items"][0]["reason"] == "popular this month: rated 5.0 on average by 1 person"
    books = recommend_client.get("/recommendations/popular", query={"item_type": "book"}).json()
    assert {item["item_type"] for item in books["items"]} == {"book"}
    assert recommend_client.get("/recommendations/popular", query={"limit": 500}).status == 422


def test_readiness_reports_the_database(recommend_client, catalog):
    response = recommend_client.get("/")
    assert response.status == 200
    body = response.json()
    assert body["name"] == "cinelibre-recommend" and body["ready"] is True
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["database"]["movies"] == 8
    assert "model" not in body["checks"]


def test_a_page_past_the_end_is_empty_but_keeps_the_total(recommend_client, make_user, catalog):
    user = make_user()
    recommend_client.post(
        "/ratings", json_body={"item_id": catalog["Space film 0"], "rating": 4.0}, token=user.token
    )
    beyond = recommend_client.get("/ratings/my", query={"offset": 10}, token=user.token).json()
    assert beyond == {"items": [], "total": 1, "limit": 20, "offset": 10}
