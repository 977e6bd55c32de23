"""Check that `get_model_recommendations` answers exactly as an earlier definition of it did, for every user, on a
database that bench_recommend_serving.py loaded and trained (`--data-dir`).

    /work/wt/bg .venv/bin/python bench/compare_model_recommendations.py --data-dir /tmp/rec-bench --migrate

The earlier definition is read from its migration file (default 20261221000200, the one session 4 replaced) and
created as a temporary function for this connection only, so the database is left as found. Both are asked
for every user with ratings, for each result size and item type given. Items, order, titles, reasons, model
version must be equal; score and predicted rating equal within a relative 1e-9 (summing in another order may
change the last bits). Prints the count of differing lists and the largest float difference; exits 1 on any
difference.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

FLOAT_COLUMNS = ("score", "predicted_rating")


def differences(before: list[dict], after: list[dict]) -> tuple[bool, float]:
    """(equal, largest absolute difference of a float column)."""
    if len(before) != len(after):
        return False, 0.0
    largest = 0.0
    for old, new in zip(before, after, strict=True):
        for column, value in old.items():
            other = new[column]
            if column in FLOAT_COLUMNS and value is not None and other is not None:
                if not math.isclose(value, other, rel_tol=1e-9, abs_tol=1e-12):
                    return False, largest
                largest = max(largest, abs(value - other))
            elif value != other:
                return False, largest
    return True, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database", default="movielens")
    parser.add_argument("--previous", default="20261221000200", help="migration holding the earlier definition")
    parser.add_argument("--limits", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--item-types", nargs="+", default=["all", "movie", "book"])
    parser.add_argument("--sample", type=int, help="only this many users, drawn with a fixed seed (large data sets)")
    parser.add_argument("--migrate", action="store_true", help="apply the repository's migrations first")
    args = parser.parse_args()

    import psycopg
    from psycopg.conninfo import make_conninfo
    from psycopg.rows import dict_row

    from cinelibre.db import embedded, migrate

    server = embedded.start(args.data_dir)
    url = make_conninfo(server, dbname=args.database)
    if args.migrate:
        migrate.apply_migrations(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute(migrate.earlier_function(args.previous, "get_model_recommendations",
                                              "previous_model_recommendations"))
        users = [row["user_id"] for row in conn.execute(
            "select distinct user_id::text from public.ratings order by 1").fetchall()]
        if args.sample:
            users = sorted(random.Random(0).sample(users, min(args.sample, len(users))))
        lists = differing = rows = 0
        largest = 0.0
        examples = []
        for limit in args.limits:
            for item_type in args.item_types:
                for user in users:
                    before, after = (
                        conn.execute(f"select * from {function}(%s::uuid, %s, %s)", (user, item_type, limit)).fetchall()
                        for function in ("pg_temp.previous_model_recommendations", "public.get_model_recommendations")
                    )
                    equal, gap = differences(before, after)
                    lists += 1
                    rows += len(before)
                    largest = max(largest, gap)
                    if not equal:
                        differing += 1
                        if len(examples) < 3:
                            examples.append({"user": user, "item_type": item_type, "limit": limit,
                                             "before": before[:3], "after": after[:3]})
    print(json.dumps({"users": len(users), "lists": lists, "rows": rows, "differing_lists": differing,
                      "largest_float_difference": largest, "examples": examples}, indent=1, default=str))
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
