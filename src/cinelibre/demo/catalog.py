"""The bundled demo catalog: 343 films in eight languages and 170 books in 36 categories, with synopses
written for this project. Loaded only into the local embedded database, or where explicitly asked.

Demo rows are marked: their items carry `is_demo`, films get negative tmdb_ids (TMDB's are positive, so
they can never collide with ingested ones) and books `demo-<n>` volume ids."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Sequence
from importlib import resources
from typing import Any, Protocol

from cinelibre.db.port import Database, Row
from cinelibre.errors import CineLibreError
from cinelibre.ingest.base import Checkpoint, ItemKind, SourcePage

DEMO_BOOK_PREFIX = "demo-"
# Rows per page: one upsert statement and one checkpoint each.
PAGE_SIZE = 64



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


class DemoCatalogSource:
    """The bundled catalog as an ingest source of one kind (films or books): pages of bundled rows, already
    whole. It goes through the same pipeline as TMDB and Google Books, so the demo is compared, embedded and
    written exactly as a crawl is (content hashes, batched embedding, one upsert per page), marked as demo."""

    needs_completion = False
    is_demo = True

    def __init__(self, kind: ItemKind, *, page_size: int = PAGE_SIZE) -> None:
        self.item_kind: ItemKind = kind
        self._name = f"demo_{kind}s"
        self.rows = [movie_row(m) for m in raw_movies()] if kind == "movie" else [book_row(b) for b in raw_books()]
        self.page_size = page_size

    @property
    def name(self) -> str:
        return self._name

    def pages(self, checkpoint: Checkpoint | None) -> Generator[SourcePage]:
        start = checkpoint.get("offset") if checkpoint else 0
        offset = start if isinstance(start, int) and 0 <= start < len(self.rows) else 0
        while offset < len(self.rows):
            yield self.page_at({"offset": offset})
            offset += self.page_size

    def page_at(self, position: Checkpoint) -> SourcePage:
        offset = int(position.get("offset") or 0)
        end = offset + self.page_size
        following = {"offset": end} if end < len(self.rows) else None
        # Copies: the pipeline adds the hash and the embedding to the rows it is given.
        rows = [dict(row) for row in self.rows[offset:end]]
        return SourcePage(f"demo {self.item_kind}s {offset + 1}-{offset + len(rows)}", position, following, rows=rows)

    def item_page(self, position: Checkpoint) -> SourcePage:
        return SourcePage(f"demo {self.item_kind} {position.get('id')}", position, None)  # nothing is ever lost

    def complete(self, row: Row) -> Row:
        return row

    def identity_keys(self, row: Row) -> Sequence[str]:
        return (str(row["tmdb_id"] if self.item_kind == "movie" else row["google_id"]),)

    def embedding_text(self, row: Row) -> str:
        from cinelibre.embedding import book_text, movie_text

        return movie_text(row) if self.item_kind == "movie" else book_text(row)

    def set_deadline(self, seconds_left: Any) -> None:
        return None

    def close(self) -> None:
        return None


def load_catalog(database: Database, embedder: Any, *, progress: Progress | None = None) -> dict[str, Any]:
    """Embed what is new or changed and upsert the demo catalog, through the ingest pipeline. A second call
    embeds and writes nothing. Returns, per kind, {"total", "embedded", "inserted", "updated", "unchanged"}."""
    from cinelibre.ingest.pipeline import IngestPipeline, RunOptions

    sources = {f"demo_{kind}s": _factory(kind) for kind in ("movie", "book")}
    if progress is not None:
        progress.total = len(raw_movies()) + len(raw_books())
        progress.refresh()
    pipeline = IngestPipeline(database=database, embedder=embedder, sources=sources)
    def advance(_source: str, count: int) -> None:
        if progress is not None:
            progress.update(count)

    options = RunOptions(trigger="demo", on_progress=advance)
    summary = pipeline.run(sources=list(sources), options=options)
    loaded: dict[str, Any] = {}
    for run in summary.runs:
        if run.status != "succeeded":
            raise CineLibreError(f"loading the demo catalog failed ({run.source}): {run.error or run.status}")
        stats = run.stats
        loaded[run.source.removeprefix("demo_")] = {
            "total": stats.fetched,
            "embedded": stats.embedded,
            "inserted": stats.new,
            "updated": stats.updated,
            "unchanged": stats.unchanged,
        }
    return loaded


def _factory(kind: ItemKind) -> Callable[[Callable[[], float]], DemoCatalogSource]:
    return lambda _seconds_left: DemoCatalogSource(kind)
