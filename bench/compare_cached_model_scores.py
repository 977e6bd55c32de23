"""Check the heavy users' score cache (issue 9, session 5) on a database that bench_recommend_serving.py loaded and
trained (`--data-dir`): every user's list served from their cached vector must be the list summed live.

    /work/wt/bg .venv/bin/python bench/compare_cached_model_scores.py --data-dir /tmp/rec-bench --migrate --writes 300

Steps, in one transaction that is rolled back at the end (the database is left as found):
1. refresh_user_model_scores sums the rows of every heavy user for the active version (timed);
2. with `--writes N`: N random rating writes to heavy users (single-row inserts, updates and deletes, and
   multi-row statements), through the trigger that keeps the rows current;
3. for every user: the cached vector against a fresh sum (largest difference), and for each result size and
   item type the served list against the same call with the user's row deleted (a savepoint, rolled back):
   items, order, titles, reasons and version equal; score and predicted rating within 1e-9;
4. with `--previous VERSION`: every list against that migration's definition too (20261225000200 read only the
   2,000 most recent ratings: lists may differ for users past that, and only for them).
Exits 1 on any difference between cached and live.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

FLOAT_COLUMNS = ("score", "predicted_rating")
RATINGS = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]


def same_list(one: list[dict], other: list[dict]) -> bool:
    if len(one) != len(other):
        return False
    for a, b in zip(one, other, strict=True):
        for column, value in a.items():
            if column in FLOAT_COLUMNS and value is not None and b[column] is not None:
                if not math.isclose(value, b[column], rel_tol=0, abs_tol=1e-9):
                    return False
            elif value != b[column]:
                return False
    return True


def random_writes(conn, heavy: list[str], items: list[int], count: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    kinds: dict[str, int] = {}
    for _ in range(count):
        user = rng.choice(heavy)
        mine = [row["item_id"] for row in conn.execute(
            "select item_id from public.ratings where user_id = %s order by item_id", (user,))]
        kind = rng.choice(["insert", "update", "delete", "insert many", "update many", "delete many"])
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind in ("insert", "insert many"):
            taken = set(mine)
            new = [item for item in rng.sample(items, 40) if item not in taken][: 1 if kind == "insert" else 8]
            conn.execute(
                "insert into public.ratings (user_id, item_id, rating) select %s, r.item_id, r.rating "
                "from unnest(%s::bigint[], %s::numeric[]) as r (item_id, rating)",
                (user, new, [rng.choice(RATINGS) for _ in new]))
        elif kind in ("update", "update many"):
            chosen = rng.sample(mine, 1 if kind == "update" else 10)
            conn.execute(
                "update public.ratings r set rating = c.rating, updated_at = now() "
                "from unnest(%s::bigint[], %s::numeric[]) as c (item_id, rating) "
                "where r.user_id = %s and r.item_id = c.item_id",
                (chosen, [rng.choice(RATINGS) for _ in chosen], user))
        else:
            conn.execute("delete from public.ratings where user_id = %s and item_id = any(%s)",
                         (user, rng.sample(mine, 1 if kind == "delete" else 6)))
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database", default="movielens")
    parser.add_argument("--limits", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--item-types", nargs="+", default=["all", "movie"])
    parser.add_argument("--writes", type=int, default=0, help="random rating writes to heavy users first")
    parser.add_argument("--previous", help="also compare with this migration's definition (e.g. 20261225000200)")
    parser.add_argument("--sample", type=int, help="only this many users, drawn with a fixed seed (large data sets)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--migrate", action="store_true", help="apply the repository's migrations first")
    args = parser.parse_args()

    import psycopg
    from psycopg.conninfo import make_conninfo
    from psycopg.rows import dict_row

    from cinelibre.db import embedded, migrate

    server = embedded.start(args.data_dir)
    try:
        url = make_conninfo(server, dbname=args.database)
        if args.migrate:
            migrate.apply_migrations(url)
        with psycopg.connect(url, row_factory=dict_row) as conn:  # one transaction, rolled back below
            if args.previous:
                conn.execute(migrate.earlier_function(args.previous, "get_model_recommendations",
                                                      "previous_model_recommendations"))
            threshold = conn.execute("select public.model_score_cache_min_ratings() as t").fetchone()["t"]
            started = time.perf_counter()
            after, refreshed, batches = None, 0, 0
            while True:
                batch = conn.execute("select * from public.refresh_user_model_scores(%s, 50)", (after,)).fetchone()
                refreshed += batch["refreshed"]
                batches += 1
                after = batch["next_user_id"]
                if after is None:
                    break
            refresh_seconds = time.perf_counter() - started
            counts = {row["user_id"]: row["n"] for row in conn.execute(
                "select user_id::text, count(*) as n from public.ratings group by user_id")}
            heavy = sorted(user for user, n in counts.items() if n >= threshold)
            items = [row["item_id"] for row in conn.execute("select item_id from public.item_neighbour_lists l "
                                                            "join public.recommender_active a using (model_version)")]
            kinds = random_writes(conn, heavy, items, args.writes, args.seed) if args.writes else {}
            rows = {row["user_id"]: row for row in conn.execute(
                "select s.user_id::text, s.item_ids, s.scores, cardinality(s.item_ids) as entries, "
                "pg_column_size(s.item_ids) + pg_column_size(s.scores) as bytes "
                "from public.user_model_scores s join public.recommender_active a using (model_version)")}
            users = sorted(counts)
            if args.sample:
                users = sorted(set(random.Random(args.seed).sample(users, min(args.sample, len(users)))) | set(heavy))
            lists = differing = differing_previous = 0
            vector_gap = 0.0
            vector_mismatch = []
            previous_users: set[str] = set()
            examples = []
            for user in users:
                if user in rows:
                    with conn.transaction(force_rollback=True):
                        conn.execute("select public.sum_user_model_scores(%s, m) from public.recommender_active a "
                                     "join public.recommender_models m on m.version = a.model_version", (user,))
                        fresh = conn.execute("select item_ids, scores from public.user_model_scores "
                                             "where user_id = %s", (user,)).fetchone()
                    cached = dict(zip(rows[user]["item_ids"], rows[user]["scores"], strict=True))
                    summed = dict(zip(fresh["item_ids"], fresh["scores"], strict=True))
                    # An item missing on one side counts as 0 (the cache drops residues of cancelled contributions).
                    gap = max((abs(cached.get(k, 0.0) - summed.get(k, 0.0)) for k in cached.keys() | summed.keys()),
                              default=0.0)
                    vector_gap = max(vector_gap, gap)
                    if gap > 1e-9:
                        vector_mismatch.append(user)
                for limit in args.limits:
                    for item_type in args.item_types:
                        query = "select * from {}(%s::uuid, %s, %s)"
                        served = conn.execute(query.format("public.get_model_recommendations"),
                                              (user, item_type, limit)).fetchall()
                        with conn.transaction(force_rollback=True):
                            conn.execute("delete from public.user_model_scores where user_id = %s", (user,))
                            live = conn.execute(query.format("public.get_model_recommendations"),
                                                (user, item_type, limit)).fetchall()
                        lists += 1
                        if not same_list(served, live):
                            differing += 1
                            if len(examples) < 3:
                                examples.append({"user": user, "ratings": counts[user], "item_type": item_type,
                                                 "limit": limit, "cached": served[:3], "live": live[:3]})
                        if args.previous:
                            previous = conn.execute(query.format("pg_temp.previous_model_recommendations"),
                                                    (user, item_type, limit)).fetchall()
                            if not same_list(served, previous):
                                differing_previous += 1
                                previous_users.add(user)
            conn.rollback()
    finally:
        embedded.stop(args.data_dir)
    sizes = sorted(row["bytes"] for row in rows.values())
    result = {
        "threshold": threshold, "users": len(counts), "heavy_users": len(heavy),
        "users_past_2000_ratings": sum(1 for n in counts.values() if n > 2000),
        "refresh": {"rows_summed": refreshed, "batches": batches, "seconds": round(refresh_seconds, 2)},
        "cached_rows": len(rows), "entries_per_row_max": max((r["entries"] for r in rows.values()), default=0),
        "bytes_per_row_median": sizes[len(sizes) // 2] if sizes else 0, "bytes_total": sum(sizes),
        "writes": kinds, "users_compared": len(users), "lists": lists, "differing_lists": differing,
        "largest_vector_difference": vector_gap, "vectors_differing": vector_mismatch[:5],
        "examples": examples,
    }
    if args.previous:
        result["previous"] = {"migration": args.previous, "differing_lists": differing_previous,
                              "users_differing": {u: counts[u] for u in sorted(previous_users)}}
    print(json.dumps(result, indent=1, default=str))
    sys.exit(1 if differing or vector_mismatch else 0)


if __name__ == "__main__":
    main()
