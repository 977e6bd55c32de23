"""The text recipes: what each item kind is embedded from, cut to the model's window in one place."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from cinelibre.embedding import MODEL_ID, book_text, content_hash, fit_to_model, movie_text, recipes
from cinelibre.errors import ValidationError


@pytest.fixture(scope="module")
def token_count(built_layer: Path):
    tokenizer = Tokenizer.from_file(str(built_layer / "tokenizer.json"))
    tokenizer.no_truncation()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def test_movie_text_has_title_year_genres_overview() -> None:
    movie = {
        "title": "Colaba Nights",
        "release_date": "2019-08-30",
        "genres": ["Crime", "Thriller"],
        "overview": "Five strangers plan to empty a diamond vault  during the\nGanesh festival.",
    }

    assert movie_text(movie) == (
        "Colaba Nights (2019). Crime, Thriller. "
        "Five strangers plan to empty a diamond vault during the Ganesh festival."
    )


@pytest.mark.parametrize(
    ("movie", "expected"),
    [
        ({"title": "Biscuit", "year": 2020, "genres": [], "overview": None}, "Biscuit (2020)."),
        ({"title": "Biscuit", "release_date": None, "genres": ["Drama"]}, "Biscuit. Drama."),
        ({"title": "Biscuit", "release_date": "", "overview": "A dog. A man."}, "Biscuit. A dog. A man."),
        ({"title": "Why Not?", "release_date": "2021-01-01"}, "Why Not? (2021)."),
    ],
)
def test_movie_text_leaves_out_missing_parts(movie: dict, expected: str) -> None:
    assert movie_text(movie) == expected


def test_book_text_has_title_authors_categories_description() -> None:
    book = {
        "title": "Tiny Hinges",
        "authors": ["Lena Marsh", "O. Adeyemi"],
        "categories": ["Self-Help", "Psychology"],
        "description": "Why do resolutions fail by February?",
    }

    assert book_text(book) == (
        "Tiny Hinges, by Lena Marsh, O. Adeyemi. Self-Help, Psychology. Why do resolutions fail by February?"
    )
    assert book_text({"title": "Kitchen Gods", "authors": [], "categories": None}) == "Kitchen Gods."


@pytest.mark.parametrize("item", [{"title": ""}, {"title": None}, {}])
def test_an_item_without_title_cannot_be_embedded(item: dict) -> None:
    with pytest.raises(ValidationError, match="needs a title"):
        movie_text(item)
    with pytest.raises(ValidationError, match="needs a title"):
        book_text(item)


def test_long_overview_is_cut_to_the_token_window_at_a_word_boundary(token_count) -> None:
    overview = " ".join(["Unbelievably", "extraordinary", "circumnavigation"] * 200)

    text = movie_text({"title": "The Salt Road", "year": 2028, "genres": ["Epic"], "overview": overview})

    assert text.startswith("The Salt Road (2028). Epic. Unbelievably extraordinary")
    assert 240 <= token_count(text) <= 254  # [CLS] and [SEP] take the other two of 256 positions
    assert text.split()[-1] in {"Unbelievably", "extraordinary", "circumnavigation"}
    assert overview.startswith(text.removeprefix("The Salt Road (2028). Epic. "))


def test_short_text_is_only_whitespace_normalised() -> None:
    assert fit_to_model("  a\tspace\n\nopera  ") == "a space opera"


def test_content_hash_covers_text_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "Colaba Nights (2019). Crime, Thriller."
    digest = content_hash(text)

    assert len(digest) == 64 and int(digest, 16) >= 0
    assert digest == content_hash(text)
    assert digest != content_hash(text + " ")
    assert digest != hashlib.sha256(text.encode()).hexdigest()  # the model id is part of it
    monkeypatch.setattr(recipes, "MODEL_ID", MODEL_ID.replace("r1", "r2"))
    assert content_hash(text) != digest
