"""The shapes the original FlickPage web client (GuduriShashikanth/flickpage-frontend) reads, pinned through
the Mangum handlers with real Lambda events, in both modes: the default (additive aliases only) and
CINELIBRE_API_COMPAT=flickpage (the conflicting answers in the original shape).

Each test names the page of the client and the fields it reads (from its public source; none of its code is
here). Its own quirks are kept as it has them: it reads `response.data.movies`, compares a rating's
`item_id` with the id in its address bar as strings, and shows `err.response.data.detail` on failure.
"""

from __future__ import annotations

import pytest

from cinelibre.api.lambda_handler import make_handler
from cinelibre.recommend.training import TrainingParams, train_and_publish
from tests.api.clients import PASSWORD
from tests.api.lambda_events import LambdaClient
from tests.recommend.synthetic import book_row, load_catalog, movie_row, two_taste_world
from tests.search.conftest import embedded_catalog, search_catalog  # noqa: F401

MODES = ("none", "flickpage")


@pytest.fixture(params=MODES)
def mode(request) -> str:
    return request.param


@pytest.fixture
def compat_settings(settings, mode):
    return settings.model_copy(update={"api_compat": mode})


@pytest.fixture
def auth(compat_settings, db, lambda_context) -> LambdaClient:
    from cinelibre.api.auth import create_app

    return LambdaClient(make_handler(create_app(compat_settings)), lambda_context)


@pytest.fixture
def recommend(compat_settings, db, lambda_context) -> LambdaClient:
    from cinelibre.api.recommend import create_app

    return LambdaClient(make_handler(create_app(compat_settings)), lambda_context)


@pytest.fixture
def search(compat_settings, db, embedder, lambda_context) -> LambdaClient:
    from cinelibre.api.search import create_app

    return LambdaClient(make_handler(create_app(compat_settings)), lambda_context, shape="http_api")


@pytest.fixture
def catalog(db):
    movies = [movie_row(10 + i, f"Space film {i}", theme=0) for i in range(4)]
    movies += [movie_row(20 + i, f"Romance film {i}", theme=1, release_date="1999-12-31") for i in range(3)]
    movies.append(
        movie_row(
            30,
            "Ensemble film",
            theme=1,
            original_language="hi",
            cast_members=[{"name": "Lead", "character": "Hero"}, {"name": "Second", "character": "Friend"}],
            crew=[{"name": "Writer One", "job": "Screenplay"}],
        )
    )
    books = [book_row(40 + i, f"Space novel {i}", theme=0) for i in range(2)]
    books.append(
        book_row(50, "Two hands", theme=0, authors=["Alice Author", "Bob Author"], categories=["Classics", "Adventure"])
    )
    return load_catalog(db, movies, books)


def assert_error_body(response, status: int) -> str:
    """Every error: our object, and `detail` (what Login, Register, Search and Books show people)."""
    assert response.status == status
    body = response.json()
    assert set(body) == {"error", "detail"}
    assert body["detail"] == body["error"]["message"] and body["detail"].strip()
    return body["detail"]


# -- Register, Login, Navbar: access_token, user.name, detail ------------------------------------------


def test_register_and_login_answer_the_token_and_the_user(auth, db):
    registered = auth.post(
        "/auth/register", json_body={"email": "ana@example.com", "password": PASSWORD, "name": "Ana"}
    )
    assert registered.status == 201
    body = registered.json()
    assert body["access_token"] and body["token"] == body["access_token"]
    assert body["user"]["name"] == "Ana" and body["user"]["email"] == "ana@example.com"

    logged_in = auth.post("/auth/login", json_body={"email": "ana@example.com", "password": PASSWORD}).json()
    assert logged_in["token"] == logged_in["access_token"] and logged_in["user"]["name"] == "Ana"

    me = auth.get("/auth/me", token=logged_in["access_token"]).json()
    assert me["name"] == "Ana"


def test_registration_and_login_failures_say_why_in_detail(auth, db):
    auth.post("/auth/register", json_body={"email": "ana@example.com", "password": PASSWORD, "name": "Ana"})
    taken = auth.post(
        "/auth/register", json_body={"email": "ana@example.com", "password": PASSWORD, "name": "Ana"}
    )
    assert "ana@example.com" in assert_error_body(taken, 409) or "exists" in taken.json()["detail"]

    short = auth.post("/auth/register", json_body={"email": "bo@example.com", "password": "x", "name": "Bo"})
    assert "password" in assert_error_body(short, 422)
    assert short.json()["error"]["details"][0]["field"] == "password"

    refused = auth.post("/auth/login", json_body={"email": "ana@example.com", "password": "wrong password"})
    assert assert_error_body(refused, 401) == "invalid email or password"


def test_every_error_status_carries_detail(recommend, search, catalog):
    assert_error_body(search.get("/movies/999999"), 404)
    assert_error_body(search.get("/no/such/path"), 404)
    assert_error_body(search.get("/movies", query={"limit": 0}), 422)
    assert_error_body(recommend.get("/ratings/my"), 401)
    assert_error_body(recommend.request("PUT", "/ratings"), 405)


# -- Home and Search (no query): GET /movies?limit=18 -> movies[] ---------------------------------------


def test_movie_lists_carry_movies_beside_items(search, catalog):
    response = search.get("/movies", query={"limit": 18})
    assert response.status == 200
    body = response.json()
    assert body["movies"] == body["items"] and len(body["movies"]) == 8
    for movie in body["movies"]:
        assert movie["id"] == catalog[movie["title"]]
        assert movie["poster_url"].startswith("https://image.tmdb.org/")
        assert movie["release_date"] == str(movie["year"])
        assert movie["release_date"].split("-")[0] in ("2016", "1999")
        assert movie["vote_average"] == 7.0
        assert movie["language"] == movie["original_language"]
    assert {m["release_date"] for m in body["movies"] if m["title"].startswith("Romance")} == {"1999"}


def test_skip_is_offset(search, catalog):
    everything = search.get("/movies", query={"limit": 8}).json()["movies"]
    skipped = search.get("/movies", query={"limit": 2, "skip": 3}).json()
    assert skipped["movies"] == everything[3:5] and skipped["offset"] == 3
    assert search.get("/movies", query={"limit": 2, "offset": 3, "skip": 3}).json()["movies"] == everything[3:5]
    assert "skip" in assert_error_body(search.get("/movies", query={"offset": 1, "skip": 2}), 422)
    assert_error_body(search.get("/books", query={"skip": -1}), 422)


# -- Books (no query): GET /books?limit=20 -> books[] ---------------------------------------------------


def test_book_lists_carry_books_beside_items(search, catalog, mode):
    body = search.get("/books", query={"limit": 20}).json()
    assert body["books"] == body["items"] and len(body["books"]) == 3
    two_hands = next(book for book in body["books"] if book["title"] == "Two hands")
    assert two_hands["id"] == catalog["Two hands"]
    assert two_hands["thumbnail_url"] == "https://books.google.com/50.jpg"
    assert two_hands["published_date"] == "2001"
    if mode == "flickpage":
        assert two_hands["authors"] == "Alice Author, Bob Author"
        assert two_hands["categories"] == "Classics, Adventure"
    else:
        assert two_hands["authors"] == ["Alice Author", "Bob Author"]
        assert two_hands["categories"] == ["Classics", "Adventure"]


# -- MovieDetail: GET /movies/{id}?include_details=true -------------------------------------------------


def test_movie_details_as_the_movie_page_reads_them(search, catalog):
    movie_id = catalog["Ensemble film"]
    response = search.get(f"/movies/{movie_id}", query={"include_details": "true"})
    assert response.status == 200
    movie = response.json()
    assert movie["id"] == movie_id and movie["title"] == "Ensemble film"
    assert movie["poster_url"] == "https://image.tmdb.org/t/p/w500/30.jpg"
    assert movie["release_date"] == "2016-05-20" and movie["language"] == "hi"
    assert movie["runtime"] == 120 and movie["vote_average"] == 7.0 and movie["vote_count"] == 100
    assert movie["genres"] == ["Drama"] and movie["overview"] == "Overview of Ensemble film."
    assert movie["cast"] == [{"name": "Lead", "character": "Hero"}, {"name": "Second", "character": "Friend"}]
    assert movie["cast"] == movie["cast_members"]
    assert movie["crew"] == [{"name": "Writer One", "job": "Screenplay"}]
    # Not stored, so not invented: the page shows budget and revenue only when present.
    assert "budget" not in movie and "revenue" not in movie
    assert search.get(f"/movies/{movie_id}").json() == movie


# -- BookDetail: GET /books/{id} -----------------------------------------------------------------------


def test_book_details_as_the_book_page_reads_them(search, catalog, mode):
    book = search.get(f"/books/{catalog['Two hands']}").json()
    assert book["id"] == catalog["Two hands"] and book["title"] == "Two hands"
    assert book["thumbnail_url"] == "https://books.google.com/50.jpg"
    assert book["published_date"] == "2001" and book["language"] == "en"
    assert book["description"] == "Description of Two hands."
    if mode == "flickpage":
        assert (book["authors"], book["categories"]) == ("Alice Author, Bob Author", "Classics, Adventure")
    else:
        assert (book["authors"], book["categories"]) == (["Alice Author", "Bob Author"], ["Classics", "Adventure"])
    assert "embedding" not in book and "content_hash" not in book
    assert_error_body(search.get(f"/books/{catalog['Space film 0']}"), 404)


# -- Search and Books (query): GET /search/semantic?q&type&limit=20&threshold=0.4 -> results[] ------------


def test_search_type_selects_movies_or_books(search, search_catalog, mode):  # noqa: F811
    query = {"q": "a young heir climbs a giant waterfall to reclaim his kingdom", "limit": 20, "threshold": 0.4}
    films = search.get("/search/semantic", query={**query, "type": "movie"}).json()
    assert films["source"] == "database" and films["item_type"] == "movie"
    assert films["results"] and {r["item_type"] for r in films["results"]} == {"movie"}
    for result in films["results"]:
        assert result["id"] == result["item_id"] == search_catalog[("movie", result["title"])]
        assert result["poster_url"] == result["image_url"] and result["thumbnail_url"] is None
        assert result["release_date"] == str(result["year"]) and result["language"]

    books = search.get(
        "/search/semantic", query={"q": "desert planet empire", "type": "book", "limit": 20, "threshold": 0.4}
    ).json()
    assert {r["item_type"] for r in books["results"]} == {"book"}
    dune = books["results"][0]
    assert dune["title"] == "Dune" and dune["id"] == search_catalog[("book", "Dune")]
    assert dune["thumbnail_url"] == dune["image_url"] and dune["poster_url"] is None
    assert dune["authors"] == ("Frank Herbert" if mode == "flickpage" else ["Frank Herbert"])
    # The long text appears once per result, never under a second name.
    assert "description" not in dune and dune["overview"]

    assert "type" in assert_error_body(
        search.get("/search/semantic", query={"q": "dune", "type": "book", "item_type": "movie"}), 422
    )
    assert_error_body(search.get("/search/semantic", query={"q": "dune", "type": "comic"}), 422)


# -- MovieDetail and BookDetail: similar_items[] --------------------------------------------------------


def test_similar_items_carry_similar_items(recommend, catalog):
    films = recommend.get(f"/recommendations/similar/movie/{catalog['Space film 0']}", query={"limit": 6}).json()
    assert films["similar_items"] == films["items"] and len(films["similar_items"]) == 6
    assert {film["title"] for film in films["similar_items"][:3]} == {"Space film 1", "Space film 2", "Space film 3"}
    for film in films["similar_items"]:
        assert film["id"] == catalog[film["title"]]
        assert film["poster_url"].startswith("https://image.tmdb.org/")

    books = recommend.get(f"/recommendations/similar/book/{catalog['Space novel 0']}", query={"limit": 6}).json()
    assert {book["id"] for book in books["similar_items"]} == {catalog["Space novel 1"], catalog["Two hands"]}
    assert all(book["thumbnail_url"].startswith("https://books.google.com/") for book in books["similar_items"])


# -- Recommendations: popular_items[] and recommendations[] ---------------------------------------------


def test_popular_items_carry_average_and_count(recommend, make_user, catalog):
    for name, value in (("ana", 5.0), ("bo", 4.0)):
        user = make_user(name)
        recommend.post("/ratings", json_body={"item_id": catalog["Romance film 0"], "rating": value}, token=user.token)
    body = recommend.get("/recommendations/popular", query={"limit": 12}).json()
    assert body["popular_items"] == body["items"] and len(body["popular_items"]) == 11
    rated = next(item for item in body["popular_items"] if item["item_id"] == catalog["Romance film 0"])
    assert rated["item_type"] == "movie" and rated["title"] == "Romance film 0"
    assert (rated["avg_rating"], rated["rating_count"]) == (4.5, 2)
    assert rated["poster_url"] == rated["image_url"]
    unrated = [item for item in body["popular_items"] if item["item_id"] != rated["item_id"]]
    assert {(item["avg_rating"], item["rating_count"]) for item in unrated} == {(None, 0)}
    book = next(item for item in body["popular_items"] if item["item_type"] == "book")
    assert book["thumbnail_url"] == book["image_url"] and book["poster_url"] is None


def test_personalized_collaborative_is_collaborative_filtering_in_flickpage_mode(recommend, make_user, db, mode):
    items, _, ratings = two_taste_world(db, users_per_group=4, items_per_group=6)
    target = make_user("target")
    for user, item, value in ratings:
        db.upsert_rating(user_id=user, item_id=item, rating=value)
    for item in items["north"][:4] + items["south"][:2]:
        value = 5.0 if item in items["north"] else 1.0
        recommend.post("/ratings", json_body={"item_id": item, "rating": value}, token=target.token)
    train_and_publish(db, params=TrainingParams(l2=10.0, validate=False))

    body = recommend.get("/recommendations/personalized", query={"limit": 12}, token=target.token).json()

    assert body["recommendations"] == body["items"] and body["recommendations"]
    # The trained model (issue 9) is the original client's "collaborative filtering".
    expected = "collaborative_filtering" if mode == "flickpage" else "ease"
    assert body["method"] == expected
    first = body["recommendations"][0]
    assert first["method"] == expected and first["item_id"] in items["north"][4:]
    assert first["predicted_rating"] >= 4 and first["title"] and first["item_type"] == "movie"
    assert first["poster_url"] and first["release_date"] == "2016"
    # Topped-up items of another method keep their own name in both modes.
    assert {item["method"] for item in body["recommendations"][2:]} <= {expected, "content_based", "popularity"}


def test_personalized_content_based_keeps_its_name(recommend, make_user, catalog):
    user = make_user()
    recommend.post("/ratings", json_body={"item_id": catalog["Space film 0"], "rating": 4.5}, token=user.token)
    body = recommend.get(
        "/recommendations/personalized", query={"limit": 3, "type": "movie"}, token=user.token
    ).json()
    assert body["method"] == "content_based" and len(body["recommendations"]) == 3
    assert all(item["similarity"] > 0 and item["item_type"] == "movie" for item in body["recommendations"])


# -- MovieDetail, BookDetail, MyRatings: POST /ratings, GET /ratings/my, DELETE /ratings/{id} -------------


def test_rating_journey_as_the_detail_and_my_ratings_pages_make_it(recommend, make_user, catalog, mode):
    user = make_user()
    movie_id = str(catalog["Space film 1"])  # the page sends the id from its address bar, a string
    saved = recommend.post(
        "/ratings", json_body={"item_id": movie_id, "item_type": "movie", "rating": 4}, token=user.token
    )
    assert saved.status == 201
    book_id = str(catalog["Two hands"])
    recommend.post("/ratings", json_body={"item_id": book_id, "item_type": "book", "rating": 3.5}, token=user.token)

    movies = recommend.get("/ratings/my", query={"item_type": "movie"}, token=user.token).json()
    everything = recommend.get("/ratings/my", token=user.token).json()
    if mode == "flickpage":
        assert isinstance(movies, list) and isinstance(everything, list)
        mine = next(r for r in movies if r["item_id"] == movie_id)
        assert mine["rating"] == 4.0 and mine["item_type"] == "movie" and mine["created_at"]
        assert [(r["item_id"], r["item_type"]) for r in everything] == [(book_id, "book"), (movie_id, "movie")]
        rating_ids = [r["id"] for r in everything]
    else:
        assert movies["items"][0]["item_id"] == int(movie_id) and movies["total"] == 1
        assert everything["total"] == 2
        rating_ids = [r["id"] for r in everything["items"]]

    assert recommend.request("DELETE", f"/ratings/{rating_ids[0]}", token=user.token).status == 204
    left = recommend.get("/ratings/my", token=user.token).json()
    assert len(left if mode == "flickpage" else left["items"]) == 1


def test_flickpage_ratings_are_one_bare_array_of_up_to_a_hundred(recommend, make_user, db, mode):
    movies = [movie_row(500 + i, f"Film {i}", theme=i % 5) for i in range(25)]
    ids = load_catalog(db, movies)
    user = make_user()
    for item in ids.values():
        db.upsert_rating(user_id=user.id, item_id=item, rating=3.0)
    body = recommend.get("/ratings/my", token=user.token).json()
    if mode == "flickpage":
        assert len(body) == 25 and {r["item_id"] for r in body} == {str(i) for i in ids.values()}
        assert len(recommend.get("/ratings/my", query={"limit": 5, "skip": 20}, token=user.token).json()) == 5
    else:
        assert len(body["items"]) == 20 and body["total"] == 25


# -- interaction tracking: success --------------------------------------------------------------------


def test_interactions_answer_success(recommend, make_user, catalog):
    user = make_user()
    response = recommend.post(
        "/interactions",
        json_body={"item_id": str(catalog["Space film 2"]), "item_type": "movie", "interaction_type": "view"},
        token=user.token,
    )
    assert response.status == 201
    assert response.json()["success"] is True and response.json()["kind"] == "view"


# -- the aliases are documented ---------------------------------------------------------------------------


def test_every_alias_is_in_the_openapi_schema_and_marked_as_kept(compat_settings):
    from cinelibre.api.local import create_local_app

    spec = create_local_app(compat_settings).openapi()
    schemas = spec["components"]["schemas"]
    expected = {
        "MovieSummary": {"release_date", "language"},
        "BookSummary": {"published_date"},
        "MovieDetail": {"language", "cast"},
        "MoviePage": {"movies"},
        "BookPage": {"books"},
        "SearchResult": {"id", "poster_url", "thumbnail_url", "release_date"},
        "SearchResponse": {"source"},
        "RecommendedItem": {"id", "poster_url", "thumbnail_url", "release_date"},
        "PopularItem": {"avg_rating", "rating_count"},
        "PopularItems": {"popular_items"},
        "SimilarItems": {"similar_items"},
        "PersonalizedRecommendations": {"recommendations"},
        "Interaction": {"success"},
        "TokenResponse": {"token"},
        "ErrorResponse": {"detail"},
    }
    for model, fields in expected.items():
        properties = schemas[model]["properties"]
        for name in fields:
            assert "Kept for the original FlickPage client" in properties[name]["description"], (model, name)
    # The answers that change shape with the setting say so in the schema.
    for path in ("/ratings/my", "/recommendations/personalized", "/books", "/books/{book_id}", "/search/semantic"):
        assert "CINELIBRE_API_COMPAT=flickpage" in spec["paths"][path]["get"]["responses"]["200"]["description"]


def test_the_docs_name_every_alias_and_the_setting():
    from typing import get_args

    import yaml

    from cinelibre.settings import Settings
    from tests.api.lambda_events import REPO_ROOT

    api = (REPO_ROOT / "docs" / "api.md").read_text()
    section = api[api.index("## Kept for the original FlickPage client") :]
    for alias in (
        "detail", "token", "movies", "books", "release_date", "language", "published_date", "cast", "source",
        "id", "poster_url", "thumbnail_url", "recommendations", "similar_items", "popular_items", "avg_rating",
        "rating_count", "success", "skip", "type", "include_details", "CINELIBRE_API_COMPAT=flickpage",
    ):
        assert f"`{alias}`" in section, alias
    guide = (REPO_ROOT / "docs" / "flickpage.md").read_text()
    assert "src/services/api.ts" in guide and "baseURL" in guide
    assert "CINELIBRE_CORS_ORIGINS" in guide and "CINELIBRE_API_COMPAT=flickpage" in guide

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((REPO_ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506 (SafeLoader)
    parameter = template["Parameters"]["ApiCompat"]
    assert parameter["Default"] == Settings.model_fields["api_compat"].default == "none"
    assert set(parameter["AllowedValues"]) == set(get_args(Settings.model_fields["api_compat"].annotation))
    assert "CINELIBRE_API_COMPAT" in template["Globals"]["Function"]["Environment"]["Variables"]
