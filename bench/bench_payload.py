"""Payload growth of the aliases kept for the original FlickPage client (issue 15), route by route.

    .venv/bin/python bench/bench_payload.py
    .venv/bin/python bench/bench_payload.py --data-dir /tmp/cinelibre-payload   # keep the database for a rerun

What it does: starts a throwaway embedded PostgreSQL, migrates it, loads the bundled demo catalog (real titles,
overviews, cast lists, poster addresses; embedded with the real model) and the demo ratings, then calls every
route the original client uses through the functions' real Lambda handlers (Mangum + FastAPI, Function URL
events), in the default mode and with CINELIBRE_API_COMPAT=flickpage. For each answer it prints the bytes on
the wire, and the bytes of the same answer without the aliases ("before": the aliases are purely additive, so
removing exactly them gives the body as it was before they existed).

Everything runs on this machine; nothing is sent over the network.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script from a checkout: reuse the tests' Lambda event builder rather than write it twice.
sys.path.insert(0, str(REPO_ROOT))
# Only the figures on stdout: request logs at WARNING, and the metrics lines are swallowed below.
os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"

from bench_api import Context  # noqa: E402  (the Lambda context the benchmarks share)

from cinelibre.api.lambda_handler import make_handler  # noqa: E402
from cinelibre.db import embedded, get_database, migrate  # noqa: E402
from cinelibre.settings import get_settings  # noqa: E402
from tests.api.lambda_events import http_event, invoke  # noqa: E402

SUMMARY_ITEM = {"id", "poster_url", "thumbnail_url", "release_date"}
# The keys that name the same list as `items` a second time.
LIST_ALIASES = {"movies", "books", "similar_items", "popular_items", "recommendations"}


@dataclass(frozen=True)
class Aliases:
    """Which keys of one answer are aliases: at the top level, and in each element of its item list."""

    top: frozenset[str] = frozenset()
    items_key: str | None = None
    item: frozenset[str] = frozenset()

    def strip(self, body: Any) -> Any:
        if not isinstance(body, dict):
            return body
        before = {key: value for key, value in body.items() if key not in self.top}
        if self.items_key:
            before[self.items_key] = [
                {key: value for key, value in element.items() if key not in self.item}
                for element in before[self.items_key]
            ]
        return before


def aliases(top: set[str] = frozenset(), items_key: str | None = None, item: set[str] = frozenset()) -> Aliases:
    return Aliases(frozenset(top), items_key, frozenset(item))


@dataclass
class Call:
    name: str
    function: str
    method: str
    path: str
    aliases: Aliases
    status: int = 200
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    authenticated: bool = False


def wire_bytes(body: Any) -> int:
    # Starlette's JSONResponse: compact separators, UTF-8, non-ASCII kept as is.
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def load_demo(settings) -> str:  # noqa: ANN001
    from cinelibre.auth.passwords import hash_password
    from cinelibre.demo.catalog import load_catalog
    from cinelibre.demo.ratings import DEMO_PASSWORD, demo_email, load_ratings, plan_ratings
    from cinelibre.demo.ratings import catalog_items as demo_items
    from cinelibre.embedding import get_embedder

    database = get_database(settings)
    load_catalog(database, get_embedder(settings))
    load_ratings(database, password_hash=hash_password(DEMO_PASSWORD, rounds=10))
    persona, number, _ = plan_ratings(demo_items(database))[0]
    return demo_email(persona, number)


def calls(movie_id: int, book_id: int, mode: str) -> list[Call]:
    error = aliases({"detail"})
    account = {"email": f"payload-{mode}@example.com", "password": "payload bench password"}
    return [
        Call("register", "auth", "POST", "/auth/register", aliases({"token"}), 201,
             body={**account, "name": "Bench"}),
        Call("login", "auth", "POST", "/auth/login", aliases({"token"}), body=account),
        Call("movies (20)", "search", "GET", "/movies", aliases({"movies"}, "items", {"release_date", "language"}),
             query={"limit": 20}),
        Call("books (20)", "search", "GET", "/books", aliases({"books"}, "items", {"published_date"}),
             query={"limit": 20}),
        Call("movie details", "search", "GET", f"/movies/{movie_id}", aliases({"language", "cast"}),
             query={"include_details": "true"}),
        Call("book details", "search", "GET", f"/books/{book_id}", aliases()),
        Call("search movies (10)", "search", "GET", "/search/semantic",
             aliases({"source"}, "results", SUMMARY_ITEM),
             query={"q": "a family hides a crime from the police", "type": "movie", "limit": 10}),
        Call("search books (10)", "search", "GET", "/search/semantic",
             aliases({"source"}, "results", SUMMARY_ITEM),
             query={"q": "a journey through a magical world", "type": "book", "limit": 10}),
        Call("similar (10)", "recommend", "GET", f"/recommendations/similar/movie/{movie_id}",
             aliases({"similar_items"}, "items", SUMMARY_ITEM), query={"limit": 10}),
        Call("popular (10)", "recommend", "GET", "/recommendations/popular",
             aliases({"popular_items"}, "items", SUMMARY_ITEM | {"avg_rating", "rating_count"}),
             query={"limit": 10}),
        Call("personalized (10)", "recommend", "GET", "/recommendations/personalized",
             aliases({"recommendations"}, "items", SUMMARY_ITEM), query={"limit": 10}, authenticated=True),
        Call("my ratings (20)", "recommend", "GET", "/ratings/my", aliases(), authenticated=True),
        Call("interaction", "recommend", "POST", "/interactions", aliases({"success"}), 201,
             body={"interaction_type": "view", "item_id": movie_id}, authenticated=True),
        Call("error 404", "search", "GET", "/movies/999999999", error, 404),
        Call("error 422", "search", "GET", "/movies", error, 422, query={"limit": 0}),
        Call("error 401", "recommend", "GET", "/ratings/my", error, 401),
    ]


def handlers(settings) -> dict[str, Callable]:  # noqa: ANN001
    from cinelibre.api import auth, recommend, search

    return {
        name: make_handler(module.create_app(settings))
        for name, module in (("auth", auth), ("search", search), ("recommend", recommend))
    }




def answer(handler: Callable, call: Call, token: str | None) -> Any:
    event = http_event(
        call.method, call.path, query=call.query, json_body=call.body, token=token if call.authenticated else None
    )
    response = invoke(handler, Context(), event)
    if response.status != call.status:
        raise SystemExit(f"{call.name}: expected {call.status}, got {response.status}: {response.text[:300]}")
    return response.json()


def measure(data_dir: Path) -> str:
    url = embedded.start(data_dir)
    migrate.apply_migrations(url)
    os.environ.update({"CINELIBRE_ENV": "development", "DATABASE_URL": url, "CINELIBRE_DATA_DIR": str(data_dir)})
    get_settings.cache_clear()
    settings = get_settings()
    database = get_database(settings)
    demo_user = load_demo(settings)
    movies, _ = database.list_movies(language=None, genre=None, year_from=None, year_to=None, limit=1, offset=0)
    books, _ = database.list_books(language=None, category=None, year_from=None, year_to=None, limit=1, offset=0)
    from cinelibre.demo.ratings import DEMO_PASSWORD

    rows = []
    for mode in ("none", "flickpage"):
        by_function = handlers(settings.model_copy(update={"api_compat": mode}))
        with contextlib.redirect_stdout(io.StringIO()):
            login = invoke(
                by_function["auth"], Context(),
                http_event("POST", "/auth/login", json_body={"email": demo_user, "password": DEMO_PASSWORD}),
            ).json()
        token = login["access_token"]
        for call in calls(movies[0]["id"], books[0]["id"], mode):
            with contextlib.redirect_stdout(io.StringIO()):
                body = answer(by_function[call.function], call, token)
            without_list = {key: value for key, value in body.items() if key not in LIST_ALIASES} if isinstance(
                body, dict
            ) else body
            rows.append(
                (mode, call.name, wire_bytes(call.aliases.strip(body)), wire_bytes(without_list), wire_bytes(body))
            )
    return render(rows)


def render(rows: list[tuple[str, str, int, int, int]]) -> str:
    flickpage = {name: after for mode, name, _, _, after in rows if mode == "flickpage"}
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        "demo catalog and ratings.",
        "",
        "| route | bytes before | bytes now (default) | growth | of which field aliases | "
        "bytes with CINELIBRE_API_COMPAT=flickpage |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, name, before, without_list, after in rows:
        if mode != "none":
            continue
        growth = (after - before) / before * 100
        fields = (without_list - before) / before * 100
        lines.append(
            f"| {name} | {before:,} | {after:,} | {growth:+.1f}% | {fields:+.1f}% | {flickpage[name]:,} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="keep the database here (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cinelibre-payload-") as directory:
        data_dir = args.data_dir or Path(directory)
        try:
            report = measure(data_dir)
        finally:
            embedded.stop(data_dir)
    print(report)


if __name__ == "__main__":
    main()
