"""The bundled demo catalog meets what the product promises: size, languages, categories, clean data."""

from __future__ import annotations

import collections
import re

import pytest

from cinelibre.demo.catalog import book_row, movie_row, raw_books, raw_movies

LANGUAGES = {"en", "hi", "te", "ta", "kn", "ml", "bn", "mr"}
TMDB_GENRES = {
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family", "Fantasy", "History",
    "Horror", "Music", "Mystery", "Romance", "Science Fiction", "Thriller", "War", "Western",
}


@pytest.fixture(scope="module")
def movies():
    return raw_movies()


@pytest.fixture(scope="module")
def books():
    return raw_books()


def _words(text: str) -> int:
    return len(re.findall(r"\S+", text))


def test_at_least_300_movies_across_eight_languages(movies):
    by_language = collections.Counter(m["original_language"] for m in movies)
    assert len(movies) >= 300
    assert set(by_language) == LANGUAGES
    assert min(by_language.values()) >= 25, by_language


def test_at_least_150_books_across_30_categories(books):
    assert len(books) >= 150
    main_categories = collections.Counter(b["categories"][0] for b in books)
    assert len(main_categories) >= 30, main_categories


def test_ids_and_titles_are_unique(movies, books):
    for entries in (movies, books):
        ids = [e["demo_id"] for e in entries]
        assert len(ids) == len(set(ids))
        keys = [(e["title"], e["year"]) for e in entries]
        assert len(keys) == len(set(keys))


def test_movies_are_well_formed(movies):
    for m in movies:
        assert m["title"] and m["director"] and 1900 < m["year"] <= 2026, m["title"]
        assert set(m["genres"]) <= TMDB_GENRES and 1 <= len(m["genres"]) <= 4, m["title"]
        assert 45 <= _words(m["overview"]) <= 95, m["title"]
        if m["release_date"]:
            assert m["release_date"].startswith(str(m["year"])), m["title"]


def test_books_are_well_formed(books):
    for b in books:
        assert b["title"] and b["authors"] and b["categories"], b["title"]
        assert 45 <= _words(b["description"]) <= 95, b["title"]


def test_demo_rows_cannot_collide_with_real_sources(movies, books):
    assert all(movie_row(m)["tmdb_id"] < 0 for m in movies)
    assert all(book_row(b)["google_id"].startswith("demo-") for b in books)


def test_the_titles_the_docs_mention_are_there(movies):
    titles = {m["title"] for m in movies}
    assert {"Baahubali: The Beginning", "Drishyam", "RRR"} <= titles
