"""Serving latency and training cost of the trained recommender, through the real Lambda handler.

    nice -n 10 .venv/bin/python bench/bench_recommend_serving.py                  # every scale below
    nice -n 10 .venv/bin/python bench/bench_recommend_serving.py --scales movielens --requests 100
    # data loaded and trained once, at background priority; then only the latency under the bench lock:
    /work/wt/bg .venv/bin/python bench/bench_recommend_serving.py --data-dir /tmp/rec-bench --prepare-only
    /work/wt/benchlock .venv/bin/python bench/bench_recommend_serving.py --data-dir /tmp/rec-bench --requests 300
    # --breakdown: each database call the handler makes; --compare-start: the old three first calls against
    # get_personalized_start, interleaved (issue 9, session 3)

Scales (each in its own fresh database on one throwaway embedded PostgreSQL):
- movielens: ml-latest-small's 100,836 ratings (610 users, 9,742 movies), from `--ratings` or
  /work/shared/datasets/ml-latest-small/ratings.csv (read in place, never copied).
- zipf-10k / zipf-50k: 1,000,000 synthetic ratings by 20,000 users over 10,000 or 50,000 items, item
  popularity Zipf-like (weight 1/(rank+10)^0.9), user activity log-normal, ratings from a small latent-taste
  model, so the model has structure to find.

For each: bulk-load (the `cinelibre evaluate` loader), train with `training.train_and_publish` in a child
process that sees a 10 GB Lambda (AWS_LAMBDA_FUNCTION_MEMORY_SIZE=10240, so the EASE cap is the job's own
rule) and report its wall time and peak resident memory (the child's ru_maxrss), then call the recommend
function's handler (functions/recommend's app, Mangum + FastAPI, production settings) with Lambda Function
URL events for GET /recommendations/personalized?limit=10 as randomly chosen users with ratings, and print
p50/p95/p99 over `--requests` calls after warm-up. Catalog items carry no embeddings (the content-based path
does not apply), as in `cinelibre evaluate`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
# Run as a script from a checkout: the tests' Lambda event builder is reused rather than written twice.
sys.path.insert(0, str(REPO_ROOT))

from bench_api import Context  # noqa: E402  (the Lambda context the benchmarks share)

from cinelibre.recommend import offline  # noqa: E402
from cinelibre.recommend.evaluation import RatingRecord  # noqa: E402
from tests.api.lambda_events import http_event, invoke  # noqa: E402

DEFAULT_RATINGS = Path("/work/shared/datasets/ml-latest-small/ratings.csv")
LAMBDA_MEMORY_MB = 10_240

TRAIN_CHILD = """
import json, resource, sys, time
from cinelibre.db.postgres import PostgresDatabase
from cinelibre.observability import logger
from cinelibre.recommend.training import TrainingParams, train_and_publish
logger.setLevel("WARNING")
database = PostgresDatabase(sys.argv[1], statement_timeout_s=3600.0)
started = time.perf_counter()
report = train_and_publish(database, params=TrainingParams(validate=False))
wall = time.perf_counter() - started
database.close()
print(json.dumps({"wall_seconds": wall, "algorithm": report.algorithm, "items": report.item_count,
                  "ratings": report.rating_count, "users": report.user_count,
                  "train_seconds": report.train_seconds, "neighbour_rows": report.neighbour_count,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""




def zipf_ratings(items: int, ratings: int, users: int, seed: int) -> list[RatingRecord]:
    rng = np.random.default_rng(seed)
    item_weights = 1.0 / (np.arange(items) + 10.0) ** 0.9
    item_weights /= item_weights.sum()
    user_weights = rng.lognormal(0.0, 1.0, users)
    user_weights /= user_weights.sum()
    factors = 4
    user_taste = rng.normal(0, 1, (users, factors))
    item_taste = rng.normal(0, 1, (items, factors))
    item_quality = rng.normal(0, 0.5, items)
    pairs: set[tuple[int, int]] = set()
    records: list[RatingRecord] = []
    while len(records) < ratings:
        want = int((ratings - len(records)) * 1.2) + 1000
        user_draw = rng.choice(users, size=want, p=user_weights)
        item_draw = rng.choice(items, size=want, p=item_weights)
        values = 3.4 + item_quality[item_draw] + 0.35 * np.einsum(
            "ij,ij->i", user_taste[user_draw], item_taste[item_draw]
        ) + rng.normal(0, 0.5, want)
        values = np.clip(np.round(values * 2) / 2, 0.5, 5.0)
        for user, item, value in zip(user_draw.tolist(), item_draw.tolist(), values.tolist(), strict=True):
            if (user, item) in pairs:
                continue
            pairs.add((user, item))
            records.append(RatingRecord(str(user), str(item), value))
            if len(records) == ratings:
                break
    return records


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def train_in_child(url: str) -> dict:
    env = dict(os.environ, AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(LAMBDA_MEMORY_MB), POWERTOOLS_LOG_LEVEL="WARNING")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", TRAIN_CHILD, url], capture_output=True, text=True, env=env,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"training failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = time.perf_counter() - started
    figures["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return figures


def latency(url: str, users: list[str], requests: int, seed: int, *, breakdown: bool = False) -> dict:
    from cinelibre.api import recommend
    from cinelibre.api.lambda_handler import make_handler
    from cinelibre.auth.accounts import new_secret_token, token_hash
    from cinelibre.auth.tokens import TokenService
    from cinelibre.db import close_databases, get_database
    from cinelibre.settings import get_settings

    os.environ.update({
        "CINELIBRE_ENV": "production",
        "CINELIBRE_JWT_SECRET": secrets.token_urlsafe(48),
        "DATABASE_URL": url,
    })
    get_settings.cache_clear()
    close_databases()
    settings = get_settings()
    handler = make_handler(recommend.create_app(settings))
    tokens = TokenService.from_settings(settings)
    database = get_database(settings)
    sessions: dict[str, str] = {}

    def token_for(user_id: str) -> str:
        # Access tokens carry a session every authenticated request checks (issue 10): one per user, made on
        # first use, so the timed calls pay the check, not the sign-in.
        if user_id not in sessions:
            sessions[user_id] = database.start_auth_session(
                user_id=user_id, refresh_token_hash=token_hash(new_secret_token()), ttl_s=3600
            )
        return tokens.issue(user_id, sessions[user_id]).token

    rng = random.Random(seed)
    methods: dict[str, int] = {}
    errors: dict[int, int] = {}
    # --breakdown: every database call the handler makes, timed where the adapter makes it (round trip
    # included), per request: (function, ms).
    database_calls: list[tuple[str, float]] = []
    per_request: list[tuple[float, list[tuple[str, float]]]] = []
    if breakdown:
        untimed_call = database.transport._call

        def timed_call(function: str, args: dict, *, returns_set: bool) -> object:
            started = time.perf_counter()
            try:
                return untimed_call(function, args, returns_set=returns_set)
            finally:
                database_calls.append((function, (time.perf_counter() - started) * 1000))

        database.transport._call = timed_call

    def call() -> float:
        token = token_for(rng.choice(users))
        event = http_event("GET", "/recommendations/personalized", query={"limit": 10}, token=token)
        database_calls.clear()
        started = time.perf_counter()
        response = invoke(handler, Context(), event)
        elapsed = (time.perf_counter() - started) * 1000
        per_request.append((elapsed, list(database_calls)))
        if response.status != 200:
            # Counted and reported, not fatal: a timeout is a figure too.
            errors[response.status] = errors.get(response.status, 0) + 1
            return elapsed
        method = json.loads(response.text)["method"]
        methods[method] = methods.get(method, 0) + 1
        return elapsed

    for _ in range(10):
        call()
    methods.clear()
    errors.clear()
    per_request.clear()
    load_before = os.getloadavg()[0]
    samples = [call() for _ in range(requests)]
    load_after = os.getloadavg()[0]
    figures = {"load_average_1min": [round(load_before, 2), round(load_after, 2)],
               "p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95),
               "p99_ms": percentile(samples, 99), "mean_ms": statistics.fmean(samples), "n": len(samples),
               "methods": methods, "errors_by_status": errors}
    if breakdown:
        database.transport._call = untimed_call
        figures["breakdown"] = call_breakdown(per_request)
        figures["sql_function_alone"] = model_function_alone(database, users, requests, seed)
    close_databases()
    return figures


def call_breakdown(per_request: list[tuple[float, list[tuple[str, float]]]]) -> dict:
    """Per database function: in how many requests it was called, and its p50/p99/mean per call (round trip
    included); then the time the handler spends outside the database (FastAPI, Mangum, validation, logs)."""
    by_function: dict[str, list[float]] = {}
    outside: list[float] = []
    calls_per_request: list[int] = []
    for elapsed, calls in per_request:
        for function, ms in calls:
            by_function.setdefault(function, []).append(ms)
        outside.append(elapsed - sum(ms for _, ms in calls))
        calls_per_request.append(len(calls))
    result: dict = {
        function: {"calls": len(times), "p50_ms": round(percentile(times, 50), 2),
                   "p99_ms": round(percentile(times, 99), 2), "mean_ms": round(statistics.fmean(times), 2)}
        for function, times in by_function.items()
    }
    result["outside_the_database"] = {"p50_ms": round(percentile(outside, 50), 2),
                                      "mean_ms": round(statistics.fmean(outside), 2)}
    result["database_calls_per_request"] = round(statistics.fmean(calls_per_request), 2)
    return result


def model_function_alone(database: object, users: list[str], requests: int, seed: int) -> dict:
    """`get_model_recommendations` called through the adapter for the same random users as the handler run:
    what the trained model's SQL costs without anything around it."""
    rng = random.Random(seed)
    for _ in range(10):
        database.get_model_recommendations(user_id=rng.choice(users), item_type="all", count=10)  # type: ignore[attr-defined]
    rng = random.Random(seed)
    samples = []
    for _ in range(requests):
        user = rng.choice(users)
        started = time.perf_counter()
        database.get_model_recommendations(user_id=user, item_type="all", count=10)  # type: ignore[attr-defined]
        samples.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": percentile(samples, 50), "p95_ms": percentile(samples, 95), "p99_ms": percentile(samples, 99),
            "mean_ms": round(statistics.fmean(samples), 2)}


def start_against_three_calls(url: str, users: list[str], requests: int, seed: int) -> dict:
    """The route's first database work, the old way (check_auth_session, count_user_ratings,
    get_model_recommendations: three round trips) against `get_personalized_start` (one), timed interleaved for
    the same users in one process, alternating which goes first, so run-to-run drift cancels out."""
    from cinelibre.auth.accounts import new_secret_token, token_hash
    from cinelibre.db.postgres import PostgresDatabase

    database = PostgresDatabase(url)
    rng = random.Random(seed)
    picks = [rng.choice(users) for _ in range(requests)]
    sessions = {user: database.start_auth_session(user_id=user, refresh_token_hash=token_hash(new_secret_token()),
                                                  ttl_s=3600) for user in set(picks)}

    def three_calls(user: str) -> None:
        database.check_auth_session(session_id=sessions[user], user_id=user)
        database.count_user_ratings(user_id=user)
        database.get_model_recommendations(user_id=user, item_type="all", count=10)

    def one_call(user: str) -> None:
        database.get_personalized_start(user_id=user, session_id=sessions[user], item_type="all", count=10)

    for user in picks[:10]:
        three_calls(user)
        one_call(user)
    timings: dict[str, list[float]] = {"three_calls": [], "get_personalized_start": []}
    ways = (("three_calls", three_calls), ("get_personalized_start", one_call))
    for index, user in enumerate(picks):
        for name, call in ways if index % 2 else ways[::-1]:
            started = time.perf_counter()
            call(user)
            timings[name].append((time.perf_counter() - started) * 1000)
    database.close()
    paired = [one - three for three, one in zip(timings["three_calls"], timings["get_personalized_start"], strict=True)]
    return {name: {"p50_ms": round(percentile(values, 50), 2), "p90_ms": round(percentile(values, 90), 2),
                   "mean_ms": round(statistics.fmean(values), 2)} for name, values in timings.items()} | {
        "paired_median_difference_ms": round(statistics.median(paired), 2)}


@contextlib.contextmanager
def kept_server(data_dir: Path) -> Iterator[str]:
    """An embedded PostgreSQL whose data stays in `data_dir` between runs (stopped afterwards)."""
    from cinelibre.db import embedded

    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        yield embedded.start(data_dir)
    finally:
        embedded.stop(data_dir)


def prepared_database(server_url: str, name: str) -> str | None:
    """The URL of database `name` when an earlier run loaded and trained it (new migrations applied), else
    None."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    from cinelibre.db import migrate

    with psycopg.connect(server_url, autocommit=True) as conn:
        if conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone() is None:
            return None
    url = make_conninfo(server_url, dbname=name)
    migrate.apply_migrations(url)
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select 1 from public.recommender_active").fetchone() is None:
            return None
    return url


def stored_users(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return [row[0] for row in conn.execute("select distinct user_id::text from public.ratings order by 1")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=Path, default=DEFAULT_RATINGS)
    parser.add_argument("--scales", nargs="+", default=["movielens", "zipf-10k", "zipf-50k"],
                        choices=["movielens", "zipf-10k", "zipf-50k"])
    parser.add_argument("--synthetic-ratings", type=int, default=1_000_000)
    parser.add_argument("--synthetic-users", type=int, default=20_000)
    parser.add_argument("--zipf-items", type=int, help="override the synthetic item count (a quick look)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path,
                        help="keep the embedded PostgreSQL here and reuse a scale already loaded and trained in it")
    parser.add_argument("--prepare-only", action="store_true", help="load and train, measure no latency")
    parser.add_argument("--retrain", action="store_true", help="with --data-dir: train again on the stored data")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time each database call the handler makes, and the model's SQL function alone")
    parser.add_argument("--compare-start", action="store_true",
                        help="with --data-dir: only time the three old first calls against get_personalized_start")
    args = parser.parse_args()

    from cinelibre.observability import logger

    logger.setLevel("WARNING")
    # The handler's CloudWatch metrics (EMF lines on stdout) would bury the figures.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}", flush=True)
    results = {}
    server_context = kept_server(args.data_dir) if args.data_dir else offline.throwaway_server()
    with server_context as server:
        for scale in args.scales:
            name = scale.replace("-", "_")
            url = prepared_database(server, name) if args.data_dir else None
            if url is not None:
                training = train_in_child(url) if args.retrain else None
                print(f"{scale}: reusing the data in {args.data_dir}"
                      + (f"; training: {json.dumps(training)}" if training else ""), flush=True)
                if args.compare_start:
                    compared = start_against_three_calls(url, stored_users(url), args.requests, args.seed)
                    print(f"  first database work, interleaved: {json.dumps(compared)}", flush=True)
                    results[scale] = {"compare_start": compared}
                    continue
                if not args.prepare_only:
                    served = latency(url, stored_users(url), args.requests, args.seed, breakdown=args.breakdown)
                    print(f"  personalized through the handler: {json.dumps(served)}", flush=True)
                    results[scale] = {"training": training, "latency": served}
                continue
            started = time.perf_counter()
            catalog: list[offline.CatalogEntry] = []
            if scale == "movielens":
                records = offline.read_ratings(args.ratings)
            else:
                items = args.zipf_items or (10_000 if scale == "zipf-10k" else 50_000)
                records = zipf_ratings(items, args.synthetic_ratings, args.synthetic_users, args.seed)
                # Every item in the catalog, rated or not, as a real catalog has its long tail.
                catalog = [offline.CatalogEntry(str(i), f"Item {i}") for i in range(items)]
            generated = time.perf_counter() - started
            url = offline.fresh_database(server, name)
            started = time.perf_counter()
            loaded = offline.load(url, catalog, records)
            load_seconds = time.perf_counter() - started
            print(f"{scale}: {len(records)} ratings, {loaded.catalog_size} items, {len(loaded.user_db_id)} users; "
                  f"generated/read in {generated:.1f} s, loaded in {load_seconds:.1f} s", flush=True)
            del records
            training = train_in_child(url)
            print(f"  training: {json.dumps(training)}", flush=True)
            if args.prepare_only:
                results[scale] = {"load_seconds": load_seconds, "training": training}
                continue
            served = latency(url, list(loaded.user_db_id.values()), args.requests, args.seed,
                             breakdown=args.breakdown)
            print(f"  personalized through the handler: {json.dumps(served)}", flush=True)
            results[scale] = {"load_seconds": load_seconds, "training": training, "latency": served}
    print("\n" + json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
