"""Replays recorded TMDB and Google Books responses, for tests (as a respx side effect) and for local runs
(`python -m cinelibre.ingest.replay`, then point CINELIBRE_TMDB_BASE_URL and CINELIBRE_GOOGLE_BOOKS_BASE_URL
at it).

Only recorded bodies are served. Listings are answered from the recorded listing entries (discover, popular
and search pages): filtered by the query's original language, release dates and vote floor, ordered by its
`sort_by`, and paged 20 at a time as TMDB pages. Details come from the recorded detail bodies; a title with
no recorded details gets the details shape built from its own listing entry (no credits, unknown runtime).
Volume searches are answered from the recorded volumes by subject, ISBN or title words, paged by
`startIndex`. `copies` repeats the catalog under new ids, for benchmarks that need thousands of items.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from cinelibre.settings import SOURCE_ROOT

DEFAULT_FIXTURES = SOURCE_ROOT / "tests" / "ingest" / "fixtures"
TMDB_PAGE_SIZE = 20
TMDB_MAX_PAGE = 500
BOOKS_MAX_RESULTS = 40
# Copies get ids far above TMDB's (about 1.5 million today) and within a 32-bit integer.
COPY_ID_STRIDE = 10_000_000
LISTING_FILES = (
    "discover_movie_language-en_page1_18months.json",
    "movie_popular_page1_jdrouet.json",
    "search_movie_query-Disney_18months.json",
    "search_movie_query-James-Bond_page2_subliminal.json",
    "search_movie_query-RRRrrrr_jdrouet.json",
)
GENRE_FILE = "genre_movie_list_language-en_18months.json"
CREDITS_FILES = {550: "movie_550_credits_jdrouet.json"}
DETAIL_FILES = {
    550: "movie_550_details_language-en_18months.json",
    607: "movie_607_append-credits-external_ids-videos-release_dates-reviews-watchproviders_moviebase.json",
    49521: "movie_49521_append-external_ids_subliminal.json",
}
UNAUTHORIZED_FILE = "error_401_invalid_api_key_search_movie_ahmetabdi.json"
NOT_FOUND_FILE = "unverified/error_404_resource_not_found_jdrouet.json"
LISTING_KEYS = (
    "adult",
    "backdrop_path",
    "id",
    "original_language",
    "original_title",
    "overview",
    "popularity",
    "poster_path",
    "release_date",
    "title",
    "video",
    "vote_average",
    "vote_count",
)


class RecordedCatalog:
    """Answers `httpx.Request`s for `/3/...` (TMDB) and `/books/v1/...` (Google Books) paths."""

    def __init__(
        self,
        fixtures_dir: Path = DEFAULT_FIXTURES,
        *,
        copies: int = 1,
        book_copies: int | None = None,
        copy_languages: Sequence[str] = (),
        copy_subjects: Sequence[str] = (),
        keep_requests: bool = True,
        cache_queries: bool = False,
    ) -> None:
        """`copies` of the movies (copies after the first take their original language in turn from
        `copy_languages`, if given) and `book_copies` (default: `copies`) of the volumes (copies after the
        first take their category in turn from `copy_subjects`, if given)."""
        book_copies = copies if book_copies is None else book_copies
        if copies < 1 or book_copies < 1:
            raise ValueError("copies must be at least 1")
        tmdb_dir, books_dir = fixtures_dir / "tmdb", fixtures_dir / "googlebooks"
        self.genres = _load(tmdb_dir / GENRE_FILE)
        self.unauthorized = _load(tmdb_dir / UNAUTHORIZED_FILE)
        self.not_found = {**_load(tmdb_dir / NOT_FOUND_FILE), "success": False}
        genre_names = {genre["id"]: genre["name"] for genre in self.genres["genres"]}

        recorded_details: dict[int, dict[str, Any]] = {}
        for movie_id, name in DETAIL_FILES.items():
            details = _load(tmdb_dir / name)
            if movie_id in CREDITS_FILES:
                credits = _load(tmdb_dir / CREDITS_FILES[movie_id])
                details["credits"] = {"cast": credits["cast"], "crew": credits["crew"]}
            recorded_details[movie_id] = details
        base_listing: dict[int, dict[str, Any]] = {}
        for name in LISTING_FILES:
            for entry in _load(tmdb_dir / name)["results"]:
                base_listing.setdefault(entry["id"], entry)
        for movie_id, details in recorded_details.items():
            base_listing.setdefault(movie_id, _listing_from_details(details))

        self.listing: list[dict[str, Any]] = []
        self.details: dict[int, dict[str, Any]] = {}
        for copy in range(copies):
            for entry in base_listing.values():
                listing = dict(entry)
                listing["id"] = entry["id"] + copy * COPY_ID_STRIDE
                if copy and copy_languages:
                    listing["original_language"] = copy_languages[copy % len(copy_languages)]
                self.listing.append(listing)
                base = recorded_details.get(entry["id"]) or _details_from_listing(entry, genre_names)
                self.details[listing["id"]] = {
                    **base,
                    "id": listing["id"],
                    "original_language": listing["original_language"],
                }

        base_volumes: dict[str, dict[str, Any]] = {}
        for path in sorted(books_dir.glob("*.json")):
            body = _load(path)
            for item in body.get("items", [body] if body.get("kind") == "books#volume" else []):
                base_volumes.setdefault(item["id"], item)
        self.volumes: list[dict[str, Any]] = []
        for copy in range(book_copies):
            for item in base_volumes.values():
                if copy == 0:
                    self.volumes.append(item)
                    continue
                info = {k: v for k, v in item["volumeInfo"].items() if k != "industryIdentifiers"}
                if copy_subjects:
                    info["categories"] = [copy_subjects[len(self.volumes) % len(copy_subjects)].title()]
                # Copies drop their ISBNs: the catalog rightly refuses a second volume with a stored ISBN.
                self.volumes.append({**item, "id": f"{item['id']}-{copy}", "volumeInfo": info})
        self.keep_requests = keep_requests
        # The local server's catalog never changes, so a listing's filtered and sorted entries can be kept: with
        # thousands of titles, re-sorting them for every page would make the server, not the client, the
        # bottleneck of a benchmark sharing its cores. Tests that edit the catalog leave this off.
        self._query_cache: dict[tuple[str, ...], list[dict[str, Any]]] | None = {} if cache_queries else None
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    # -- dispatch ------------------------------------------------------------------------------------------
    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.keep_requests:
            with self._lock:
                self.requests.append(request)
        path = request.url.path
        params = request.url.params
        if request.method != "GET":
            return _json(405, {"error": "only GET is replayed"})
        if path.startswith("/3/"):
            if not (params.get("api_key") or request.headers.get("authorization", "").startswith("Bearer ")):
                return _json(401, self.unauthorized)
            return self._tmdb(path[len("/3") :], params)
        if path.startswith("/books/v1/"):
            return self._books(path[len("/books/v1") :], params)
        return _json(404, {"error": f"nothing recorded for {path}"})

    def _tmdb(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        if path == "/genre/movie/list":
            return _json(200, self.genres)
        if path == "/discover/movie":
            return self._discover(params)
        match = re.fullmatch(r"/movie/(\d+)", path)
        if match and int(match.group(1)) in self.details:
            details = dict(self.details[int(match.group(1))])
            appended = set(params.get("append_to_response", "").split(","))
            if "credits" not in appended:
                details.pop("credits", None)
            elif "credits" not in details:
                details["credits"] = {"id": details["id"], "cast": [], "crew": []}
            return _json(200, details)
        return _json(404, self.not_found)

    def _discover(self, params: httpx.QueryParams) -> httpx.Response:
        page = _int(params.get("page", "1"))
        if page is None or not 1 <= page <= TMDB_MAX_PAGE:
            return _json(
                400,
                {
                    "success": False,
                    "status_code": 22,
                    "status_message": "Invalid page: Pages start at 1 and max at 500.",
                },
            )
        cache_key = tuple(
            str(params.get(name, ""))
            for name in (
                "with_original_language", "primary_release_date.gte", "primary_release_date.lte",
                "vote_count.gte", "sort_by",
            )
        )  # fmt: skip
        cached = self._query_cache.get(cache_key) if self._query_cache is not None else None
        ordered = cached if cached is not None else self._ordered_listing(params)
        if self._query_cache is not None and cached is None:
            self._query_cache[cache_key] = ordered
        start = (page - 1) * TMDB_PAGE_SIZE
        return _json(
            200,
            {
                "page": page,
                "results": ordered[start : start + TMDB_PAGE_SIZE],
                "total_pages": max(1, math.ceil(len(ordered) / TMDB_PAGE_SIZE)),
                "total_results": len(ordered),
            },
        )

    def _ordered_listing(self, params: httpx.QueryParams) -> list[dict[str, Any]]:
        entries: Iterable[dict[str, Any]] = self.listing
        if language := params.get("with_original_language"):
            entries = (e for e in entries if e.get("original_language") == language)
        since, until = params.get("primary_release_date.gte"), params.get("primary_release_date.lte")
        if since or until:
            entries = (
                e
                for e in entries
                if e.get("release_date")
                and (not since or e["release_date"] >= since)
                and (not until or e["release_date"] <= until)
            )
        if (floor := _int(params.get("vote_count.gte", "0"))) is not None:
            entries = (e for e in entries if (e.get("vote_count") or 0) >= floor)
        return _sorted_listing(list(entries), params.get("sort_by", "popularity.desc"))

    def _books(self, path: str, params: httpx.QueryParams) -> httpx.Response:
        match = re.fullmatch(r"/volumes/([\w-]+)", path)
        if match:
            for item in self.volumes:
                if item["id"] == match.group(1):
                    return _json(200, item)
            return _json(404, _google_error(404, "The volume ID could not be found.", "notFound"))
        if path != "/volumes":
            return _json(404, _google_error(404, "Not Found", "notFound"))
        query = params.get("q", "").strip()
        start, size = _int(params.get("startIndex", "0")), _int(params.get("maxResults", "10"))
        if not query:
            return _json(400, _google_error(400, "Missing query.", "queryRequired"))
        if start is None or start < 0 or size is None or not 0 < size <= BOOKS_MAX_RESULTS:
            return _json(400, _google_error(400, "Invalid value for startIndex or maxResults.", "invalid"))
        cache_key = (query, str(params.get("langRestrict", "")))
        cached = self._query_cache.get(cache_key) if self._query_cache is not None else None
        if cached is not None:
            found = cached
        else:
            found = [item for item in self.volumes if _volume_matches(item, query)]
            if language := params.get("langRestrict"):
                found = [item for item in found if item["volumeInfo"].get("language") == language]
            if self._query_cache is not None:
                self._query_cache[cache_key] = found
        body: dict[str, Any] = {"kind": "books#volumes", "totalItems": len(found)}
        if found[start : start + size]:
            body["items"] = found[start : start + size]
        return _json(200, body)


# -- local server ------------------------------------------------------------------------------------------
def make_server(catalog: RecordedCatalog, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server answering from `catalog`; port 0 picks a free one (see `server.server_address`)."""

    class ReplayHandler(BaseHTTPRequestHandler):
        # Keep-alive, as the real APIs: the client reuses its connection instead of opening one per request;
        # without Nagle, headers and body written apart do not wait on the client's delayed ACK.
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
            request = httpx.Request(
                "GET",
                f"http://{self.headers.get('Host', host)}{self.path}",
                headers=dict(self.headers.items()),
            )
            response = catalog.handle(request)
            self.send_response(response.status_code)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(response.content)))
            self.end_headers()
            self.wfile.write(response.content)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the signature http.server calls)
            # Request lines carry the api_key query parameter; keep them out of the console.
            return

    return ThreadingHTTPServer((host, port), ReplayHandler)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Replay recorded TMDB and Google Books responses.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--fixtures", type=Path, default=DEFAULT_FIXTURES)
    parser.add_argument("--copies", type=int, default=1, help="repeat the movies under new ids")
    parser.add_argument("--book-copies", type=int, default=None, help="repeat the volumes (default: --copies)")
    parser.add_argument("--copy-languages", default="", help="comma-separated original languages for copies")
    parser.add_argument(
        "--copy-subjects", default="", help="'|'-separated categories for volume copies ('default': the plan's)"
    )
    args = parser.parse_args(argv)
    languages = [code.strip() for code in args.copy_languages.split(",") if code.strip()]
    if args.copy_subjects == "default":
        from cinelibre.ingest.google_books import SUBJECTS

        subjects: list[str] = list(SUBJECTS)
    else:
        subjects = [name.strip() for name in args.copy_subjects.split("|") if name.strip()]
    catalog = RecordedCatalog(
        args.fixtures,
        copies=args.copies,
        book_copies=args.book_copies,
        copy_languages=languages,
        copy_subjects=subjects,
        keep_requests=False,
        cache_queries=True,
    )
    server = make_server(catalog, args.host, args.port)
    address, port = server.server_address[:2]
    host = address.decode() if isinstance(address, bytes) else address
    print(f"Replaying {len(catalog.listing)} movies and {len(catalog.volumes)} volumes on http://{host}:{port}")
    print(f"  export CINELIBRE_TMDB_BASE_URL=http://{host}:{port}/3")
    print(f"  export CINELIBRE_GOOGLE_BOOKS_BASE_URL=http://{host}:{port}/books/v1")
    print("  export TMDB_API_KEY=replay-any-key   # the replay asks for a key, like TMDB, but takes any")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# -- helpers -----------------------------------------------------------------------------------------------
def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _google_error(code: int, message: str, reason: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }


def _listing_from_details(details: Mapping[str, Any]) -> dict[str, Any]:
    listing = {key: details.get(key) for key in LISTING_KEYS}
    listing["genre_ids"] = [genre["id"] for genre in details.get("genres") or []]
    return listing


def _details_from_listing(entry: Mapping[str, Any], genre_names: Mapping[int, str]) -> dict[str, Any]:
    details = {key: value for key, value in entry.items() if key != "genre_ids"}
    details["genres"] = [{"id": g, "name": genre_names[g]} for g in entry.get("genre_ids") or [] if g in genre_names]
    details.update(budget=0, revenue=0, runtime=None, imdb_id=None, status="Released", tagline="")
    return details


def _sorted_listing(entries: list[dict[str, Any]], sort_by: str) -> list[dict[str, Any]]:
    """As TMDB orders: by the field, ties by id; entries without the field (an empty date) come last."""
    field, _, direction = sort_by.partition(".")
    field = {"primary_release_date": "release_date"}.get(field, field)
    known = sorted((e for e in entries if e.get(field) not in (None, "")), key=lambda e: e["id"])
    known.sort(key=lambda e: e[field], reverse=direction != "asc")
    unknown = sorted((e for e in entries if e.get(field) in (None, "")), key=lambda e: e["id"])
    return known + unknown


def _volume_matches(item: Mapping[str, Any], query: str) -> bool:
    info = item.get("volumeInfo") or {}
    match = re.fullmatch(r'(subject|isbn):"?([^"]+)"?', query)
    if match and match.group(1) == "subject":
        subject = match.group(2).lower()
        return any(c.lower() == subject or c.lower().startswith(subject + " /") for c in info.get("categories", []))
    if match:
        return any(i.get("identifier") == match.group(2) for i in info.get("industryIdentifiers", []))
    words = query.lower().split()
    title = (info.get("title") or "").lower()
    return all(word in title for word in words)


if __name__ == "__main__":
    main()
