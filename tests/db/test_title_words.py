"""Title matches through the titles' words (migration 20270102000100): the vocabulary the catalog keeps, the close
words of a query's words, and what a title match reads."""

from __future__ import annotations

import threading

import psycopg
import pytest

from cinelibre.text import phonetic_key, spoken_key
from tests.db.catalog_rows import movie


def _title_hits(db, query: str, *, count: int = 10) -> list[str]:
    rows = db.search_lexical(query=query, query_key=phonetic_key(query), item_type="all", count=count,
                             query_spoken_key=spoken_key(query))
    ranked = sorted((row for row in rows if row["title_similarity"] is not None),
                    key=lambda row: (-row["title_similarity"], row["item_id"]))
    return [row["title"] for row in ranked]


def _vocabulary(pg_url: str) -> set[str]:
    with psycopg.connect(pg_url) as conn:
        return {word for (word,) in conn.execute("select word from public.title_vocabulary")}


def test_catalog_writes_add_their_title_words_to_the_vocabulary(db, pg_url):
    db.upsert_movies(movies=[movie(1, "Kumbalangi Nights", original_title="കുമ്പളങ്ങി നൈറ്റ്സ്",
                                   original_language="ml")])
    with psycopg.connect(pg_url) as conn:
        keys, title = conn.execute("select title_keys, title from public.movie_search").fetchone()
        words = set(conn.execute("select public.title_words_of(%s, %s)", (keys, title)).fetchone()[0])
    # The keys' words (as written and as said, and the sound) and the title's, lower case.
    assert {"kunpalanki", "nikts", "kmplns", "kumbalangi", "nights"} <= words
    assert words <= _vocabulary(pg_url)
    db.upsert_movies(movies=[movie(1, "Kumbalangi Days", original_language="ml")])
    assert {"days", "kumbalangi", "nights"} <= _vocabulary(pg_url)  # a word no title holds any more stays


@pytest.mark.parametrize(
    ("word", "held", "not_held"),
    [
        ("kanor", {"kanor", "anor", "kanr", "kano", "4:kanr", "5:kano"}, {"kan", "3:kanr"}),
        ("ram", {"ram", "am", "rm", "ra"}, {"1:am"}),
        ("te", {"te"}, {"t", "e"}),
    ],
)
def test_spelling_neighbours(pg_url, word, held, not_held):
    with psycopg.connect(pg_url) as conn:
        neighbours = set(conn.execute("select public.spelling_neighbours(%s)", (word,)).fetchone()[0])
    assert held <= neighbours
    assert not neighbours & not_held


@pytest.fixture
def titles(db):
    db.upsert_movies(movies=[
        movie(1, "Kumbalangi Nights", original_language="ml"),
        movie(2, "RangiTaranga", original_language="kn"),
        movie(3, "Drishyam", original_language="ml"),
        movie(4, "Kaithi", original_language="ta", overview="A prisoner on parole drives a lorry through the night."),
        movie(5, "Nights of Cabiria", original_language="en"),
    ])


@pytest.mark.parametrize(
    ("query", "title"),
    [
        ("Kumbalangi Nights", "Kumbalangi Nights"),  # as written
        ("Kumbalangi Nigts", "Kumbalangi Nights"),  # a letter left out
        ("Kumbalangin Nights", "Kumbalangi Nights"),  # a letter added
        ("Kumbelangi Nights", "Kumbalangi Nights"),  # a letter changed, in a word of five letters or more
        ("Drushyam", "Drishyam"),  # a letter changed in the key ("trusyam", "trisyam")
        ("Drishya", "Drishyam"),  # the ending spelt otherwise: keyed "trisi", close to the words beginning "tris"
        ("rangi taranga", "RangiTaranga"),  # two words written as one in the title
    ],
)
def test_a_title_is_found_from_its_words_or_words_a_letter_away(db, titles, query, title):
    assert _title_hits(db, query)[:1] == [title], query


def test_a_short_word_is_taken_as_typed(db, titles):
    # "Kaithi" is keyed "kaiti": "kait" is a letter from it, but a word of three or four letters is close only to
    # those with a letter added or left out, and "kaot" is neither.
    assert _title_hits(db, "kait")[:1] == ["Kaithi"]
    assert "Kaithi" not in _title_hits(db, "kaot")


def test_a_description_whose_words_no_title_holds_matches_no_title(db, titles):
    rows = db.search_lexical(query="a prisoner on parole drives a lorry", count=10,
                             query_key=phonetic_key("a prisoner on parole drives a lorry"), item_type="all")
    assert [row["title"] for row in rows if row["text_rank"] is not None][:1] == ["Kaithi"]
    assert all(row["title_similarity"] is None for row in rows)


def test_a_query_of_common_words_scores_the_titles_holding_nearly_all_of_them_first(db, pg_url):
    # 300 titles hold "love" and "story" is in one: a title match scores at most 200 titles of a table, so the
    # ones holding (close words of) nearly every query word are read first, and they fill the page.
    movies = [movie(number, f"Love {chr(65 + number % 26)}{number}", original_language="hi")
              for number in range(1, 301)]
    movies += [movie(number, f"Love Story {number}", original_language="hi") for number in range(301, 313)]
    db.upsert_movies(movies=movies)
    hits = _title_hits(db, "love story")
    assert len(hits) == 10
    assert all(title.startswith("Love Story ") for title in hits)


def test_writers_adding_the_same_new_word_at_once_both_commit(db, pg_url):
    """Two transactions insert titles holding a word the vocabulary lacks: the second waits for the first's
    word, then adds nothing, and both titles are found."""
    started = threading.Barrier(2)
    errors: list[BaseException] = []

    def add(number: int) -> None:
        try:
            with psycopg.connect(pg_url) as conn:
                started.wait(timeout=10)
                conn.execute(
                    "with new_item as (insert into items (item_type) values ('movie') returning id)"
                    " insert into movies (item_id, tmdb_id, title, original_language)"
                    " select id, %s, %s, 'hi' from new_item",
                    (9000 + number, f"Zorbalunga {number}"),
                )
        except BaseException as error:  # noqa: BLE001 (reported by the assertion below)
            errors.append(error)

    threads = [threading.Thread(target=add, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("select count(*) from public.title_vocabulary where word = 'zorbalunga'").fetchone()[0] == 1
    assert sorted(_title_hits(db, "zorbalunga")) == ["Zorbalunga 1", "Zorbalunga 2"]
