"""Loading the demo catalog with the real model into the real database, and the ratings generator."""

from __future__ import annotations

import collections

import pytest

from cinelibre.demo import catalog as demo_catalog
from cinelibre.demo.catalog import load_catalog
from cinelibre.demo.ratings import PERSONAS, USERS_PER_PERSONA, catalog_items, load_ratings, plan_ratings

HASH = "$2b$10$abcdefghijklmnopqrstuuAbCdEfGhIjKlMnOpQrStUvWxYz01234"


@pytest.fixture
def small_catalog(monkeypatch):
    """A slice of the real demo data (all eight languages), to keep the test quick."""
    movies = demo_catalog.raw_movies()
    by_language: dict[str, list] = collections.defaultdict(list)
    for movie in movies:
        by_language[movie["original_language"]].append(movie)
    sliced_movies = [m for group in by_language.values() for m in group[:6]]
    sliced_movies += [m for m in movies if m["title"] == "Drishyam" and m not in sliced_movies]
    sliced_books = demo_catalog.raw_books()[:30]
    monkeypatch.setattr(demo_catalog, "raw_movies", lambda: sliced_movies)
    monkeypatch.setattr(demo_catalog, "raw_books", lambda: sliced_books)
    return sliced_movies, sliced_books


class CountingEmbedder:
    def __init__(self, embedder):
        self.embedder = embedder
        self.texts = 0

    def embed_passages(self, texts):
        for vector in self.embedder.embed_passages(texts):
            self.texts += 1
            yield vector


def test_loading_twice_embeds_and_writes_nothing_the_second_time(db, embedder, small_catalog):
    movies, books = small_catalog
    counting = CountingEmbedder(embedder)
    first = load_catalog(db, counting)
    assert counting.texts == len(movies) + len(books)
    assert first["movies"]["inserted"] == len(movies) and first["books"]["inserted"] == len(books)
    second = load_catalog(db, counting)
    assert counting.texts == len(movies) + len(books)
    assert second["movies"] == {"total": len(movies), "embedded": 0, "inserted": 0, "updated": 0,
                                "unchanged": len(movies)}
    assert db.health()["embedded_movies"] == len(movies)


def test_demo_items_are_marked(db, embedder, small_catalog):
    load_catalog(db, embedder)
    page, _ = db.list_movies(language="ml", genre=None, year_from=None, year_to=None, limit=1, offset=0)
    details = db.get_movie(movie_id=page[0]["id"])
    assert details["is_demo"] is True and details["tmdb_id"] < 0


def test_semantic_search_over_demo_synopses_finds_the_obvious_film(db, embedder, small_catalog):
    load_catalog(db, embedder)
    drishyam = next(m for m in demo_catalog.raw_movies() if m["title"] == "Drishyam")
    query = embedder.embed_query("a family man hides a crime from the police to protect his daughter")
    top = db.match_movies(query_embedding=query, threshold=0.0, count=3)
    assert drishyam["title"] in [row["title"] for row in top]


def test_rating_plan_is_deterministic_and_follows_tastes():
    items = [
        {"item_id": i, "item_type": "movie", "title": f"Film {i:02d}", "year": 2000,
         "genres": ["Crime", "Thriller"] if i % 2 else ["Romance"], "categories": [], "language": "en"}
        for i in range(1, 80)
    ]
    first, second = plan_ratings(items), plan_ratings(items)
    assert first == second
    assert len(first) == len(PERSONAS) * USERS_PER_PERSONA
    noir = [ratings for persona, _, ratings in first if persona.slug == "noir"]
    by_id = {item["item_id"]: item for item in items}
    for ratings in noir:
        loved = [by_id[item_id] for item_id, value in ratings if value >= 4.0]
        assert loved and all("Crime" in item["genres"] for item in loved)
        assert all(value * 2 == int(value * 2) and 0.5 <= value <= 5.0 for _, value in ratings)


def test_demo_ratings_load_idempotently(db, embedder, small_catalog):
    load_catalog(db, embedder)
    first = load_ratings(db, password_hash=HASH)
    second = load_ratings(db, password_hash=HASH)
    assert first["users_created"] == len(PERSONAS) * USERS_PER_PERSONA and second["users_created"] == 0
    assert first["ratings"] == second["ratings"] > 0
    assert len(catalog_items(db)) == len(small_catalog[0]) + len(small_catalog[1])
    popular = db.get_popular_items(item_type="all", count=5)
    assert popular[0]["rating_count"] >= 1


def test_rating_plan_follows_the_titles_not_the_ids_they_were_given():
    """The demo sources load at the same time, so the same catalog can get its ids in another order."""
    titles = [f"Film {n:02d}" for n in range(1, 80)]
    first = [{"item_id": i, "item_type": "movie", "title": title, "year": 2000, "genres": ["Crime"],
              "categories": [], "language": "en"} for i, title in enumerate(titles, start=1)]
    renumbered = [dict(item, item_id=1000 - item["item_id"]) for item in first]
    title_of = {"first": {item["item_id"]: item["title"] for item in first},
                "renumbered": {item["item_id"]: item["title"] for item in renumbered}}

    def by_title(plan, ids):
        return [[(title_of[ids][item_id], rating) for item_id, rating in ratings] for _, _, ratings in plan]

    assert by_title(plan_ratings(first), "first") == by_title(plan_ratings(renumbered), "renumbered")
