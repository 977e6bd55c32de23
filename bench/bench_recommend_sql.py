"""Latency of the serving SQL alone: `get_model_recommendations(user, 'all', 10)` on a database that
bench_recommend_serving.py loaded and trained (`--data-dir`), without the handler around it.

    # once, at background priority: load MovieLens and train (bench_recommend_serving.py's own data dir)
    /work/wt/bg .venv/bin/python bench/bench_recommend_serving.py --data-dir /tmp/rec-bench \
        --scales movielens --prepare-only
    # then only the SQL, under the bench lock
    /work/wt/benchlock .venv/bin/python bench/bench_recommend_sql.py --data-dir /tmp/rec-bench
    # after new migrations: apply them (and retrain if the model changed) on the same data, measure again
    /work/wt/benchlock .venv/bin/python bench/bench_recommend_sql.py --data-dir /tmp/rec-bench --migrate

Every user with ratings is asked once in a seeded random order after a warm-up pass over 50 of them, so two
runs on the same data ask the same users in the same order. It prints p50/p95/p99 and the mean, and the
same figures for the heaviest 5% of users (the ones with the most ratings, where the tail comes from), and by
band of rating count.
With `--migrate` it applies the repository's migrations first (by default it leaves the schema as found, so
a "before" figure measures the functions that were there).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import time
from pathlib import Path

RATING_BANDS = ((1, 50), (50, 100), (100, 200), (200, 300), (300, 500), (500, 1000), (1000, 10**9))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"count": len(values), "p50_ms": round(percentile(values, 50), 2),
            "p95_ms": round(percentile(values, 95), 2), "p99_ms": round(percentile(values, 99), 2),
            "mean_ms": round(statistics.fmean(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database", default="movielens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2, help="passes over every user")
    parser.add_argument("--migrate", action="store_true", help="apply the repository's migrations first")
    args = parser.parse_args()

    import psycopg
    from psycopg.conninfo import make_conninfo

    from cinelibre.db import embedded, migrate

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()}", flush=True)
    server = embedded.start(args.data_dir)
    try:
        url = make_conninfo(server, dbname=args.database)
        if args.migrate:
            migrate.apply_migrations(url)
        with psycopg.connect(url, autocommit=True) as conn:
            counts = dict(conn.execute(
                "select user_id::text, count(*) from public.ratings group by user_id order by user_id").fetchall())
            model = conn.execute(
                "select m.version, m.algorithm, m.neighbour_count from public.recommender_active a "
                "join public.recommender_models m on m.version = a.model_version").fetchone()
            users = sorted(counts)
            random.Random(args.seed).shuffle(users)
            query = "select * from public.get_model_recommendations(%s::uuid, 'all', 10)"
            for user in users[:50]:
                conn.execute(query, (user,)).fetchall()
            timings: dict[str, list[float]] = {user: [] for user in users}
            for _ in range(args.rounds):
                for user in users:
                    started = time.perf_counter()
                    conn.execute(query, (user,)).fetchall()
                    timings[user].append((time.perf_counter() - started) * 1000)
    finally:
        embedded.stop(args.data_dir)
    every = [t for values in timings.values() for t in values]
    heaviest = sorted(users, key=lambda user: -counts[user])[: max(1, len(users) // 20)]
    result = {
        "model": {"version": model[0], "algorithm": model[1], "neighbour_rows": model[2]} if model else None,
        "users": len(users), "every_user": summary(every),
        "heaviest_5_percent": summary([t for user in heaviest for t in timings[user]]),
        "heaviest_min_ratings": min(counts[user] for user in heaviest),
        # Where the live sum's cost grows with the rating count: what the score cache's threshold is chosen from.
        "by_rating_count": {
            f"{low}-{high - 1}": summary([t for user in users if low <= counts[user] < high for t in timings[user]])
            for low, high in RATING_BANDS if any(low <= counts[user] < high for user in users)
        },
        "load_average_after": os.getloadavg(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
