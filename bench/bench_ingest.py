"""Ingest throughput and peak memory: 2,000 movies and 1,000 books from the replayed fixtures, embedded with
the real model into a throwaway embedded PostgreSQL, then the same data again (which must embed nothing).

    .venv/bin/python bench/bench_ingest.py [--movies 2000] [--books 1000] [--threads 1] [--rate 40]

The replay server runs in its own process (it stands in for TMDB and Google Books, so its memory is not the
function's); PostgreSQL is its own process too, as Supabase is remote in production. Peak RSS is this
process's high-water mark (`ru_maxrss`): model, ONNX runtime, HTTP clients and pipeline together, which is
what the 512 MB Lambda must hold. Request rates are lifted so the figures measure the function's own cost;
the rate-limited daily picture is computed from them and printed at the end. `--rate 40` instead runs both
sources at that many requests per second (TMDB's highest allowed setting), the pace a real crawl keeps.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from cinelibre.db import embedded, migrate
from cinelibre.db.postgres import PostgresDatabase
from cinelibre.embedding import get_embedder
from cinelibre.ingest.google_books import PAGE_SIZE
from cinelibre.ingest.handler import build_pipeline
from cinelibre.ingest.replay import RecordedCatalog
from cinelibre.observability import logger
from cinelibre.settings import load_settings

LANGUAGES = ["en", "hi", "te", "ta", "kn", "ml", "bn", "mr"]
SUBJECTS = ("fiction", "computers", "cats", "mathematicians")
# A 512 MB function gets 512/1769 of a vCPU (1,769 MB buys one full vCPU).
LAMBDA_512_VCPU = 512 / 1769
LAMBDA_TIMEOUT_S = 900


class TimedEmbedder:
    """The real embedder, with the time spent inside it counted."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.texts = 0

    def embed_passages(self, texts: Iterable[str]) -> Iterator[list[float]]:
        started = time.perf_counter()
        vectors = list(self.inner.embed_passages(list(texts)))
        self.seconds += time.perf_counter() - started
        self.texts += len(vectors)
        yield from vectors


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the replay server did not start")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=2000)
    parser.add_argument("--books", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="ONNX threads (the function uses 1)")
    parser.add_argument(
        "--rate", type=float, default=None, help="requests per second per source (default: no ceiling)"
    )
    args = parser.parse_args()
    logger.setLevel("WARNING")  # the figures, not the pipeline's per-run log lines

    # Enough copies of the recorded catalog to list the requested numbers; each run then covers the whole
    # plan, so the second run sees exactly the data of the first.
    base = RecordedCatalog()
    dated = [e for e in base.listing if e.get("release_date")]
    first_copy = sum(1 for e in dated if e["original_language"] in LANGUAGES)
    movie_copies = 1 + max(0, math.ceil((args.movies - first_copy) / len(dated)))
    per_subject = {
        s: sum(1 for v in base.volumes if s in [c.lower() for c in v["volumeInfo"].get("categories", [])])
        for s in SUBJECTS
    }
    book_copies = math.ceil(args.books / sum(per_subject.values()))
    books_pages = math.ceil(max(per_subject.values()) * book_copies / PAGE_SIZE) + 1
    port = free_port()
    replay = subprocess.Popen(  # noqa: S603 (our own module, fixed arguments)
        [
            sys.executable,
            "-m",
            "cinelibre.ingest.replay",
            "--port",
            str(port),
            "--copies",
            str(movie_copies),
            "--book-copies",
            str(book_copies),
            "--copy-languages",
            ",".join(LANGUAGES),
        ],
        stdout=subprocess.DEVNULL,
    )
    del base
    data_dir = Path(tempfile.mkdtemp(prefix="cinelibre-bench-"))
    try:
        wait_for(port)
        url = embedded.start(data_dir)
        migrate.apply_migrations(url)
        settings = load_settings(
            database_url=url,
            tmdb_api_key="bench-key-0123456789abcdef0123456",
            tmdb_base_url=f"http://127.0.0.1:{port}/3",
            google_books_base_url=f"http://127.0.0.1:{port}/books/v1",
            ingest_languages=LANGUAGES,
            embed_threads=args.threads,
        )
        rss_before_model = peak_rss_mb()
        load_started = time.perf_counter()
        embedder = TimedEmbedder(get_embedder(settings))
        list(embedder.inner.embed_passages(["warm-up"]))
        load_s = time.perf_counter() - load_started
        database = PostgresDatabase(url, max_connections=1)
        unthrottled = {"requests_per_second": args.rate or 10_000.0}
        # Google Books at most at its own highest setting (20/s).
        books_rate = {"requests_per_second": min(args.rate, 20.0) if args.rate else 10_000.0}
        print(f"request ceiling: TMDB {args.rate or 'none'}/s, Google Books {books_rate['requests_per_second']:g}/s")

        def run(label: str):
            pipeline = build_pipeline(
                settings,
                database,
                embedder,
                tmdb_options=unthrottled,
                books_options={**books_rate, "subjects": SUBJECTS, "pages_per_subject": books_pages},
            )
            embed_before, texts_before = embedder.seconds, embedder.texts
            results = {}
            for source in ("tmdb", "google_books"):
                started = time.perf_counter()
                summary = pipeline.run(sources=[source], trigger="bench")
                results[source] = (summary.runs[0], time.perf_counter() - started)
            embed_s, texts = embedder.seconds - embed_before, embedder.texts - texts_before
            print(f"\n== {label}")
            for source, (outcome, seconds) in results.items():
                s = outcome.stats
                print(
                    f"{source:<13} {s.fetched:>5} items in {seconds:7.1f} s"
                    f" = {s.fetched / seconds:7.1f} items/s"
                    f"  (new {s.new}, updated {s.updated}, unchanged {s.unchanged}, failed {s.failed},"
                    f" embedded {s.embedded}, pages {s.pages}, status {outcome.status})"
                )
            total_items = sum(o.stats.fetched for o, _ in results.values())
            total_s = sum(seconds for _, seconds in results.values())
            print(
                f"all           {total_items:>5} items in {total_s:7.1f} s"
                f" = {total_items / total_s:7.1f} items/s;"
                f" embedding {texts} texts took {embed_s:.1f} s"
                f" ({texts / embed_s if texts else 0:.1f} texts/s), the rest {total_s - embed_s:.1f} s"
            )
            print(f"peak RSS so far: {peak_rss_mb():.0f} MB")
            return total_items, total_s, embed_s, texts

        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, ONNX threads {args.threads}"
        )
        print(
            f"replay: {movie_copies} copies of the recorded movies, {book_copies} of the volumes, port {port}"
        )
        print(f"model load + warm-up: {load_s:.1f} s; RSS before the model {rss_before_model:.0f} MB")
        items, seconds, embed_s, texts = run("first run: everything new")
        run("second run: same data (must embed nothing)")
        database.close()
        peak = peak_rss_mb()
        print(f"\npeak RSS: {peak:.0f} MB (budget 400 MB) -> {'OK' if peak < 400 else 'OVER BUDGET'}")

        per_text_s = embed_s / texts
        other_per_item_s = (seconds - embed_s) / items
        lambda_per_item_s = (per_text_s + other_per_item_s) / LAMBDA_512_VCPU
        usable_s = LAMBDA_TIMEOUT_S - settings.ingest_deadline_margin_s
        tmdb_rate_floor = 1 / settings.tmdb_requests_per_second  # one details request per new title
        print("\n== what a 512 MB Lambda (~0.29 vCPU) implies, CPU time scaled by 1/0.29:")
        rate_bound = tmdb_rate_floor > lambda_per_item_s
        print(
            f"new item: {lambda_per_item_s * 1000:.0f} ms -> {1 / lambda_per_item_s:.1f} new items/s by CPU;"
            f" TMDB's {settings.tmdb_requests_per_second:.0f} req/s ceiling"
            f" (one details request per new title) allows {1 / tmdb_rate_floor:.0f}/s,"
            f" so the {'rate limit' if rate_bound else 'CPU'} sets the pace"
        )
        lambda_per_item_s = max(lambda_per_item_s, tmdb_rate_floor)
        print(
            f"one {LAMBDA_TIMEOUT_S} s invocation ({usable_s:.0f} s usable): about"
            f" {usable_s / lambda_per_item_s:,.0f} new items"
        )
    finally:
        replay.terminate()
        replay.wait(timeout=10)
        embedded.stop(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
