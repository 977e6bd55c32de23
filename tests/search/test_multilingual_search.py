"""Search in the catalog's languages through the search function's Lambda handler (issue 12): titles typed in
any script or spelling, full-text ranking, one result shape, intent-respecting fusion, bad input."""

from __future__ import annotations

import pytest

from tests.search import catalog

DETAIL_FIELDS = ("language", "genres", "director", "overview", "authors", "categories")
STRANGELOVE = "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb"


@pytest.fixture
def love_films(db, search_catalog, embedder):
    """Two more films: a long title that holds the word "love", and a romance whose title does not."""
    from cinelibre.embedding import movie_text
    from tests.db.catalog_rows import movie

    rows = [
        movie(935, STRANGELOVE, original_language="en", genres=["Comedy", "War"], director="Stanley Kubrick",
              release_date="1964-01-29",
              overview="A deranged general orders a nuclear strike on the Soviet Union, and the president, his "
                       "advisers and a stranded pilot scramble to stop the doomsday that follows."),
        movie(76, "Before Sunrise", original_language="en", genres=["Romance", "Drama"],
              director="Richard Linklater", release_date="1995-01-27",
              overview="A young American and a French student meet on a train and spend one night walking "
                       "through Vienna, talking and falling in love before they must part at dawn."),
    ]
    db.upsert_movies(movies=catalog.embedded(rows, [movie_text(row) for row in rows], embedder))


def _titles(client, query: dict) -> list[str]:
    response = client.get("/search/semantic", query={"limit": 5, **query})
    assert response.status == 200, response.text
    return [result["title"] for result in response.json()["results"]]


@pytest.mark.parametrize("q", ["दृश्यम", "ദൃശ്യം", "Drushyam", "ದೃಶ್ಯಂ", "Drishyam ദൃശ്യം"])
def test_drishyam_in_any_script_or_spelling_finds_it_first(search_client, search_catalog, q):
    assert _titles(search_client, {"q": q})[:2] == ["Drishyam", "Drishyam 2"]


@pytest.mark.parametrize(("q", "title"), [("बाहुबली", "Baahubali: The Beginning"), ("লগান", "Lagaan"),
                                          ("ದಂಗಲ್", "Dangal"), ("পথের পাঁচালী", "Pather Panchali")])
def test_a_title_typed_in_another_indian_script_comes_first(search_client, search_catalog, q, title):
    assert _titles(search_client, {"q": q})[0] == title


def test_love_is_not_led_by_dr_strangelove(search_client, love_films):
    assert _titles(search_client, {"q": "love", "item_type": "movie"})[0] == "Before Sunrise"


def test_an_exact_long_title_still_comes_first(search_client, love_films):
    assert _titles(search_client, {"q": STRANGELOVE})[0] == STRANGELOVE
    assert _titles(search_client, {"q": "dr strangelove"})[0] == STRANGELOVE


def test_a_director_is_found_through_full_text(search_client, search_catalog):
    response = search_client.get("/search/semantic", query={"q": "Satyajit Ray", "limit": 3})
    first = response.json()["results"][0]
    assert first["title"] == "Pather Panchali" and "text" in first["matched_by"]


@pytest.mark.parametrize("q", ["सत्यजित राय", "সত্যজিৎ রায়", "Satyajith Ray"])
def test_a_director_typed_in_another_script_or_spelling_is_found_by_the_people_ranking(
    search_client, search_catalog, q
):
    first = search_client.get("/search/semantic", query={"q": q, "limit": 3}).json()["results"][0]
    assert first["title"] == "Pather Panchali" and "people" in first["matched_by"]


def test_an_english_title_typed_in_an_indian_script_is_found_by_its_sound(search_client, love_films):
    first = search_client.get("/search/semantic", query={"q": "बिफोर सनराइज", "limit": 3}).json()["results"][0]
    assert first["title"] == "Before Sunrise" and "title" in first["matched_by"]


def test_a_hit_found_only_by_its_title_carries_the_full_shape(search_client, search_catalog):
    # A threshold no embedding reaches: every hit is lexical, and each still has all of its fields.
    body = search_client.get("/search/semantic", query={"q": "Drishyam", "threshold": 0.99, "limit": 5}).json()
    assert body["results"], body
    for result in body["results"]:
        assert "semantic" not in result["matched_by"]
        assert set(DETAIL_FIELDS) <= result.keys()
    drishyam = body["results"][0]
    assert drishyam["language"] == "ml" and drishyam["genres"] and drishyam["director"] == "Jeethu Joseph"
    assert drishyam["overview"]
    dune = search_client.get("/search/semantic", query={"q": "Dune", "threshold": 0.99, "item_type": "book"})
    book = dune.json()["results"][0]
    assert book["title"] == "Dune" and book["authors"] == ["Frank Herbert"] and book["categories"]


@pytest.mark.parametrize(
    "q",
    [
        "Drishyam\u200d",  # zero-width joiner
        "ദൃശ്യം\u200c",  # zero-width non-joiner
        "\u202eDrishyam\u202c",  # right-to-left override
        "Drishyam 🎬🍿",  # emoji
        "Dri\u0301shyam",  # a combining mark
        "دريشيام Drishyam",  # right-to-left script mixed with Latin
        "Drishyam\u0000",  # NUL: issue 10 may refuse it at the input boundary (422); never a 500
    ],
)
def test_awkward_input_never_fails(search_client, search_catalog, q):
    response = search_client.get("/search/semantic", query={"q": q, "limit": 5})
    assert response.status in (200, 422), response.text
    if response.status == 200:
        assert response.json()["results"][0]["title"] == "Drishyam"


@pytest.mark.parametrize("q", ["😀", "\u200d\u200c", "\u0301\u0301", "🎬 🍿 ‼", "\u202e\u202c"])
def test_a_query_that_normalises_to_nothing_is_a_422_naming_q(search_client, q):
    response = search_client.get("/search/semantic", query={"q": q})
    assert response.status == 422
    assert "q" in [detail["field"] for detail in response.json()["error"]["details"]]
