"""The bundled demo catalog: 343 films in eight languages and 170 books in 36 categories, with synopses
written for this project. Loaded only into the local embedded database, or where explicitly asked.

Demo rows are marked: their items carry `is_demo`, films get negative tmdb_ids (TMDB's are positive, so
they can never collide with ingested ones) and books `demo-<n>` volume ids."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from importlib import resources
from itertools import batched
from typing import Any, Protocol, cast

from cinelibre.db.port import Database, Row, SourceName

DEMO_BOOK_PREFIX = "demo-"
UPSERT_BATCH = 64



class Progress(Protocol):
    """What the loader needs of a progress bar (tqdm provides it)."""

    total: int | float | None

    def update(self, n: int = 1) -> object: ...

    def refresh(self) -> object: ...


def _read(name: str) -> list[dict[str, Any]]:
    return json.loads(resources.files("cinelibre.demo").joinpath("data", name).read_text(encoding="utf-8"))


def raw_movies() -> list[dict[str, Any]]:
    files = sorted(
        entry.name for entry in resources.files("cinelibre.demo").joinpath("data").iterdir()
        if entry.name.startswith("movies_") and entry.name.endswith(".json")
    )
    return [movie for name in files for movie in _read(name)]


def raw_books() -> list[dict[str, Any]]:
    return _read("books.json")


def movie_row(entry: dict[str, Any]) -> Row:
    """A demo film in the shape `Database.upsert_movies` takes (without embedding and hash)."""
    return {
        "tmdb_id": -int(entry["demo_id"]),
        "title": entry["title"],
        "original_title": entry.get("original_title") or entry["title"],
        "overview": entry["overview"],
        "release_date": entry.get("release_date"),
        "release_year": entry.get("year"),
        "original_language": entry["original_language"],
        "genres": list(entry.get("genres") or []),
        "director": entry.get("director"),
        "cast_members": [{"name": name, "character": None} for name in entry.get("cast") or []],
        "crew": [{"name": entry["director"], "job": "Director"}] if entry.get("director") else [],
        "runtime": entry.get("runtime"),
        "popularity": None,
        "vote_average": None,
        "vote_count": None,
        "poster_url": None,
    }


def book_row(entry: dict[str, Any]) -> Row:
    return {
        "google_id": f"{DEMO_BOOK_PREFIX}{entry['demo_id']}",
        "title": entry["title"],
        "subtitle": entry.get("subtitle"),
        "authors": list(entry.get("authors") or []),
        "description": entry["description"],
        "categories": list(entry.get("categories") or []),
        "published_date": str(entry["year"]) if entry.get("year") else None,
        "language": entry.get("language"),
        "page_count": entry.get("page_count"),
        "isbn_10": None,
        "isbn_13": None,
        "thumbnail_url": None,
        "publisher": entry.get("publisher"),
        "average_rating": None,
        "ratings_count": None,
    }


def load_catalog(database: Database, embedder: Any, *, progress: Progress | None = None) -> dict[str, Any]:
    """Embed what is new or changed and upsert the demo catalog. A second call embeds and writes nothing."""
    from cinelibre.embedding import book_text, content_hash, movie_text

    kinds = (
        ("movies", [movie_row(m) for m in raw_movies()], movie_text, "tmdb_id", "tmdb", database.upsert_movies),
        ("books", [book_row(b) for b in raw_books()], book_text, "google_id", "google_books", database.upsert_books),
    )
    # Plan both kinds first, so the progress bar knows its total before the first text is embedded.
    plans = []
    for kind, rows, recipe, key, source, upsert in kinds:
        texts = [recipe(row) for row in rows]
        hashes = [content_hash(text) for text in texts]
        stored = database.get_content_hashes(
            source=cast(SourceName, source), external_ids=[str(r[key]) for r in rows]
        )
        todo = [i for i, row in enumerate(rows) if stored.get(str(row[key])) != hashes[i]]
        for index, row in enumerate(rows):
            row["content_hash"] = hashes[index]
            row["embedding"] = None  # an unchanged text keeps its stored embedding
        plans.append((kind, rows, texts, todo, upsert))
    if progress is not None:
        progress.total = sum(len(todo) for *_, todo, _ in plans)
        progress.refresh()

    summary: dict[str, Any] = {}
    for kind, rows, texts, todo, upsert in plans:
        for index, vector in zip(todo, embedder.embed_passages(texts[i] for i in todo), strict=True):
            rows[index]["embedding"] = list(vector)
            if progress is not None:
                progress.update(1)
        counts = {"inserted": 0, "updated": 0, "unchanged": 0}
        for batch in _batches(rows):
            result = upsert(**{kind: batch}, demo=True)
            for name in counts:
                counts[name] += result[name]
        summary[kind] = {"total": len(rows), "embedded": len(todo), **counts}
    return summary


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    for batch in batched(rows, UPSERT_BATCH, strict=False):
        yield list(batch)
