"""GET /movies, /books, /movies/{id}, /books/{id} through the search function's handler."""

from __future__ import annotations

import pytest


def test_movies_are_paginated_with_a_total(search_client, search_catalog):
    first = search_client.get("/movies", query={"limit": 5}).json()
    assert first["total"] == 14 and first["limit"] == 5 and first["offset"] == 0 and len(first["items"]) == 5
    assert first["items"][0]["title"] == "Baahubali: The Beginning"  # most popular first
    rest = search_client.get("/movies", query={"limit": 100, "offset": 5}).json()
    assert len(rest["items"]) == 9
    assert {m["id"] for m in first["items"]}.isdisjoint({m["id"] for m in rest["items"]})
    beyond = search_client.get("/movies", query={"offset": 50}).json()
    assert beyond["items"] == [] and beyond["total"] == 14  # past the end the total is still known


def test_movie_filters(search_client, search_catalog):
    hindi = search_client.get("/movies", query={"language": "hi"}).json()
    assert {m["title"] for m in hindi["items"]} == {"3 Idiots", "Dangal", "Lagaan"} and hindi["total"] == 3
    sport = search_client.get("/movies", query={"genre": "Sport", "year_from": 2010}).json()
    assert [m["title"] for m in sport["items"]] == ["Dangal"]
    old = search_client.get("/movies", query={"year_to": 1980}).json()
    assert {m["title"] for m in old["items"]} == {"Jaws", "Pather Panchali"}


def test_book_list_and_filters(search_client, search_catalog):
    books = search_client.get("/books").json()
    assert books["total"] == 8
    bengali = search_client.get("/books", query={"language": "bn"}).json()
    assert [b["title"] for b in bengali["items"]] == ["Gora"]
    scifi = search_client.get("/books", query={"category": "Science Fiction", "year_from": 1960}).json()
    assert {b["title"] for b in scifi["items"]} == {"Dune", "The Martian"}


def test_movie_details_are_complete_and_never_include_the_embedding(search_client, search_catalog):
    movie_id = search_catalog[("movie", "Drishyam")]
    response = search_client.get(f"/movies/{movie_id}")
    assert response.status == 200
    movie = response.json()
    assert movie["title"] == "Drishyam" and movie["original_title"] == "ദൃശ്യം"
    assert movie["release_date"] == "2013-12-19" and movie["year"] == 2013
    assert movie["genres"] == ["Thriller", "Drama"] and movie["director"] == "Jeethu Joseph"
    assert movie["cast_members"] == [{"name": "Lead Actor", "character": "Hero"}]
    assert movie["crew"] == [{"name": "Jeethu Joseph", "job": "Director"}]
    assert movie["runtime"] == 150 and movie["vote_count"] > 0 and movie["vote_average"] == 7.5
    assert "embedding" not in response.text and "content_hash" not in response.text


def test_book_details(search_client, search_catalog):
    book = search_client.get(f"/books/{search_catalog[('book', 'Gora')]}").json()
    assert (
        book["authors"] == ["Rabindranath Tagore"]
        and book["published_date"] == "1910"
        and book["year"] == 1910
    )
    assert book["language"] == "bn" and book["categories"] == ["Fiction"]


def test_missing_or_mistyped_ids_are_404(search_client, search_catalog):
    assert search_client.get("/movies/999999").json() == {
        "error": {"code": "not_found", "message": "no movie with id 999999"},
        "detail": "no movie with id 999999",
    }
    book_id = search_catalog[("book", "Dune")]
    assert search_client.get(f"/movies/{book_id}").status == 404
    assert search_client.get(f"/books/{search_catalog[('movie', 'Jaws')]}").status == 404


@pytest.mark.parametrize(
    "path, query, field",
    [
        ("/movies", {"limit": 101}, "limit"),
        ("/movies", {"limit": 0}, "limit"),
        ("/movies", {"offset": -1}, "offset"),
        ("/movies", {"offset": 10_001}, "offset"),
        ("/movies", {"year_from": 2010, "year_to": 2000}, "year_from"),
        ("/movies", {"language": "h1!"}, "language"),
        ("/books", {"limit": 1000}, "limit"),
        ("/movies/abc", {}, "movie_id"),
        ("/movies/0", {}, "movie_id"),
        ("/books/-5", {}, "book_id"),
    ],
)
def test_bad_catalog_input_is_a_422(search_client, path, query, field):
    response = search_client.get(path, query=query)
    assert response.status == 422
    assert field in [detail["field"] for detail in response.json()["error"]["details"]]
