"""The payload models (issue 11): a record without what the catalog needs is refused with pydantic's reason,
and the source counts and names it; a malformed optional field reads as absent and never costs the record."""

from __future__ import annotations

import pytest

from cinelibre.ingest.base import IncompleteRecordError
from cinelibre.ingest.google_books import book_from_volume
from cinelibre.ingest.tmdb import movie_from_details, movie_from_listing

IMAGES = "https://image.tmdb.org/t/p/w500"


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"id": True, "title": "Bool id"}, "id: Input should be a valid integer"),
        ({"id": "12", "title": "Text id"}, "id: Input should be a valid integer"),
        ({"id": 2**31, "title": "Too big"}, "id: Input should be less than 2147483648"),
        ({"id": 7, "title": "  ", "original_title": None}, "movie 7 has no title"),
        ("not an object", "Input should be a valid dictionary"),
    ],
)
def test_a_listing_entry_without_a_usable_id_or_title_is_refused_with_the_reason(entry, reason):
    with pytest.raises(IncompleteRecordError, match=reason):
        movie_from_listing(entry, {}, IMAGES)


def test_malformed_optional_fields_read_as_absent():
    row = movie_from_listing(
        {
            "id": 5, "title": " Five ", "vote_count": -3, "vote_average": "high", "popularity": float("inf"),
            "release_date": "2020-13-40", "poster_path": 42, "genre_ids": [18, "35", True, 99],
        },
        {18: "Drama", 99: "Documentary"},
        IMAGES,
    )  # fmt: skip
    assert row["title"] == "Five" and row["genres"] == ["Drama", "Documentary"]
    assert row["vote_count"] is None and row["vote_average"] is None and row["popularity"] is None
    assert row["release_date"] is None and row["poster_url"] is None

    details = movie_from_details(
        {
            "id": 5, "title": "Five", "runtime": 0, "genres": [{"id": 1, "name": "Drama"}, {"id": 2}, "x"],
            "credits": {
                "cast": [{"name": "B", "order": 2}, {"name": " "}, {"name": "A", "order": 1}, 7],
                "crew": [{"name": "D", "job": "Director"}, {"job": "Director"}, {"name": "E", "job": "Grip"}],
            },
        },
        IMAGES,
    )  # fmt: skip
    assert details["runtime"] is None and details["genres"] == ["Drama"]
    assert [member["name"] for member in details["cast_members"]] == ["A", "B"]
    assert details["crew"] == [{"name": "D", "job": "Director"}] and details["director"] == "D"


def test_a_volume_without_a_usable_id_or_title_is_refused_and_odd_fields_are_dropped():
    with pytest.raises(IncompleteRecordError, match="id: Value error, is empty"):
        book_from_volume({"id": "  ", "volumeInfo": {"title": "T"}})
    with pytest.raises(IncompleteRecordError, match="volume v1 has no title"):
        book_from_volume({"id": "v1", "volumeInfo": "not an object"})
    row = book_from_volume(
        {
            "id": "v2",
            "volumeInfo": {
                "title": "  Two   words ", "authors": ["A", " A ", 3], "pageCount": 0, "averageRating": 9,
                "ratingsCount": True, "imageLinks": {"thumbnail": "http://books.google.com/x?id=1&edge=curl"},
                "industryIdentifiers": [{"type": "ISBN_13", "identifier": "9780000000002"}, "junk"],
            },
        }
    )  # fmt: skip
    assert row["title"] == "Two words" and row["authors"] == ["A"]
    assert row["page_count"] is None and row["average_rating"] is None and row["ratings_count"] is None
    assert row["thumbnail_url"] == "https://books.google.com/x?id=1" and row["isbn_13"] == "9780000000002"
