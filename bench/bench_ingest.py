"""Ingest throughput and peak memory against the replay server, embedded with the real model into a throwaway
embedded PostgreSQL.

    .venv/bin/python bench/bench_ingest.py [--movies 2000] [--books 1000] [--threads 1] [--rate 40]
    .venv/bin/python bench/bench_ingest.py --plan default --seconds 60 --rate 40 [--threads 2]

Both sources are crawled by one `pipeline.run`, as the scheduled function does (this code runs them at the same
time; older code ran them one after the other), so the figures are new items of the whole crawl per second of
wall time.

`--plan bench` (default): a small plan sized to list `--movies` titles and `--books` volumes, crawled to its end
twice (the second run must embed nothing). `--plan default`: the plan the function runs (eight languages,
twelve slices of 25 pages each; the 44 default subjects of 10 pages each) against a replay of 9,744 titles (116
copies of the recorded ones, spread over the eight languages, as the issue's "TMDB-shaped server with 9,733
real titles") and 10,000 volumes spread over the 44 subjects, for `--seconds` of a first crawl.

The replay server runs in its own process (it stands in for TMDB and Google Books, so its memory is not the
function's); PostgreSQL is its own process too, as Supabase is remote in production. Peak RSS is this
process's high-water mark (`ru_maxrss`): model, ONNX runtime, HTTP clients and pipeline together, which is
what the 512 MB Lambda must hold. Without `--rate` the request ceilings are lifted so the figures measure the
function's own cost; `--rate 40` runs TMDB at 40 requests per second (its highest allowed setting) and Google
Books at 20 (its own), the pace a real crawl keeps.
"""

from __future__ import annotations

import argparse
import itertools
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
from cinelibre.ingest.google_books import SUBJECTS as DEFAULT_SUBJECTS
from cinelibre.ingest.pipeline import Deadline

try:
    from cinelibre.ingest.handler import build_pipeline
except ImportError:  # commit 193b0a0 (the "today") kept it in pipeline.py
    from cinelibre.ingest.pipeline import build_pipeline  # type: ignore[attr-defined,no-redef]

try:
    from cinelibre.ingest.memory import INGEST_MALLOC_ARENAS, limit_malloc_arenas
except ImportError:  # code from before issue 11 measured with this script (PYTHONPATH=<old checkout>/src)
    import ctypes

    INGEST_MALLOC_ARENAS = 2

    def limit_malloc_arenas(count: int = 2) -> bool:
        return bool(ctypes.CDLL(None).mallopt(-8, count))
from cinelibre.ingest.replay import RecordedCatalog
from cinelibre.observability import logger
from cinelibre.settings import load_settings

LANGUAGES = ["en", "hi", "te", "ta", "kn", "ml", "bn", "mr"]
SUBJECTS = ("fiction", "computers", "cats", "mathematicians")
# A 512 MB function gets 512/1769 of a vCPU (1,769 MB buys one full vCPU).
LAMBDA_512_VCPU = 512 / 1769
LAMBDA_TIMEOUT_S = 900
# The default plan's replay: 116 x 84 recorded titles = 9,744 (the server had 9,733), 1,000 x 10 volumes.
DEFAULT_PLAN_MOVIE_COPIES = 116
DEFAULT_PLAN_BOOK_COPIES = 1000


class TimedEmbedder:
    """The real embedder, with the time spent inside it counted."""

    def __init__(self, inner, *, keep_passes: bool = False) -> None:
        self.inner = inner
        self.seconds = 0.0
        self.texts = 0
        # The texts of each call, in order, to embed them again with the model alone after the crawl.
        self.passes: list[list[str]] | None = [] if keep_passes else None
        # (start, end) of each call: the gaps between calls are the writer's upserts and its waits for pages.
        self.calls: list[tuple[float, float]] = []

    def embed_passages(self, texts: Iterable[str]) -> Iterator[list[float]]:
        texts = list(texts)
        if self.passes is not None:
            self.passes.append(texts)
        started = time.perf_counter()
        vectors = list(self.inner.embed_passages(texts))
        ended = time.perf_counter()
        self.calls.append((started, ended))
        self.seconds += ended - started
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


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_tree_cpu_s(root_pid: int) -> float:
    """CPU seconds of a process and its live children (the replay server; the PostgreSQL server and its
    backends), read from /proc: they run on the same two cores as the crawl, so their share is part of it."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if root_pid in (pid, ppid):
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def postmaster_pid(data_dir: Path) -> int | None:
    for pid_file in data_dir.rglob("postmaster.pid"):
        return int(pid_file.read_text().split()[0])
    return None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def model_alone(embedder: TimedEmbedder, settings, batch_sizes: list[int]) -> None:
    """The model's own pace on the crawl's texts: the same calls, one after another, nothing else running."""
    from cinelibre.embedding import Embedder

    passes = embedder.passes or []
    texts = sum(len(call) for call in passes)
    print(f"\n== model alone: the crawl's {texts} texts in its {len(passes)} calls, {settings.embed_threads} threads")
    for size in batch_sizes:
        alone = Embedder(settings.model_path, threads=settings.embed_threads, batch_size=size)
        list(alone.embed_passages(["warm-up"]))
        started, cpu_before = time.perf_counter(), cpu_seconds()
        for call in passes:
            for _ in alone.embed_passages(call):
                pass
        seconds, cpu_s = time.perf_counter() - started, cpu_seconds() - cpu_before
        print(
            f"batch {size:>3}: {seconds:6.1f} s = {texts / seconds:6.1f} texts/s, {cpu_s / seconds:.2f} cores;"
            f" peak RSS so far {peak_rss_mb():.0f} MB"
        )
        del alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=2000)
    parser.add_argument("--books", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="ONNX threads (the function uses 1)")
    parser.add_argument(
        "--rate", type=float, default=None, help="requests per second per source (default: no ceiling)"
    )
    parser.add_argument("--plan", choices=("bench", "default"), default="bench")
    parser.add_argument("--seconds", type=float, default=None, help="stop each run after this long")
    parser.add_argument("--embed-batch", type=int, default=None, help="embedding batch size (default: settings)")
    parser.add_argument(
        "--model-alone", type=str, default=None, metavar="BATCH[,BATCH...]",
        help="after the crawl, embed the texts it embedded again, in the same calls, with the model alone"
        " (nothing else running in the process) at each of these batch sizes: the crawl's ceiling",
    )
    parser.add_argument(
        "--malloc-arenas", type=int, default=None,
        help="glibc malloc arenas (default: MALLOC_ARENA_MAX if set, else 2 as the ingest handler sets;"
        " 0: glibc's own default, as before issue 11)",
    )
    args = parser.parse_args()
    arenas = (
        args.malloc_arenas
        if args.malloc_arenas is not None
        else int(os.environ.get("MALLOC_ARENA_MAX", INGEST_MALLOC_ARENAS))
    )
    if arenas > 0:
        limit_malloc_arenas(arenas)
    if args.plan == "default" and args.seconds is None:
        parser.error("--plan default crawls for --seconds (a first crawl of the default plan takes days)")
    logger.setLevel("WARNING")  # the figures, not the pipeline's per-run log lines

    base = RecordedCatalog()
    if args.plan == "default":
        movie_copies, book_copies, books_pages = DEFAULT_PLAN_MOVIE_COPIES, DEFAULT_PLAN_BOOK_COPIES, None
        subjects: tuple[str, ...] = DEFAULT_SUBJECTS
    else:
        # Enough copies of the recorded catalog to list the requested numbers; each run then covers the whole
        # plan, so the second run sees exactly the data of the first.
        dated = [e for e in base.listing if e.get("release_date")]
        first_copy = sum(1 for e in dated if e["original_language"] in LANGUAGES)
        movie_copies = 1 + max(0, math.ceil((args.movies - first_copy) / len(dated)))
        subjects = SUBJECTS
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
            *(["--copy-subjects", "default"] if args.plan == "default" else []),
        ],
        stdout=subprocess.DEVNULL,
        # The replay server of this checkout, also when PYTHONPATH points the measured code at an older one.
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")},
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
            **({"embed_batch_size": args.embed_batch} if args.embed_batch else {}),
        )
        rss_before_model = peak_rss_mb()
        load_started = time.perf_counter()
        embedder = TimedEmbedder(get_embedder(settings), keep_passes=args.model_alone is not None)
        list(embedder.inner.embed_passages(["warm-up"]))
        load_s = time.perf_counter() - load_started
        database = PostgresDatabase(url, max_connections=1)
        unthrottled = {"requests_per_second": args.rate or 10_000.0}
        # Google Books at most at its own highest setting (20/s).
        books_rate = {"requests_per_second": min(args.rate, 20.0) if args.rate else 10_000.0}
        print(f"request ceiling: TMDB {args.rate or 'none'}/s, Google Books {books_rate['requests_per_second']:g}/s")

        books_options: dict = {**books_rate, "subjects": subjects}
        if books_pages is not None:
            books_options["pages_per_subject"] = books_pages

        def run(label: str):
            pipeline = build_pipeline(
                settings, database, embedder, tmdb_options=unthrottled, books_options=books_options
            )
            embed_before, texts_before = embedder.seconds, embedder.texts
            deadline = Deadline()
            if args.seconds is not None:
                ends = time.monotonic() + args.seconds
                deadline = Deadline(lambda: ends - time.monotonic())
            postgres_pid = postmaster_pid(data_dir)
            replay_cpu_before = process_tree_cpu_s(replay.pid)
            postgres_cpu_before = process_tree_cpu_s(postgres_pid) if postgres_pid else 0.0
            started, cpu_before = time.perf_counter(), cpu_seconds()
            summary = pipeline.run(sources=["tmdb", "google_books"], trigger="bench", deadline=deadline)
            wall_s = time.perf_counter() - started
            cpu_s = cpu_seconds() - cpu_before
            replay_cpu_s = process_tree_cpu_s(replay.pid) - replay_cpu_before
            postgres_cpu_s = (process_tree_cpu_s(postgres_pid) - postgres_cpu_before) if postgres_pid else 0.0
            embed_s, texts = embedder.seconds - embed_before, embedder.texts - texts_before
            calls = [call for call in embedder.calls if call[0] >= started]
            first_embed_s = calls[0][0] - started if calls else 0.0
            gaps = [later[0] - earlier[1] for earlier, later in itertools.pairwise(calls)]
            after_last_s = started + wall_s - calls[-1][1] if calls else 0.0
            print(f"\n== {label}")
            for outcome in summary.runs:
                s = outcome.stats
                print(
                    f"{outcome.source:<13} {s.fetched:>5} items, {s.new:>5} new in {outcome.seconds:6.1f} s"
                    f" = {s.new / outcome.seconds:6.1f} new items/s"
                    f"  (updated {s.updated}, unchanged {s.unchanged}, failed {s.failed},"
                    f" embedded {s.embedded}, pages {s.pages}, status {outcome.status},"
                    f" stopped by {outcome.stopped_by or 'end of plan'})"
                )
            total_items = sum(o.stats.fetched for o in summary.runs)
            total_new = sum(o.stats.new for o in summary.runs)
            print(
                f"whole crawl   {total_items:>5} items, {total_new:>5} new in {wall_s:6.1f} s of wall time"
                f" = {total_new / wall_s:6.1f} new items/s ({total_items / wall_s:.1f} items/s);"
                f" embedding {texts} texts took {embed_s:.1f} s"
                f" ({texts / embed_s if texts else 0:.1f} texts/s)"
            )
            print(
                f"CPU used by this process: {cpu_s:.1f} s = {cpu_s / wall_s:.2f} of {os.cpu_count()} cores;"
                f" peak RSS so far: {peak_rss_mb():.0f} MB"
            )
            print(
                f"model idle: {first_embed_s:.1f} s before the first text, {sum(gaps):.1f} s between its"
                f" {len(calls)} calls (longest {max(gaps, default=0):.2f} s; upserts and waits for pages),"
                f" {after_last_s:.1f} s after the last"
            )
            print(
                f"CPU on the same machine: replay server {replay_cpu_s:.1f} s = {replay_cpu_s / wall_s:.2f} cores,"
                f" PostgreSQL {postgres_cpu_s:.1f} s = {postgres_cpu_s / wall_s:.2f} cores"
            )
            return total_items, wall_s, embed_s, texts

        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, ONNX threads {args.threads}"
        )
        print(
            f"replay: {movie_copies} copies of the recorded movies, {book_copies} of the volumes, port {port}"
        )
        print(f"model load + warm-up: {load_s:.1f} s; RSS before the model {rss_before_model:.0f} MB")
        print(f"malloc arenas: {arenas if arenas > 0 else 'glibc default (8 per core)'}")
        items, seconds, embed_s, texts = run("first run: everything new")
        if args.plan == "bench":
            run("second run: same data (must embed nothing)")
        database.close()
        peak = peak_rss_mb()
        print(f"\npeak RSS: {peak:.0f} MB (issue 11 target 350 MB) -> {'OK' if peak <= 350 else 'OVER'}")
        if args.model_alone:
            model_alone(embedder, settings, [int(size) for size in args.model_alone.split(",")])

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
