"""Benchmark the API functions through their real Lambda handlers, warm, on a generated catalog.

    .venv/bin/python bench/bench_api.py                 # 20,000 items, 100,000 ratings (the issue's size)
    .venv/bin/python bench/bench_api.py --items 2000 --ratings 10000 --requests 50   # a quick look

What it does: starts a throwaway embedded PostgreSQL (PostgreSQL 18 + pgvector) in a temp directory,
migrates it, generates a catalog of movies and books whose texts are embedded with the real model
(`--random-vectors` skips the model for a faster, less realistic catalog), loads the ratings of users with
genre tastes, then calls each function's handler (`functions/<name>/app.py`, Mangum + FastAPI) with Lambda
Function URL events and prints latency percentiles, the cold start of each function (a fresh interpreter:
import of the handler module to its first response) and login time at bcrypt cost 12.

Everything runs on this machine; nothing is sent over the network.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import itertools
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script from a checkout: make the repository importable so the tests' Lambda event builder is
# reused rather than written twice.
sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402

from cinelibre.auth.accounts import new_secret_token, token_hash  # noqa: E402
from cinelibre.db import embedded, get_database, migrate  # noqa: E402
from cinelibre.settings import get_settings  # noqa: E402
from tests.api.lambda_events import EVENTS_DIR, http_event, invoke  # noqa: E402

LANGUAGES = ["en", "hi", "te", "ta", "kn", "ml", "bn", "mr"]
GENRES = [
    "Action",
    "Drama",
    "Comedy",
    "Thriller",
    "Romance",
    "Science Fiction",
    "Horror",
    "Family",
    "Crime",
    "Fantasy",
    "History",
    "Sport",
]
CATEGORIES = ["Fiction", "Science Fiction", "Fantasy", "Romance", "History", "Biography", "Mystery", "Poetry"]
ADJECTIVES = [
    "silent",
    "golden",
    "broken",
    "hidden",
    "last",
    "burning",
    "distant",
    "forgotten",
    "wild",
    "crimson",
    "endless",
    "quiet",
    "iron",
    "paper",
    "midnight",
    "northern",
]
NOUNS = [
    "river",
    "kingdom",
    "promise",
    "station",
    "garden",
    "storm",
    "letter",
    "mountain",
    "city",
    "harbour",
    "tiger",
    "monsoon",
    "mirror",
    "festival",
    "train",
    "island",
]
PEOPLE = [
    "a retired teacher",
    "two estranged brothers",
    "a young cricketer",
    "a village doctor",
    "a detective",
    "a grieving mother",
    "a runaway princess",
    "a street musician",
    "an astronaut",
    "a farmer",
    "a journalist",
    "a con artist",
    "a schoolgirl",
    "an old sailor",
]
PLOTS = [
    "must clear a family name",
    "falls in love against every rule",
    "uncovers a conspiracy",
    "races against time to save a town",
    "returns home after twenty years",
    "hunts for a lost treasure",
    "fights a corrupt landlord",
    "survives a disaster at sea",
    "trains for a national championship",
    "solves a murder in a small town",
    "rebels against a tyrant",
    "searches for a missing child",
]
PLACES = [
    "in Mumbai",
    "in a Kerala village",
    "on Mars",
    "in 1940s Calcutta",
    "in London",
    "in the Himalayas",
    "on a cargo ship",
    "in a desert kingdom",
    "in Hyderabad",
    "in a haunted mansion",
    "in Chennai",
    "in a future megacity",
]
QUERIES = [
    "a detective solves a murder in a small town",
    "love story against family wishes",
    "space travel to mars",
    "village sports underdog story",
    "revenge drama in a kingdom",
    "haunted house horror",
    "a mother searching for her missing child",
    "comedy about friends on a road trip",
    "historical war epic",
    "a musician chasing a dream",
    "conspiracy thriller in the city",
    "survival at sea after a storm",
    "fantasy quest for a lost treasure",
    "coming of age in a village",
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values),
        "n": len(values),
    }


SYLLABLES = [
    "ka",
    "ra",
    "mi",
    "lo",
    "then",
    "dar",
    "vi",
    "sha",
    "nor",
    "el",
    "bu",
    "tan",
    "qui",
    "zor",
    "pa",
    "len",
    "mo",
    "ri",
    "gan",
    "sel",
    "do",
    "vek",
    "ash",
    "ti",
    "lum",
    "ber",
    "ny",
    "cha",
    "fel",
    "om",
]


def made_up_title(rng: random.Random) -> str:
    """Titles of one to four made-up words (plus the odd real one), so words repeat across titles about as
    rarely as in a real catalog: the lexical title match is measured on realistic posting lists."""
    words = []
    for _ in range(rng.choice([1, 2, 2, 3, 3, 4])):
        if rng.random() < 0.15:
            words.append(rng.choice(ADJECTIVES + NOUNS))
        else:
            words.append("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))))
    if rng.random() < 0.3:
        words.insert(0, "the")
    return " ".join(words).title()


def misspelt(title: str, rng: random.Random) -> str:
    """A title as someone might type it: lower case, one letter of its longest word dropped."""
    words = title.lower().split()
    longest = max(range(len(words)), key=lambda i: len(words[i]))
    word = words[longest]
    if len(word) > 4:
        cut = rng.randrange(1, len(word) - 1)
        words[longest] = word[:cut] + word[cut + 1 :]
    return " ".join(words)


def generated_catalog(items: int, rng: random.Random) -> tuple[list[dict], list[dict]]:
    movies, books = [], []
    for index in range(items):
        title = made_up_title(rng)
        overview = f"{rng.choice(PEOPLE).capitalize()} {rng.choice(PLOTS)} {rng.choice(PLACES)}."
        year = rng.randint(1950, 2025)
        if index % 5 < 3:  # 60 % movies, 40 % books
            genres = rng.sample(GENRES, 2)
            movies.append(
                {
                    "tmdb_id": 1_000_000 + index,
                    "title": title,
                    "original_title": title,
                    "overview": overview,
                    "release_date": f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    "original_language": rng.choice(LANGUAGES),
                    "genres": genres,
                    "director": "A. Director",
                    "cast_members": [{"name": "Lead", "character": "Hero"}],
                    "crew": [{"name": "W", "job": "Writer"}],
                    "runtime": rng.randint(80, 180),
                    "popularity": rng.random() * 100,
                    "vote_average": round(rng.uniform(4, 9), 1),
                    "vote_count": rng.randint(0, 20000),
                    "poster_url": f"https://image.tmdb.org/t/p/w500/{index}.jpg",
                }
            )
        else:
            books.append(
                {
                    "google_id": f"bench{index:07d}",
                    "title": title,
                    "subtitle": None,
                    "authors": ["An Author"],
                    "description": overview,
                    "categories": rng.sample(CATEGORIES, 2),
                    "published_date": str(year),
                    "language": rng.choice(LANGUAGES),
                    "page_count": rng.randint(100, 900),
                    "isbn_10": None,
                    "isbn_13": None,
                    "thumbnail_url": f"https://books.google.com/{index}.jpg",
                    "publisher": None,
                    "average_rating": round(rng.uniform(2.5, 5), 1),
                    "ratings_count": rng.randint(0, 5000),
                }
            )
    return movies, books


def random_unit_vectors(count: int, rng: random.Random) -> Iterator[list[float]]:
    for _ in range(count):
        values = [rng.gauss(0, 1) for _ in range(384)]
        norm = sum(v * v for v in values) ** 0.5
        yield [v / norm for v in values]


def load_catalog(
    database: Any, movies: list[dict], books: list[dict], vectors: Callable[[list[str]], Iterator]
) -> None:
    from cinelibre.embedding import book_text, movie_text

    for rows, text_of, upsert in (
        (movies, movie_text, database.upsert_movies),
        (books, book_text, database.upsert_books),
    ):
        for start in range(0, len(rows), 500):
            batch = rows[start : start + 500]
            texts = [text_of(row) for row in batch]
            for row, text, vector in zip(batch, texts, vectors(texts), strict=True):
                row["embedding"] = vector
                row["content_hash"] = f"bench-{hash(text)}"
            if upsert == database.upsert_movies:
                upsert(movies=batch)
            else:
                upsert(books=batch)


def bulk_load_catalog(
    url: str, movies: list[dict], books: list[dict], overview_vectors: dict[str, list[float]] | None
) -> None:
    """The catalog as `load_catalog` stores it, for a million items: rows COPYed (title and people keys
    computed as the upsert path computes them), embeddings drawn in SQL, the tables' secondary indexes dropped
    during the load and rebuilt after it from their own definitions, the HNSW ones with the memory and workers
    they can use.

    With `overview_vectors` (the real model's embedding of each distinct overview), a row's embedding is its
    overview's plus Gaussian noise (0.03 a dimension, about cosine 0.86 to the overview's): the vectors cluster
    by meaning as a real catalog's do, and a semantic query meets neighbours the model would place near it.
    Without it, a direction uniform on the sphere: no structure at all, which makes the HNSW graph slower
    to build and to search than any real catalog's (cosine distance needs no unit length)."""
    from cinelibre.text import book_people_keys, book_title_keys, movie_people_keys, movie_title_keys

    if overview_vectors is None:
        row_vector = "(select array_agg(random_normal()) from generate_series(1, 384) where s.item_id > 0)"
        vector_join = ""
    else:
        row_vector = "(select array_agg(e + 0.03 * random_normal()) from unnest(o.embedding) e)"
        vector_join = "join overview_vectors o on o.overview = s.{overview}"
    with psycopg.connect(url, autocommit=True) as conn:
        indexes = conn.execute(
            "select indexname, indexdef from pg_indexes where schemaname = 'public' "
            "and tablename in ('movies', 'books', 'movie_search', 'book_search') "
            "and indexname not in (select conname from pg_constraint)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"drop index public.{name}")
        if overview_vectors is not None:
            conn.execute("create temp table overview_vectors (overview text primary key, embedding real[])")
            with conn.cursor() as cur, cur.copy("copy overview_vectors from stdin") as copy:
                for overview, vector in overview_vectors.items():
                    copy.write_row((overview, list(vector)))
        for kind, rows in (("movie", movies), ("book", books)):
            item_ids = [
                row[0]
                for row in conn.execute(
                    "insert into public.items (item_type) select %s from generate_series(1, %s) returning id",
                    (kind, len(rows)),
                )
            ]
            if kind == "movie":
                columns = (
                    "item_id, tmdb_id, title, original_title, overview, release_date, release_year, "
                    "original_language, genres, director, cast_members, crew, runtime, popularity, vote_average, "
                    "vote_count, poster_url, content_hash"
                )
                values = [
                    (
                        item_id, row["tmdb_id"], row["title"], row["original_title"], row["overview"],
                        row["release_date"], int(row["release_date"][:4]), row["original_language"], row["genres"],
                        row["director"], json.dumps(row["cast_members"]), json.dumps(row["crew"]), row["runtime"],
                        row["popularity"], row["vote_average"], row["vote_count"], row["poster_url"],
                        f"bench-{item_id}", movie_title_keys(row), movie_people_keys(row),
                    )
                    for item_id, row in zip(item_ids, rows, strict=True)
                ]
            else:
                columns = (
                    "item_id, google_id, title, subtitle, authors, description, categories, published_date, "
                    "language, page_count, thumbnail_url, average_rating, ratings_count, content_hash"
                )
                values = [
                    (
                        item_id, row["google_id"], row["title"], row["subtitle"], row["authors"], row["description"],
                        row["categories"], row["published_date"], row["language"], row["page_count"],
                        row["thumbnail_url"], row["average_rating"], row["ratings_count"], f"bench-{item_id}",
                        book_title_keys(row), book_people_keys(row),
                    )
                    for item_id, row in zip(item_ids, rows, strict=True)
                ]
            table = f"public.{kind}s"
            conn.execute(f"create temp table staged as select {columns} from {table} with no data")
            # The keys live in the side table (migration 20261229000100), which the insert's trigger fills.
            conn.execute("alter table staged add column title_keys text, add column people_keys text")
            with conn.cursor() as cur, cur.copy(f"copy staged ({columns}, title_keys, people_keys) from stdin") as copy:
                for value in values:
                    copy.write_row(value)
            overview = "overview" if kind == "movie" else "description"
            selected = columns.replace("item_id,", "s.item_id,", 1).replace(f" {overview},", f" s.{overview},", 1)
            conn.execute(
                f"insert into {table} ({columns}, embedding) "
                f"select {selected}, {row_vector}::extensions.vector(384) "
                f"from staged s {vector_join.format(overview=overview)}"
            )
            conn.execute(
                f"update public.{kind}_search k set title_keys = s.title_keys, people_keys = s.people_keys "
                "from staged s where k.item_id = s.item_id"
            )
            conn.execute("drop table staged")
            print(f"loaded {len(rows)} {kind}s", file=sys.stderr, flush=True)
        conn.execute("set maintenance_work_mem = '3GB'")
        conn.execute("set max_parallel_maintenance_workers = 2")
        for name, definition in sorted(indexes, key=lambda index: "hnsw" in index[1]):
            started = time.perf_counter()
            conn.execute(definition)
            print(f"built {name} in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
        conn.execute("analyze public.items, public.movies, public.books, public.movie_search, public.book_search")


def load_ratings(url: str, ratings: int, users: int, rng: random.Random) -> list[str]:
    """Users with two favourite genres rate mostly items of those genres, highly; others low. Which items
    get rated follows a Zipf-like popularity curve, as in real catalogs, so users share enough rated items
    to be each other's neighbours. Loaded with COPY: this is set-up, not what is measured."""
    with psycopg.connect(url, autocommit=True) as conn:
        items = conn.execute(
            "select item_id, genres from public.movies union all select item_id, categories from public.books"
        ).fetchall()
        by_genre: dict[str, list[int]] = {}
        for item_id, genres in items:
            for genre in genres:
                by_genre.setdefault(genre, []).append(item_id)
        all_ids = [item_id for item_id, _ in items]
        password_hash = "$2b$12$" + "x" * 53
        with (
            conn.cursor() as cur,
            cur.copy("copy public.users (email, password_hash, name) from stdin") as copy,
        ):
            for index in range(users):
                copy.write_row((f"bench{index}@example.com", password_hash, f"Bench {index}"))
        user_ids = [str(row[0]) for row in conn.execute("select id from public.users order by email")]
        per_user = ratings // users
        genres = list(by_genre)
        zipf = list(itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(all_ids))))
        # Cumulative weights: each draw is a bisection, not a pass over the list.
        cumulative = {genre: zipf[: len(ids)] for genre, ids in by_genre.items()}
        with (
            conn.cursor() as cur,
            cur.copy("copy public.ratings (user_id, item_id, rating) from stdin") as copy,
        ):
            for user_id in user_ids:
                favourites = rng.sample(genres, 2)
                liked = set(by_genre[favourites[0]]) | set(by_genre[favourites[1]])
                chosen: set[int] = set()
                while len(chosen) < per_user:
                    if rng.random() < 0.7:
                        genre = rng.choice(favourites)
                        chosen.add(rng.choices(by_genre[genre], cum_weights=cumulative[genre])[0])
                    else:
                        chosen.add(rng.choices(all_ids, cum_weights=zipf)[0])
                for item_id in chosen:
                    if item_id in liked:
                        value = rng.choice([3.5, 4.0, 4.5, 5.0, 5.0])
                    else:
                        value = rng.choice([1.0, 1.5, 2.0, 2.5, 3.0, 4.0])
                    copy.write_row((user_id, item_id, value))
        conn.execute("analyze")
    return user_ids


def timed(call: Callable[[], Any], repeat: int, *, warmup: int = 5) -> tuple[list[float], list[Any]]:
    """Milliseconds per call after `warmup` untimed calls (connections, caches, the model's first runs)."""
    for _ in range(warmup):
        call()
    samples, responses = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        responses.append(call())
        samples.append((time.perf_counter() - started) * 1000)
    return samples, responses


class Context:
    function_name = "cinelibre-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:cinelibre-bench"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/cinelibre-bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def checked(handler: Any, event: dict, status: int = 200) -> Any:
    response = invoke(handler, Context(), event)
    if response.status != status:
        raise SystemExit(f"{event['rawPath']} answered {response.status}: {response.text[:300]}")
    return response


def cold_start(function: str, event_name: str, env: dict[str, str], runs: int) -> list[float]:
    """Milliseconds from the start of importing functions/<function>/app.py to its first response."""
    script = f"""
import time
started = time.perf_counter()
import importlib.util, json
spec = importlib.util.spec_from_file_location("app", {str(REPO_ROOT / "functions" / function / "app.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
imported = time.perf_counter()
event = json.load(open({str(EVENTS_DIR / (event_name + ".json"))!r}))
class Context:
    function_name = "cold"; function_version = "$LATEST"; memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:cold"; aws_request_id = "cold"
    def get_remaining_time_in_millis(self): return 900000
response = module.handler(event, Context())
assert response["statusCode"] == 200, response
print("COLD", (imported - started) * 1000, (time.perf_counter() - started) * 1000)
"""
    totals = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
        line = next((line for line in done.stdout.splitlines() if line.startswith("COLD")), None)
        if line is None:
            raise SystemExit(f"cold start of {function} failed:\n{done.stderr[-2000:]}")
        totals.append(float(line.split()[2]))
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per endpoint")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument(
        "--random-vectors", action="store_true", help="skip the model when building the catalog"
    )
    parser.add_argument(
        "--bulk-load",
        action="store_true",
        help="build the catalog with COPY, indexes built after the load (a million items in reasonable time); "
        "each embedding is the real model's embedding of the row's overview plus noise, or a random direction "
        "with --random-vectors",
    )
    parser.add_argument(
        "--only",
        choices=["search"],
        help="measure only these endpoints (search: the three search scenarios, no cold starts)",
    )
    parser.add_argument("--output", type=Path, help="also write the markdown report here")
    parser.add_argument(
        "--auth-only", action="store_true",
        help="only the auth function: login, refresh, the session check, and its cold start (issue 10)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the database here and reuse its catalog and ratings on the next run (default: a temp dir)",
    )
    args = parser.parse_args()
    rng = random.Random(20261126)

    with tempfile.TemporaryDirectory(prefix="cinelibre-bench-") as directory:
        data_dir = args.data_dir or Path(directory)
        try:
            report = run(args, rng, data_dir)
        finally:
            embedded.stop(data_dir)
    print(report)
    if args.output:
        args.output.write_text(report)


def run(args: argparse.Namespace, rng: random.Random, data_dir: Path) -> str:
    url = embedded.start(data_dir)
    migrate.apply_migrations(url)
    # Production settings, as in Lambda: one database connection per container, bcrypt cost 12.
    os.environ.update(
        {
            "CINELIBRE_ENV": "production",
            "CINELIBRE_JWT_SECRET": secrets.token_urlsafe(48),
            "DATABASE_URL": url,
            "CINELIBRE_DATA_DIR": str(data_dir),
            # Every event comes from one source IP: keep the per-IP search limit's check (its cost is part of
            # a search) but high enough never to refuse (issue 10).
            "CINELIBRE_RATE_LIMIT_SEARCH_PER_IP": "100000000/60",
            # Registration answers with tokens (confirmation off, as for the original client), so the run can
            # sign in at once without a mailbox.
            "CINELIBRE_REQUIRE_EMAIL_CONFIRMATION": "false",
            # Likewise the sign-in and refresh limits: every timed login and refresh pays its check.
            **{
                f"CINELIBRE_RATE_LIMIT_{name}": "100000000/60"
                for name in ("LOGIN_PER_IP", "LOGIN_PER_ACCOUNT", "REFRESH_PER_IP", "REFRESH_PER_ACCOUNT")
            },
        }
    )
    os.environ.pop("CINELIBRE_BCRYPT_ROUNDS", None)
    get_settings.cache_clear()
    settings = get_settings()
    database = get_database(settings)

    with psycopg.connect(url) as conn:
        stored = conn.execute(
            "select (select count(*) from public.items), (select count(*) from public.ratings)"
        )
        stored_items, stored_ratings = stored.fetchone()
    if stored_items >= args.items and stored_ratings >= args.ratings:
        print(f"reusing {stored_items} items and {stored_ratings} ratings in {data_dir}", file=sys.stderr)
        with psycopg.connect(url) as conn:
            user_ids = [
                str(row[0]) for row in conn.execute("select id from public.users where email like 'bench%'")
            ]
            counts = conn.execute(
                "select (select count(*) from public.movies), (select count(*) from public.books)"
            )
            movie_count, book_count = counts.fetchone()
        return measure(args, rng, settings, database, url, user_ids, None, movie_count, book_count)

    if stored_items or stored_ratings:
        raise SystemExit(f"{data_dir} holds a smaller or partial benchmark database; delete it to rebuild")
    started = time.perf_counter()
    movies, books = generated_catalog(args.items, rng)
    if args.random_vectors:

        def vectors(texts: list[str]) -> Iterator[list[float]]:
            return random_unit_vectors(len(texts), rng)
    else:
        from cinelibre.embedding import get_embedder

        # Building the catalog may use every core; the handlers keep the function's own settings.
        embedder = get_embedder(
            settings.model_copy(update={"embed_threads": os.cpu_count() or 1, "embed_batch_size": 64})
        )

        def vectors(texts: list[str]) -> Iterator[list[float]]:
            return embedder.embed_passages(texts)

    if args.bulk_load:
        overviews = sorted({row["overview"] for row in movies} | {row["description"] for row in books})
        overview_vectors = (
            None if args.random_vectors else dict(zip(overviews, vectors(overviews), strict=True))
        )
        bulk_load_catalog(url, movies, books, overview_vectors)
    else:
        load_catalog(database, movies, books, vectors)
    catalog_s = time.perf_counter() - started
    started = time.perf_counter()
    user_ids = load_ratings(url, args.ratings, args.users, rng)
    ratings_s = time.perf_counter() - started
    print(
        f"loaded {len(movies)} movies + {len(books)} books in {catalog_s:.0f} s, "
        f"{args.ratings} ratings of {args.users} users in {ratings_s:.0f} s",
        file=sys.stderr,
    )
    return measure(args, rng, settings, database, url, user_ids, catalog_s, len(movies), len(books))


def measure(args, rng, settings, database, url, user_ids, catalog_s, movie_count, book_count) -> str:  # noqa: ANN001
    run_id = secrets.token_hex(4)  # users made by this run, so a reused database takes them too
    from cinelibre.api import auth, recommend, search
    from cinelibre.api.lambda_handler import make_handler
    from cinelibre.auth.tokens import TokenService
    from cinelibre.observability import logger

    handlers = {
        name: make_handler(module.create_app(settings))
        for name, module in (("auth", auth), ("search", search), ("recommend", recommend))
        if name == "auth" or not args.auth_only
    }
    service = TokenService.from_settings(settings)

    class SessionTokens:
        """Access tokens carry a session that every authenticated request checks (issue 10); one session per
        user, made on first use, so the timed scenarios pay only the check, not the sign-in."""

        @staticmethod
        @functools.cache
        def issue(user_id: str):
            session_id = database.start_auth_session(
                user_id=user_id, refresh_token_hash=token_hash(new_secret_token()), ttl_s=3600
            )
            return service.issue(user_id, session_id)

    tokens = SessionTokens()
    with psycopg.connect(url) as conn:
        some_movie = conn.execute("select item_id from public.movies order by item_id limit 1").fetchone()[0]
        movie_titles = [
            row[0] for row in conn.execute("select title from public.movies order by random() limit 50")
        ]
    fresh_user = database.create_user(
        email=f"fresh-{run_id}@example.com", password_hash="$2b$12$" + "y" * 53, name="Fresh"
    )
    few_ratings_user = database.create_user(
        email=f"few-{run_id}@example.com", password_hash="$2b$12$" + "z" * 53, name="Few"
    )
    for item in rng.sample(range(some_movie, some_movie + 50), 2):
        database.upsert_rating(user_id=few_ratings_user["id"], item_id=item, rating=4.5)
    # Two low ratings: no neighbours, nothing liked, so popularity that leaves out what they rated (no cache).
    grumpy_user = database.create_user(
        email=f"grumpy-{run_id}@example.com", password_hash="$2b$12$" + "w" * 53, name="Grumpy"
    )
    for item in rng.sample(range(some_movie + 50, some_movie + 100), 2):
        database.upsert_rating(user_id=grumpy_user["id"], item_id=item, rating=1.0)

    queries = iter(lambda: rng.choice(QUERIES), None)
    titles = iter(lambda: misspelt(rng.choice(movie_titles), rng), None)
    rated_users = iter(lambda: rng.choice(user_ids), None)

    def get(
        function: str, path: str, query: dict | None = None, token: str | None = None
    ) -> Callable[[], Any]:
        return lambda: checked(handlers[function], http_event("GET", path, query=query, token=token))

    scenarios: dict[str, Callable[[], Any]] = {
        "search: semantic query": lambda: checked(
            handlers["search"], http_event("GET", "/search/semantic", query={"q": next(queries), "limit": 10})
        ),
        "search: title query": lambda: checked(
            handlers["search"], http_event("GET", "/search/semantic", query={"q": next(titles), "limit": 10})
        ),
        "search: filtered (language + year)": lambda: checked(
            handlers["search"],
            http_event(
                "GET",
                "/search/semantic",
                query={"q": next(queries), "language": rng.choice(LANGUAGES), "year_from": 1990, "limit": 10},
            ),
        ),
        "catalog: GET /movies page": get("search", "/movies", {"language": "hi", "limit": 20}),
        "catalog: GET /movies/{id}": lambda: checked(
            handlers["search"], http_event("GET", f"/movies/{some_movie + rng.randrange(50)}")
        ),
        "personalized: collaborative (50 ratings)": lambda: checked(
            handlers["recommend"],
            http_event(
                "GET",
                "/recommendations/personalized",
                query={"limit": 10},
                token=tokens.issue(next(rated_users)).token,
            ),
        ),
        "personalized: content-based (2 ratings)": get(
            "recommend",
            "/recommendations/personalized",
            {"limit": 10},
            tokens.issue(few_ratings_user["id"]).token,
        ),
        "personalized: popularity (0 ratings; the cached list)": get(
            "recommend", "/recommendations/personalized", {"limit": 10}, tokens.issue(fresh_user["id"]).token
        ),
        "personalized: popularity without rated items (2 low ratings; not cached)": get(
            "recommend", "/recommendations/personalized", {"limit": 10}, tokens.issue(grumpy_user["id"]).token
        ),
        "similar items": lambda: checked(
            handlers["recommend"],
            http_event(
                "GET",
                f"/recommendations/similar/movie/{some_movie + rng.randrange(50)}",
                query={"limit": 10, "target_type": rng.choice(["movie", "book"])},
            ),
        ),
        "popular (kept per container for 5 min)": get("recommend", "/recommendations/popular", {"limit": 10}),
    }
    if args.auth_only:
        scenarios = {}
    elif args.only:
        scenarios = {name: call for name, call in scenarios.items() if name.startswith(f"{args.only}:")}
    # The handlers log and print EMF metrics as in Lambda; the lines go to /dev/null, not the report.
    null = open(os.devnull, "w")  # noqa: SIM115 (open for the rest of the run)
    logger.registered_handler.setStream(null)
    with contextlib.redirect_stdout(null):
        results: dict[str, dict[str, float]] = {}
        methods_seen: dict[str, set[str]] = {}
        for name, call in scenarios.items():
            samples, responses = timed(call, args.requests, warmup=10)
            results[name] = summary(samples)
            if name.startswith("personalized"):
                methods_seen[name] = {response.json()["method"] for response in responses}
        if args.only:
            return render(args, results, {}, methods_seen, catalog_s, movie_count, book_count)

        register = checked(
            handlers["auth"],
            http_event(
                "POST",
                "/auth/register",
                json_body={
                    "email": f"login-{run_id}@example.com",
                    "password": "correct horse battery",
                    "name": "Bench",
                },
            ),
            status=201,
        )
        assert register.json()["user"]["id"]
        login_event = http_event(
            "POST",
            "/auth/login",
            json_body={"email": f"login-{run_id}@example.com", "password": "correct horse battery"},
        )
        wrong_event = http_event(
            "POST",
            "/auth/login",
            json_body={"email": "nobody@example.com", "password": "correct horse battery"},
        )
        results["login (bcrypt cost 12)"] = summary(
            timed(lambda: checked(handlers["auth"], login_event), 20)[0]
        )
        results["login, unknown email"] = summary(
            timed(lambda: checked(handlers["auth"], wrong_event, 401), 20)[0]
        )
        # Issue 10: a refresh rotates the token (one RPC); every authenticated route checks the session.
        current = {"refresh_token": register.json()["refresh_token"]}

        def rotate() -> Any:
            response = checked(
                handlers["auth"], http_event("POST", "/auth/refresh", json_body=current)
            )
            current["refresh_token"] = response.json()["refresh_token"]
            return response

        results["refresh (rotation)"] = summary(timed(rotate, args.requests)[0])
        me_event = http_event("GET", "/auth/me", token=register.json()["access_token"])
        results["GET /auth/me (session check)"] = summary(
            timed(lambda: checked(handlers["auth"], me_event), args.requests)[0]
        )

    cold = {
        function: summary(cold_start(function, f"{function}-health", dict(os.environ), args.cold_runs))
        for function in (("auth",) if args.auth_only else ("auth", "recommend", "search"))
    }
    return render(args, results, cold, methods_seen, catalog_s, movie_count, book_count)


def vector_kind(args: argparse.Namespace) -> str:
    if args.random_vectors:
        return "random"
    return "real model, overview plus noise," if args.bulk_load else "real model"


def render(args, results, cold, methods_seen, catalog_s, movies, books) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        "# API benchmark",
        "",
        f"Command: `.venv/bin/python {' '.join(sys.argv)}`",
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"embedded PostgreSQL 18 + pgvector over a Unix socket; {time.strftime('%Y-%m-%d')}.",
        f"Data: {movies} movies + {books} books ({vector_kind(args)} "
        f"embeddings, HNSW), {args.ratings} ratings by {args.users} users"
        + (f"; catalog built in {catalog_s:.0f} s." if catalog_s is not None else " (reused)."),
        f"Each endpoint: {args.requests} warm requests through the real Lambda handler "
        "(Function URL events, Mangum, FastAPI, the database adapter), one at a time.",
        "",
        "| endpoint | p50 ms | p95 ms | p99 ms | mean ms | req/s (1 / mean) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, stats in results.items():
        method = f" (method: {', '.join(sorted(methods_seen[name]))})" if name in methods_seen else ""
        lines.append(
            f"| {name}{method} | {stats['p50']:.1f} | {stats['p95']:.1f} | {stats['p99']:.1f} | "
            f"{stats['mean']:.1f} | {1000 / stats['mean']:.0f} |"
        )
    if args.only:  # no cold starts, no comparison with the seed design
        return "\n".join(lines) + "\n"
    lines += [
        "",
        "Cold start: a fresh Python process, from the start of importing `functions/<name>/app.py` to the "
        f"first response (GET /), median of {args.cold_runs} runs:",
        "",
        "| function | median ms | max ms |",
        "| --- | ---: | ---: |",
    ]
    for function, stats in cold.items():
        lines.append(f"| {function} | {stats['p50']:.0f} | {max(stats['p50'], stats['p99']):.0f} |")
    if "search: semantic query" not in results:  # --auth-only
        return "\n".join(lines)
    search_p50 = results["search: semantic query"]["p50"]
    personal_p50 = results["personalized: collaborative (50 ratings)"]["p50"]
    lines += [
        "",
        "Against the seed design (under 500 ms per request, 10-20 requests/s per instance): semantic search "
        f"p50 is {500 / search_p50:.0f}x faster than 500 ms and one instance serves "
        f"{1000 / results['search: semantic query']['mean']:.0f} searches/s "
        f"({1000 / results['search: semantic query']['mean'] / 20:.1f}x the upper 20 req/s); collaborative "
        f"recommendations p50 is {500 / personal_p50:.0f}x faster than 500 ms.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
