"""search_lexical and set_title_keys (issue 12) on the real database, with known answers."""

from __future__ import annotations

import psycopg
import pytest

from cinelibre.text import phonetic_key, sound_key, spoken_key
from tests.db.catalog_rows import book, movie

DETAIL_FIELDS = {"language", "genres", "director", "overview", "authors", "categories"}


@pytest.fixture
def catalog(db):
    db.upsert_movies(movies=[
        movie(1, "Drishyam", original_title="ദൃശ്യം", original_language="ml", genres=["Crime", "Thriller"],
              director="Jeethu Joseph", cast_members=[{"name": "Mohanlal", "character": "Georgekutty"}],
              overview="A cable operator hides the traces of a death to protect his family."),
        movie(2, "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb", original_language="en",
              genres=["Comedy", "War"], overview="A general goes mad and orders a nuclear strike."),
        movie(3, "Before Sunrise", original_language="en", genres=["Romance", "Drama"],
              overview="Two strangers on a train spend one night walking and talking and fall in love."),
        movie(4, "Kaithi", original_title="கைதி", original_language="ta", genres=["Action", "Thriller"],
              overview="A prisoner just out on parole ends up driving a lorry full of poisoned policemen to a "
                       "hospital through the night."),
    ])
    db.upsert_books(books=[
        book("b1", "गोदान", authors=["Premchand"], language="hi", categories=["Classics"],
             description="A poor peasant in a village dreams of owning a cow."),
    ])


def _lexical(db, query: str, **filters) -> list[dict]:
    return db.search_lexical(query=query, query_key=phonetic_key(query), item_type=filters.pop("item_type", "all"),
                             count=10, query_spoken_key=spoken_key(query), **filters)


def test_upserts_store_the_title_keys_of_every_script(db, catalog, pg_url):
    with psycopg.connect(pg_url) as conn:
        keys = dict(conn.execute("select title, title_keys from public.movie_search").fetchall())
        book_keys = conn.execute("select title_keys from public.book_search").fetchone()[0]
    # The key of every spelling, then the sound (Double Metaphone) of the title written in Latin letters.
    assert keys["Drishyam"] == "trisyam / trsm"
    assert keys["Kaithi"] == "kaiti / kt"
    assert book_keys == phonetic_key("Godaan")


def test_upserts_store_the_people_keys_with_and_without_spaces(db, catalog, pg_url):
    db.upsert_movies(movies=[
        movie(5, "Nayakan", original_language="ta", director="Mani Ratnam",
              cast_members=[{"name": "Kamal Haasan", "character": "Velu Naicker"}]),
    ])
    with psycopg.connect(pg_url) as conn:
        keys = dict(conn.execute("select title, people_keys from public.movie_search").fetchall())
        book_keys = conn.execute("select people_keys from public.book_search").fetchone()[0]
    assert keys["Nayakan"] == "mani ratnam / maniratnam / kamal hasan / kamalhasan"
    assert keys["Drishyam"] == "sit sosep / sitsosep / mohanlal"  # j/s, th/t, final u: as titles are keyed
    assert book_keys == "prensant"


def test_a_name_in_another_script_or_spelling_is_matched_by_its_key(db, catalog):
    for query in ("മോഹൻലാൽ", "मोहनलाल", "Mohanlaal", "Mohanlal"):
        people = [row["title"] for row in _lexical(db, query) if row["people_similarity"] is not None]
        assert people == ["Drishyam"], query
    assert [row["title"] for row in _lexical(db, "प्रेमचंद") if row["people_similarity"]] == ["गोदान"]


def test_an_english_title_typed_in_an_indian_script_is_matched_by_its_sound(db, catalog):
    sunrise = "बिफोर सनराइज"  # "Before Sunrise" as a Hindi speaker would write it
    rows = db.search_lexical(query=sunrise, query_key=phonetic_key(sunrise), item_type="all", count=10,
                             query_sound=sound_key(sunrise))
    assert [row["title"] for row in rows if row["title_similarity"]][:1] == ["Before Sunrise"]
    without_sound = db.search_lexical(query=sunrise, query_key=phonetic_key(sunrise), item_type="all", count=10)
    assert "Before Sunrise" not in [row["title"] for row in without_sound if row["title_similarity"]]


def test_a_title_in_another_script_is_matched_by_its_key(db, catalog):
    for query in ("दृश्यम", "ദൃശ്യം", "Drushyam", "Drishyam"):
        titles = [row["title"] for row in _lexical(db, query) if row["title_similarity"] is not None]
        assert titles[:1] == ["Drishyam"], query
    assert [row["title"] for row in _lexical(db, "Godaan") if row["title_similarity"]] == ["गोदान"]


def test_every_lexical_row_carries_the_full_shape(db, catalog):
    rows = _lexical(db, "Drishyam")
    drishyam = next(row for row in rows if row["title"] == "Drishyam")
    assert drishyam.keys() >= DETAIL_FIELDS
    assert drishyam["language"] == "ml" and drishyam["genres"] == ["Crime", "Thriller"]
    assert drishyam["director"] == "Jeethu Joseph" and drishyam["overview"].startswith("A cable operator")
    godaan = _lexical(db, "Premchand")[0]
    assert godaan["authors"] == ["Premchand"] and godaan["categories"] == ["Classics"]
    assert godaan["language"] == "hi" and godaan["overview"].startswith("A poor peasant")


def test_full_text_ranks_any_word_of_a_description_with_people_and_genres(db, catalog):
    rows = _lexical(db, "a prisoner on parole drives a lorry of poisoned policemen through the night")
    ranked = sorted((row for row in rows if row["text_rank"] is not None), key=lambda row: -row["text_rank"])
    assert ranked[0]["title"] == "Kaithi"
    assert [row["title"] for row in _lexical(db, "Mohanlal") if row["text_rank"]] == ["Drishyam"]
    romance = [row["title"] for row in _lexical(db, "romance") if row["text_rank"]]
    assert romance == ["Before Sunrise"]


def test_title_coverage_tells_a_whole_title_from_a_word_inside_a_long_one(db, catalog):
    love = {row["title"]: row for row in _lexical(db, "love")}
    strangelove = love["Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb"]
    assert strangelove["title_similarity"] == pytest.approx(1.0)
    assert strangelove["title_coverage"] < 0.3
    exact = next(row for row in _lexical(db, "Before Sunrise") if row["title"] == "Before Sunrise")
    assert exact["title_coverage"] == pytest.approx(1.0)


def test_lexical_search_applies_the_filters(db, catalog):
    assert {row["title"] for row in _lexical(db, "Drishyam", language="ta")} <= {"Kaithi"}
    assert all(row["item_type"] == "book" for row in _lexical(db, "Premchand village", item_type="book"))
    assert _lexical(db, "Drishyam", year_from=2030) == []


def test_stop_words_alone_rank_nothing_by_full_text(db, catalog):
    assert all(row["text_rank"] is None for row in _lexical(db, "the of and"))
    assert _lexical(db, "-") == []

