"""What the heavy users' score cache (issue 9, session 5) costs where it is paid: rating writes through the Lambda
handler, and the refresh after a model version is activated. Runs on a database that bench_recommend_serving.py
loaded and trained (`--data-dir`) and never applies migrations, so the same script measures a copy without the
cache ("before") and one with it ("after") on the same data.

    /work/wt/benchlock .venv/bin/python bench/bench_score_cache_writes.py --data-dir DIR [--refresh]

For the heaviest user and a light one (a quarter of the way up from the lightest), `--rounds` times each,
interleaved: POST /ratings changing one of their ratings across the liked/disliked line (so every score moves),
POST /ratings of an item they have not rated (201), and DELETE /ratings/{id} of that new rating; the user's
ratings end as they began. p50/p95 per user and kind. With `--refresh` (a copy that has the cache): delete every
cached row, then time refresh_user_model_scores in batches of 20 users, as the training job calls it after
activation.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench_api import Context  # noqa: E402

from tests.api.lambda_events import http_event, invoke  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 2), "p95_ms": round(percentile(values, 95), 2),
            "mean_ms": round(statistics.fmean(values), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database", default="movielens")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refresh", action="store_true", help="also time a full refresh of the cached rows")
    args = parser.parse_args()

    # The handler's CloudWatch metrics (EMF lines on stdout) would bury the figures.
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    import psycopg
    from psycopg.conninfo import make_conninfo

    from cinelibre.api import recommend
    from cinelibre.api.lambda_handler import make_handler
    from cinelibre.auth.accounts import new_secret_token, token_hash
    from cinelibre.auth.tokens import TokenService
    from cinelibre.db import close_databases, embedded, get_database
    from cinelibre.observability import logger
    from cinelibre.settings import get_settings

    logger.setLevel("WARNING")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {os.getloadavg()}", flush=True)
    server = embedded.start(args.data_dir)
    result: dict = {}
    try:
        url = make_conninfo(server, dbname=args.database)
        with psycopg.connect(url, autocommit=True) as conn:
            has_cache = conn.execute("select to_regclass('public.user_model_scores') is not null").fetchone()[0]
            counts = conn.execute("select user_id::text, count(*) from public.ratings group by user_id "
                                  "order by 2 desc, 1").fetchall()
            heavy, light = counts[0], counts[len(counts) * 3 // 4]
            model_items = [row[0] for row in conn.execute(
                "select l.item_id from public.item_neighbour_lists l "
                "join public.recommender_active a on a.model_version = l.model_version order by 1")]
            if has_cache:
                cached = conn.execute("select count(*) from public.user_model_scores s "
                                      "join public.recommender_active a using (model_version)").fetchone()[0]
                result["cached_rows"] = cached
        result["users"] = {"heavy": {"ratings": heavy[1]}, "light": {"ratings": light[1]}}
        result["has_cache"] = has_cache

        os.environ.update({"CINELIBRE_ENV": "production", "CINELIBRE_JWT_SECRET": secrets.token_urlsafe(48),
                           "DATABASE_URL": url})
        get_settings.cache_clear()
        close_databases()
        settings = get_settings()
        handler = make_handler(recommend.create_app(settings))
        tokens = TokenService.from_settings(settings)
        database = get_database(settings)
        rng = random.Random(args.seed)
        timings: dict[str, dict[str, list[float]]] = {}
        plans = {}
        for role, (user, _) in (("heavy", heavy), ("light", light)):
            session = database.start_auth_session(user_id=user, refresh_token_hash=token_hash(new_secret_token()),
                                                  ttl_s=3600)
            with psycopg.connect(url, autocommit=True) as conn:
                mine = dict(conn.execute("select item_id, rating::float8 from public.ratings where user_id = %s",
                                         (user,)).fetchall())
            unrated = [item for item in model_items if item not in mine]
            plans[role] = (user, session, mine, unrated)
            timings[role] = {"update": [], "insert": [], "delete": []}

        def timed(role: str, kind: str, event: dict, expected: set[int]) -> str:
            started = time.perf_counter()
            response = invoke(handler, Context(), event)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status not in expected:
                raise SystemExit(f"{role} {kind}: HTTP {response.status} {response.text[:300]}")
            timings[role][kind].append(elapsed)
            return response.text

        for round_number in range(args.rounds + 3):  # the first 3 rounds warm up
            for role in ("heavy", "light") if round_number % 2 == 0 else ("light", "heavy"):
                user, session, mine, unrated = plans[role]
                token = tokens.issue(user, session).token
                item = rng.choice(sorted(mine))
                # Across the liked/disliked line, then back: every score this item reaches moves twice.
                for value in (2.0 if mine[item] >= 4 else 4.5, mine[item]):
                    timed(role, "update", http_event("POST", "/ratings", json_body={"item_id": item, "rating": value},
                                                     token=token), {200})
                new_item = rng.choice(unrated)
                saved = json.loads(timed(role, "insert", http_event(
                    "POST", "/ratings", json_body={"item_id": new_item, "rating": 4.5}, token=token), {201}))
                timed(role, "delete", http_event("DELETE", f"/ratings/{saved['id']}", token=token), {204})
            if round_number == 2:
                for kinds in timings.values():
                    for values in kinds.values():
                        values.clear()
        close_databases()
        for role in ("heavy", "light"):
            result["users"][role].update({kind: summary(values) for kind, values in timings[role].items()})

        if args.refresh and has_cache:
            with psycopg.connect(url, autocommit=True) as conn:
                before = conn.execute("select count(*) from public.user_model_scores").fetchone()[0]
                conn.execute("delete from public.user_model_scores")
                started = time.perf_counter()
                after, summed, batches = None, 0, 0
                while True:
                    row = conn.execute("select refreshed, next_user_id from public.refresh_user_model_scores(%s, 20)",
                                       (after,)).fetchone()
                    summed += row[0]
                    batches += 1
                    after = row[1]
                    if after is None:
                        break
                seconds = time.perf_counter() - started
                size = conn.execute("select pg_total_relation_size('public.user_model_scores')").fetchone()[0]
            result["refresh"] = {"rows_before": before, "rows_summed": summed, "batches": batches,
                                 "seconds": round(seconds, 2), "table_bytes": size}
    finally:
        embedded.stop(args.data_dir)
    result["load_average_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
