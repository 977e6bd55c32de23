"""`cinelibre evaluate` through the real console entry point: a throwaway embedded PostgreSQL of its own,
never the configured database; malformed files refused with the line and the problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from cinelibre.recommend.offline import write_ratings
from tests.recommend.test_offline_served import taste_groups

CLI = Path(sys.executable).with_name("cinelibre")


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


@pytest.fixture
def configured(pg_url: str) -> tuple[dict[str, str], str]:
    """An environment whose configured database is an empty sentinel: evaluate must leave it empty."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("drop database if exists evaluate_sentinel with (force)")
        conn.execute("create database evaluate_sentinel")
    url = pg_url.replace("/cinelibre?", "/evaluate_sentinel?", 1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE_", "CINELIBRE_"))}
    env["DATABASE_URL"] = url
    env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    return env, url


def test_split_then_evaluate_in_a_throwaway_database(configured, tmp_path):
    env, sentinel = configured
    catalog, ratings, _ = taste_groups()
    write_ratings(tmp_path / "ratings.csv", ratings)
    (tmp_path / "items.csv").write_text(
        "item_id,title,year,genres\n"
        + "".join(f"{e.item_id},{e.title},{e.year},{'|'.join(e.genres)}\n" for e in catalog)
    )

    done = _run("evaluate", "--split-from", "ratings.csv", "--seed", "1", "--items", "items.csv", "--k", "5",
                "--recs-out", "recs.jsonl", "--embedding-cache", "cache/vectors.npz", env=env, cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    # The catalog was embedded by the model layer (30 distinct texts), and the vectors kept for the next run.
    assert "Catalog embedded: 30 items (30 texts embedded now, 0 from the cache)." in done.stdout
    assert (tmp_path / "cache" / "vectors.npz").is_file()
    assert (tmp_path / "ratings.seed1.train.csv").is_file() and (tmp_path / "ratings.seed1.test.csv").is_file()
    header = next(line for line in done.stdout.splitlines() if "NDCG@5" in line)
    assert header.split() == ["P@5", "R@5", "NDCG@5", "MRR", "success@5", "coverage", "RMSE"]
    served = next(line for line in done.stdout.splitlines() if line.startswith("served (personalized)"))
    popular = next(line for line in done.stdout.splitlines() if line.startswith("most-rated"))
    served_ndcg, popular_ndcg = float(served.split()[4]), float(popular.split()[3])
    assert served_ndcg > popular_ndcg
    assert "RMSE covers all" in done.stdout
    lists = [json.loads(line) for line in (tmp_path / "recs.jsonl").read_text().splitlines()]
    assert len(lists) == 24 and all(len(entry["items"]) == 5 for entry in lists)
    assert all(isinstance(entry["user_id"], int) for entry in lists)
    # The progress bars (tqdm, on stderr) named the steps.
    assert "ranking" in done.stderr and "embedding" in done.stderr
    with psycopg.connect(sentinel) as conn:
        tables = conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()[0]
    assert tables == 0


def test_a_malformed_file_is_refused_with_its_line_before_any_database_starts(configured, tmp_path):
    env, _ = configured
    (tmp_path / "train.csv").write_text("user_id,item_id,rating\n1,2,4\n1,3,five\n")
    (tmp_path / "test.csv").write_text("user_id,item_id,rating\n1,4,4\n")
    done = _run("evaluate", "--train", "train.csv", "--test", "test.csv", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "train.csv:3: rating 'five' is not a number" in done.stderr
    assert "Traceback" not in done.stderr


def test_train_and_test_are_required_without_split_from(configured, tmp_path):
    env, _ = configured
    done = _run("evaluate", "--train", "train.csv", env=env, cwd=tmp_path)
    assert done.returncode == 1 and "give --train and --test" in done.stderr


def test_no_embeddings_says_the_content_parts_had_nothing_and_a_cache_needs_items(configured, tmp_path):
    env, sentinel = configured
    catalog, ratings, _ = taste_groups()
    write_ratings(tmp_path / "ratings.csv", ratings)
    (tmp_path / "items.csv").write_text(
        "item_id,title,year\n" + "".join(f"{e.item_id},{e.title},{e.year}\n" for e in catalog)
    )
    done = _run("evaluate", "--split-from", "ratings.csv", "--items", "items.csv", "--no-embeddings",
                env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Catalog not embedded: the content-based parts" in done.stdout
    assert "embedding" not in done.stderr

    refused = _run("evaluate", "--train", "ratings.seed0.train.csv", "--test", "ratings.seed0.test.csv",
                   "--embedding-cache", "vectors.npz", env=env, cwd=tmp_path)
    assert refused.returncode == 1
    assert "--embedding-cache needs --items" in refused.stderr and "Traceback" not in refused.stderr
    with psycopg.connect(sentinel) as conn:
        assert conn.execute("select count(*) from pg_tables where schemaname = 'public'").fetchone()[0] == 0


def test_a_corrupt_embedding_cache_is_refused_by_name_before_any_database_starts(configured, tmp_path):
    env, _ = configured
    catalog, ratings, _ = taste_groups()
    write_ratings(tmp_path / "ratings.csv", ratings)
    (tmp_path / "items.csv").write_text("item_id,title\n" + "".join(f"{e.item_id},{e.title}\n" for e in catalog))
    (tmp_path / "vectors.npz").write_text("not vectors")
    done = _run("evaluate", "--split-from", "ratings.csv", "--items", "items.csv", "--embedding-cache",
                "vectors.npz", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert "vectors.npz is not an embedding cache written by cinelibre evaluate" in done.stderr
    assert "Traceback" not in done.stderr
