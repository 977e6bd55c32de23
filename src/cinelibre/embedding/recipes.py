"""The text each catalogue item is embedded from, and the hash that tells ingest when to embed it again.

One recipe per item kind, both cut to the model's token window in one place (`fit_to_model`), by the model's
own tokenizer and at a word boundary: the model would silently drop whatever lies past 256 tokens, so the
text that is stored and hashed is exactly the text the vector was made from.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from cinelibre.embedding.layer import MODEL_ID, verified_layer
from cinelibre.errors import ValidationError

# [CLS] and [SEP] take two of the model's positions.
SPECIAL_TOKENS = 2
_YEAR = re.compile(r"^(\d{4})")


@lru_cache(maxsize=4)
def _counting_tokenizer(model_path: Path) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(verified_layer(model_path).tokenizer_file))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _model_path() -> Path:
    from cinelibre.settings import get_settings

    return get_settings().model_path


def _token_budget(model_path: Path) -> int:
    return verified_layer(model_path).spec.max_tokens - SPECIAL_TOKENS


def fit_to_model(text: str, *, model_path: Path | None = None) -> str:
    """`text` with whitespace collapsed, cut after the last whole word that fits the model's token window."""
    text = " ".join(text.split())
    path = model_path or _model_path()
    budget = _token_budget(path)
    encoding = _counting_tokenizer(path).encode(text, add_special_tokens=False)
    if len(encoding.ids) <= budget:
        return text
    word_ids = encoding.word_ids
    last = budget - 1
    # Back off while the first dropped token continues the word of the last kept one (a ##piece).
    while last > 0 and word_ids[last] is not None and word_ids[last] == word_ids[last + 1]:
        last -= 1
    return text[: encoding.offsets[last][1]].rstrip()


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""


def _joined(values: object) -> str:
    if values is None:
        return ""
    if isinstance(values, str):
        return _clean(values)
    if isinstance(values, Iterable):
        return ", ".join(part for part in (_clean(v) for v in values) if part)
    return _clean(values)


def _sentence(part: str) -> str:
    return part if part.endswith((".", "!", "?")) else f"{part}."


def _compose(*parts: str) -> str:
    return " ".join(_sentence(part) for part in parts if part)


def _movie_year(movie: Mapping[str, Any]) -> str:
    year = movie.get("year")
    if year:
        return _clean(year)
    match = _YEAR.match(_clean(movie.get("release_date")))
    return match.group(1) if match else ""


def movie_text(movie: Mapping[str, Any]) -> str:
    """``Title (Year). Genre, genre. Overview`` cut to the model's window; a missing part is left out."""
    title = _clean(movie.get("title"))
    if not title:
        raise ValidationError("a movie needs a title to be embedded", details={"movie": movie.get("id")})
    year = _movie_year(movie)
    heading = f"{title} ({year})" if year else title
    return fit_to_model(_compose(heading, _joined(movie.get("genres")), _clean(movie.get("overview"))))


def book_text(book: Mapping[str, Any]) -> str:
    """``Title, by Author, Author. Category. Description`` cut to the model's window."""
    title = _clean(book.get("title"))
    if not title:
        raise ValidationError("a book needs a title to be embedded", details={"book": book.get("id")})
    authors = _joined(book.get("authors"))
    heading = f"{title}, by {authors}" if authors else title
    return fit_to_model(_compose(heading, _joined(book.get("categories")), _clean(book.get("description"))))


def content_hash(text: str) -> str:
    """sha256 of the model id and the embedding text: a changed text or a changed model means embed again."""
    return hashlib.sha256(f"{MODEL_ID}\n{text}".encode()).hexdigest()
