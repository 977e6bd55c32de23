"""Recommendation quality on MovieLens ml-latest-small: the served list against the standard baselines.

    nice -n 10 .venv/bin/python bench/bench_recommend_quality.py                 # every method, seeds 0-4
    nice -n 10 .venv/bin/python bench/bench_recommend_quality.py --seeds 0 --skip-svdpp   # a quicker look
    .venv/bin/python bench/bench_recommend_quality.py --ratings PATH/ratings.csv --json-out results.json

The data set is read where it lies (`--ratings`, else /work/shared/datasets/ml-latest-small/ratings.csv);
it is never copied into the repository. Its licence (GroupLens, research use; see its README.txt) allows this
use; cite Harper & Konstan (2015) when publishing figures.

Protocol (the issue's): for each seed, a per-user random 80/20 split (`evaluation.train_test_split`), the same
split for every method; every method leaves out what the user rated in training; held-out ratings >= 4 are
relevant; metrics at 10 (success at 5) averaged over the users with a relevant held-out item, then over
seeds. Rating accuracy is RMSE over every held-out pair.

Methods:
- served: `cinelibre evaluate`'s code path: the training ratings in a throwaway embedded PostgreSQL, the
  model trained and published by `training.train_and_publish`, each list from `service.personalized` (the
  SQL function behind /recommendations/personalized); its predicted ratings from the same service.
- most-rated, most-rated-recently (ratings in the last 365 days of the training data, then all-time count).
- dense EASE in numpy (Steck, 2019) on the binary user x item matrix, lambda tuned on a validation split
  carved out of the training part (never the test part): by default the first seed's, reused for the other
  seeds (`--tune-every-seed` tunes each; `--ease-lambda` takes a value tuned in an earlier run).
- implicit's ALS with default parameters, implicit's cosine item-kNN with default parameters.
- RMSE: the served predicted_rating, each user's own training mean, Surprise SVD and SVD++ (defaults;
  `--svdpp-seeds` limits the slow SVD++ to some seeds, `--skip-svdpp` skips it).
Surprise and implicit come from the `bench` extra (`pip install -e '.[bench]'`); nothing at run time uses them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from cinelibre.recommend import offline
from cinelibre.recommend.evaluation import (
    MeanFallback,
    RatingRecord,
    ranking_metrics,
    rating_accuracy,
    train_test_split,
)

DEFAULT_RATINGS = Path("/work/shared/datasets/ml-latest-small/ratings.csv")
RELEVANT = 4.0
RECENT_WINDOW_S = 365 * 86_400
EASE_LAMBDAS = (1.0, 10.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3000.0, 5000.0)


class Indexed:
    """The training ratings as a sparse binary matrix, with index <-> id maps."""

    def __init__(self, train: list[RatingRecord]) -> None:
        self.users = list(dict.fromkeys(record.user_id for record in train))
        self.items = list(dict.fromkeys(record.item_id for record in train))
        self.user_index = {user: i for i, user in enumerate(self.users)}
        self.item_index = {item: i for i, item in enumerate(self.items)}
        rows = np.fromiter((self.user_index[r.user_id] for r in train), np.int32, len(train))
        cols = np.fromiter((self.item_index[r.item_id] for r in train), np.int32, len(train))
        self.matrix = sp.csr_matrix(
            (np.ones(len(train), np.float32), (rows, cols)), shape=(len(self.users), len(self.items))
        )

    def top_k(self, scores: np.ndarray, users: list[Any], k: int) -> dict[Any, list[Any]]:
        """Each user's k best unrated items from a users x items score matrix (rows in `self.users` order)."""
        lists = {}
        for user in users:
            row = self.user_index.get(user)
            if row is None:
                lists[user] = []
                continue
            user_scores = scores[row].astype(np.float64, copy=True)
            user_scores[self.matrix.indices[self.matrix.indptr[row] : self.matrix.indptr[row + 1]]] = -np.inf
            best = np.argpartition(-user_scores, k)[:k]
            best = best[np.lexsort((best, -user_scores[best]))]
            lists[user] = [self.items[i] for i in best if np.isfinite(user_scores[i])]
        return lists


# MovieLens writes "American President, The (1995)"; the catalog (and the embedding text) has "The American
# President" and the year apart, as TMDB gives them.
_MOVIELENS_TITLE = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:[-–]\d{0,4})?\)\s*$")
_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An|Les|La|Le|L'|Il|Das|Der|Die|El|Los|Las)$")


def movielens_items(movies_csv: Path, out_csv: Path) -> Path:
    """movies.csv (movieId,title,genres) as an items file for `cinelibre evaluate` (item_id,title,year,genres),
    written outside the repository (the data set is never copied into it)."""
    import csv

    with movies_csv.open(encoding="utf-8", newline="") as source, out_csv.open("w", encoding="utf-8",
                                                                                newline="") as target:
        writer = csv.writer(target, lineterminator="\n")
        writer.writerow(("item_id", "title", "year", "genres"))
        for row in csv.DictReader(source):
            title, year = row["title"].strip(), ""
            match = _MOVIELENS_TITLE.match(title)
            if match:
                title, year = match["title"], match["year"]
            article = _TRAILING_ARTICLE.match(title)
            if article:
                title = f"{article['article']} {article['rest']}".replace("L' ", "L'")
            writer.writerow((row["movieId"], title or row["title"], year, row["genres"]))
    return out_csv


def ease_scores(indexed: Indexed, l2: float) -> np.ndarray:
    """X·B for EASE's B = I - P·diag(1/diag(P)), P = (XᵀX + λI)⁻¹ (Steck, 2019), in float32."""
    from scipy.linalg import lapack

    gram = (indexed.matrix.T @ indexed.matrix).toarray()
    gram[np.diag_indices_from(gram)] += np.float32(l2)
    # The Gram matrix is symmetric positive definite: Cholesky then its inverse costs about half of a
    # general inversion, which matters at 9,000 items on two shared cores.
    factor, info = lapack.spotrf(gram, lower=1, overwrite_a=1)
    if info != 0:
        raise RuntimeError(f"Cholesky failed ({info})")
    precision, info = lapack.spotri(factor, lower=1, overwrite_c=1)
    if info != 0:
        raise RuntimeError(f"inversion failed ({info})")
    precision = np.tril(precision) + np.tril(precision, -1).T
    weights = precision / (-np.diag(precision))
    np.fill_diagonal(weights, 0.0)
    return np.asarray(indexed.matrix @ weights, dtype=np.float32)


def served_model_dense_scores(train: list[RatingRecord], indexed: Indexed) -> np.ndarray:
    """X·B of the dense, unpruned model the training job fits with its defaults (its x_ui rule, λ and
    dropout): what the served list would score if every weight were kept and no SQL were involved."""
    from cinelibre.recommend.ease import fit_ease, weight_users
    from cinelibre.recommend.training import TrainingParams

    params = TrainingParams()
    rows = np.fromiter((indexed.user_index[r.user_id] for r in train), np.int32, len(train))
    cols = np.fromiter((indexed.item_index[r.item_id] for r in train), np.int32, len(train))
    values = np.fromiter((r.rating for r in train), np.float32, len(train))
    signal = sp.csr_matrix((params.signal(values), (rows, cols)), shape=indexed.matrix.shape)
    signal.eliminate_zeros()
    weights = fit_ease(weight_users(signal, params.user_weight_exponent), params.l2, params.dropout)
    return np.asarray(signal @ weights, dtype=np.float32)


def tune_ease(train: list[RatingRecord], seed: int, k: int, grid=EASE_LAMBDAS) -> tuple[float, dict[float, float]]:
    """lambda with the best NDCG@k on a validation split carved out of the training part."""
    fit, validation = train_test_split(train, test_fraction=0.2, seed=10_000 + seed)
    indexed = Indexed(fit)
    users = list(dict.fromkeys(record.user_id for record in validation))
    by_lambda = {}
    for l2 in grid:
        lists = indexed.top_k(ease_scores(indexed, l2), users, k)
        by_lambda[l2] = ranking_metrics(lists, validation, k=k).ndcg
    return max(by_lambda, key=by_lambda.get), by_lambda


def popularity_lists(train: list[RatingRecord], users: list[Any], k: int, *, recent: bool) -> dict[Any, list]:
    counts = Counter(record.item_id for record in train)
    if recent:
        latest = max(record.timestamp or 0 for record in train)
        recent_counts = Counter(
            record.item_id for record in train if (record.timestamp or 0) >= latest - RECENT_WINDOW_S
        )
        order = sorted(counts, key=lambda item: (-recent_counts[item], -counts[item], item))
    else:
        order = sorted(counts, key=lambda item: (-counts[item], item))
    seen = defaultdict(set)
    for record in train:
        seen[record.user_id].add(record.item_id)
    lists = {}
    for user in users:
        lists[user] = [item for item in order if item not in seen[user]][:k]
    return lists


def implicit_lists(model: Any, indexed: Indexed, users: list[Any], k: int) -> dict[Any, list]:
    known = [user for user in users if user in indexed.user_index]
    rows = np.array([indexed.user_index[user] for user in known], dtype=np.int32)
    model.fit(indexed.matrix, show_progress=False)
    ids, _ = model.recommend(rows, indexed.matrix[rows], N=k, filter_already_liked_items=True)
    lists = {user: [indexed.items[i] for i in row if i >= 0] for user, row in zip(known, ids, strict=True)}
    lists.update({user: [] for user in users if user not in lists})
    return lists


def surprise_rmse(algorithm: Any, train: list[RatingRecord], test: list[RatingRecord], fallback) -> Any:
    from surprise import Dataset, Reader

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "train.csv"
        offline.write_ratings(path, [RatingRecord(r.user_id, r.item_id, r.rating) for r in train])
        reader = Reader(line_format="user item rating", sep=",", skip_lines=1, rating_scale=(0.5, 5.0))
        trainset = Dataset.load_from_file(str(path), reader=reader).build_full_trainset()
    algorithm.fit(trainset)

    def predict(user, item):
        prediction = algorithm.predict(user, item)
        # Surprise answers an impossible pair with the global mean; count it as an abstention.
        return None if prediction.details.get("was_impossible") else prediction.est

    return rating_accuracy(predict, test, fallback=fallback)


def served(train, test, k: int, server_url: str, seed: int, rp3beta_share: float | None = None, *,
           items=(), embedder=None, embedding_cache=None):
    database_url = offline.fresh_database(server_url, f"quality_seed_{seed}")
    started = time.perf_counter()
    last_step = [None]

    def progress(step: str, done: int, total: int) -> None:
        if step != last_step[0] or (step == "ranking" and done % 100 == 0) or done == total:
            last_step[0] = step
            print(f"    seed {seed} {step} {done}/{total} at {time.perf_counter() - started:.0f} s", flush=True)

    from cinelibre.recommend.training import TrainingParams

    params = TrainingParams(validate=False, **({} if rp3beta_share is None else {"rp3beta_share": rp3beta_share}))
    result = offline.evaluate_served(database_url, train, test, k=k, progress=progress, training_params=params,
                                     items=items, embedder=embedder, embedding_cache=embedding_cache)
    return result, time.perf_counter() - started, database_url


# -- the new-release slot (issue 9, session 5) ----------------------------------------------------------------


def trained_only(train, test, server_url: str, seed: int, *, items=(), embedder=None, embedding_cache=None):
    """`evaluate_served` without its ranking pass (and without predicting every held-out pair): the database
    loaded and the model trained and published the same way, for `slot_variant_lists` to rank every user in."""
    from types import SimpleNamespace

    from cinelibre.db.postgres import PostgresDatabase
    from cinelibre.recommend.training import TrainingParams, train_and_publish

    database_url = offline.fresh_database(server_url, f"quality_seed_{seed}")
    started = time.perf_counter()
    embedded = offline.embed_items(items, embedder, cache=embedding_cache) if items and embedder else None
    loaded = offline.load(database_url, items, train, test, embedded=embedded)
    print(f"    seed {seed} loaded at {time.perf_counter() - started:.0f} s", flush=True)
    database = PostgresDatabase(database_url, max_connections=2, statement_timeout_s=3600.0)
    try:
        training = train_and_publish(database, params=TrainingParams(validate=False))
    finally:
        database.close()
    print(f"    seed {seed} trained at {time.perf_counter() - started:.0f} s", flush=True)
    users = list(dict.fromkeys(record.user_id for record in test))
    lists = [offline.UserList(user, "", [], None) for user in users]  # type: ignore[arg-type]
    result = SimpleNamespace(loaded=loaded, lists=lists, embedding=embedded, training=training, methods={})
    return result, time.perf_counter() - started, database_url


def new_items_split(records: list[RatingRecord], train: list[RatingRecord], test: list[RatingRecord],
                    share: float) -> tuple[list[RatingRecord], list[RatingRecord], set[Any]]:
    """The new-items protocol: the `share` of items whose FIRST rating (in `records`) is latest are new
    releases: every rating of theirs leaves the training part for the test part, so the model cannot know
    them and only their content can bring them to a user."""
    first: dict[Any, float] = {}
    for record in records:
        moment = record.timestamp or 0.0
        if moment < first.get(record.item_id, float("inf")):
            first[record.item_id] = moment
    order = sorted(first, key=lambda item: (-first[item], str(item)))
    new = set(order[: round(share * len(order))])
    kept = [record for record in train if record.item_id not in new]
    moved = [record for record in train if record.item_id in new]
    return kept, test + moved, new


@dataclass(frozen=True)
class SlotVariant:
    """How the model user's list makes room for titles the model does not know: `slots` places (at most a
    third of the list, as the hybrid caps it) for candidates at least `similarity` close, put at `at`
    (0-based; None: the last places, as served)."""

    slots: int
    similarity: float = 0.5
    at: int | None = None

    @property
    def name(self) -> str:
        if self.slots == 0:
            return "slot off"
        where = "last" if self.at is None else f"at {self.at + 1}"
        return f"slot {self.slots} >= {self.similarity:g} {where}"

    @classmethod
    def parse(cls, text: str) -> SlotVariant:
        """"off", or "S:T" / "S:T:P" (slots, similarity, 1-based position)."""
        if text == "off":
            return cls(0)
        parts = text.split(":")
        return cls(int(parts[0]), float(parts[1]), int(parts[2]) - 1 if len(parts) > 2 else None)


def deployed_slot() -> SlotVariant:
    """The slot as `service.personalized` serves it (the hybrid's defaults)."""
    from cinelibre.recommend.hybrid import NEW_ITEM_SIMILARITY, NEW_ITEM_SLOTS

    return SlotVariant(NEW_ITEM_SLOTS, NEW_ITEM_SIMILARITY)


def compose(base: list, candidates: list, k: int, variant: SlotVariant) -> list:
    """`Hybrid._with_new_items` for another slot setting: the model's list cut to make room, the candidates
    at least `similarity` close put in, one entry per item and title."""
    from cinelibre.recommend.hybrid import _unique

    new = [item for item in candidates if item.score >= variant.similarity][: min(variant.slots, k // 3)]
    if not new:
        return base
    keep = base[: k - len(new)]
    at = len(keep) if variant.at is None else min(variant.at, len(keep))
    return _unique(keep[:at] + new + keep[at:])[:k]


def slot_variant_lists(database_url: str, result, k: int, variants: list[SlotVariant]) -> tuple[dict, int]:
    """Each test user's list under each slot setting, from the same trained model and database: the hybrid
    with the slot off (`Hybrid(new_item_slots=0)`, the served code), and the user's nearest unknown titles
    (`ContentBased.new_items`, the served SQL) put in as `compose` says. Also how many users' composed
    deployed setting differs from the list actually served (0 when `compose` mirrors the hybrid)."""
    deployed_variant = deployed_slot()
    from cinelibre.db.postgres import PostgresDatabase
    from cinelibre.recommend.base import MODEL_METHODS
    from cinelibre.recommend.hybrid import Hybrid

    file_item = result.loaded.item_file_id
    lists: dict[SlotVariant, dict] = {variant: {} for variant in variants}
    mismatched = 0
    database = PostgresDatabase(database_url, max_connections=2, statement_timeout_s=600.0)
    try:
        hybrid = Hybrid(new_item_slots=0).fit(database)
        wanted = max(max((v.slots for v in variants), default=1), 1)
        for entry in result.lists:
            db_user = result.loaded.user_db_id[entry.user_id]
            base = hybrid.explain(db_user, k)
            candidates = (
                hybrid.content.new_items(db_user, wanted, min_similarity=-1.0)
                if base.method in MODEL_METHODS else []
            )
            for variant in variants:
                lists[variant][entry.user_id] = [
                    file_item[item.item_id] for item in compose(base.recommendations, candidates, k, variant)
                ]
            deployed = [file_item[item.item_id] for item in compose(base.recommendations, candidates, k,
                                                                     deployed_variant)]
            mismatched += entry.file_item_ids is not None and deployed != entry.file_item_ids
    finally:
        database.close()
    return lists, mismatched


def new_item_figures(lists: dict, test: list[RatingRecord], unknown: set) -> dict[str, float]:
    """How often titles the model does not know (no training rating) reach a list, and are hit: rated >= 4
    (or rated at all) by that user in the test part."""
    relevant = {(r.user_id, r.item_id) for r in test if r.item_id in unknown and r.rating >= RELEVANT}
    rated = {(r.user_id, r.item_id) for r in test if r.item_id in unknown}
    shown = [(user, item) for user, items in lists.items() for item in items if item in unknown]
    hits = [pair for pair in shown if pair in relevant]
    return {
        "lists with an unknown title": sum(any(item in unknown for item in items) for items in lists.values()),
        "unknown titles shown": len(shown),
        "hits (rated >= 4)": len(hits),
        "hits (rated at all)": sum(pair in rated for pair in shown),
        "held-out pairs rated >= 4": len(relevant),
        "new-item recall": len(hits) / len(relevant) if relevant else 0.0,
        "users with a relevant unknown title": len({user for user, _ in relevant}),
        "of them reached": len({user for user, _ in hits}),
        "slot precision": len(hits) / len(shown) if shown else 0.0,
    }


def drop_database(server_url: str, database_url: str) -> None:
    """A seed's database holds ~1.5M neighbour rows: gone once measured, so five seeds fit on the disk."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


def summarise(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.fmean(values):.4f} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ratings", type=Path, default=None, help=f"ratings.csv (default {DEFAULT_RATINGS})")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--skip-served", action="store_true", help="only the baselines")
    parser.add_argument("--skip-baselines", action="store_true",
                        help="only the served list, most-rated and the user's mean (the others in another run)")
    parser.add_argument("--rmse-only", action="store_true",
                        help="only rating accuracy: the user's mean, Surprise SVD and SVD++ (and served with it)")
    parser.add_argument("--skip-svdpp", action="store_true", help="SVD++ takes minutes per seed")
    parser.add_argument(
        "--tune-every-seed", action="store_true",
        help="tune EASE's lambda on each seed's validation split (default: on the first seed's, reused: each "
        "inversion of 9,000 items takes a minute on two shared cores)",
    )
    parser.add_argument("--ease-lambda", type=float, help="this lambda, untuned (say where it came from)")
    parser.add_argument("--served-dense", action="store_true",
                        help="also the training job's model (its x_ui, λ, dropout) dense and unpruned, in numpy")
    parser.add_argument("--skip-implicit", action="store_true", help="no implicit ALS / item-kNN")
    parser.add_argument("--rp3beta-share", type=float,
                        help="train the served model with this RP3beta share (TrainingParams.rp3beta_share)")
    parser.add_argument("--svdpp-seeds", type=int, nargs="+", help="run SVD++ only on these seeds")
    parser.add_argument("--json-out", type=Path, help="also write every figure here as JSON")
    # -- the new-release slot (issue 9, session 5)
    parser.add_argument("--movies", type=Path, default=None,
                        help="MovieLens movies.csv (default: beside --ratings); made into an items file in "
                        "--items-dir so the served catalog has titles, years and genres")
    parser.add_argument("--items-dir", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the items file made from movies.csv goes (never the repository)")
    parser.add_argument("--embeddings", action="store_true",
                        help="embed the catalog with the model layer, as `cinelibre evaluate --items` does: "
                        "the list as deployed, new-release slot included")
    parser.add_argument("--embedding-cache", type=Path,
                        help="reuse item vectors from this file and add new ones (cinelibre evaluate's cache)")
    parser.add_argument("--new-items-share", type=float, default=0.0,
                        help="the new-items protocol: this share of items, the most recently first rated, lose "
                        "every training rating (moved to the test part)")
    parser.add_argument("--validation", action="store_true",
                        help="measure on a validation split carved out of each seed's training part (seed "
                        "10000 + seed), never the test part: for choosing slot settings")
    parser.add_argument("--variants-only", action="store_true",
                        help="with --slot-variants: no separate served ranking pass (nor RMSE); the slot-off "
                        "variant is the served code with the slot off, the others are composed from it")
    parser.add_argument("--slot-variants", nargs="*", default=None, metavar="VARIANT",
                        help="also each test user's list with the slot set otherwise, from the same model: "
                        "'off', or SLOTS:SIMILARITY[:POSITION] (e.g. 1:0.7, 2:0.6:5)")
    args = parser.parse_args()
    path = args.ratings or DEFAULT_RATINGS
    if not path.is_file():
        sys.exit(f"no ratings file at {path}: pass --ratings PATH/ml-latest-small/ratings.csv")

    from cinelibre.observability import logger

    logger.setLevel("WARNING")
    import implicit
    from surprise import SVD, SVDpp

    k = args.k
    records = offline.read_ratings(path)
    items: list = []
    embedder = embedding_cache = None
    if args.embeddings or args.movies:
        movies = args.movies or path.with_name("movies.csv")
        items = offline.read_items(movielens_items(movies, args.items_dir / "movielens-items.csv"))
        print(f"{movies}: {len(items)} items, written as {args.items_dir / 'movielens-items.csv'}", flush=True)
    if args.embeddings:
        from cinelibre.embedding import Embedder
        from cinelibre.settings import get_settings

        embedder = Embedder(get_settings().model_path, threads=os.cpu_count() or 1, batch_size=32)
        embedding_cache = offline.EmbeddingCache(args.embedding_cache) if args.embedding_cache else None
    variants = [SlotVariant.parse(text) for text in args.slot_variants or ()]
    print(f"{path}: {len(records)} ratings; machine: {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}; implicit {implicit.__version__}", flush=True)
    ranking: dict[str, list] = defaultdict(list)
    rmse: dict[str, list] = defaultdict(list)
    extra: dict[str, list] = defaultdict(list)
    new_items: dict[str, list] = defaultdict(list)
    server = offline.throwaway_server() if not args.skip_served else None
    server_url = server.__enter__() if server is not None else None
    try:
        for seed in args.seeds:
            train, test = train_test_split(records, test_fraction=0.2, seed=seed)
            history = records
            if args.validation:
                history = train
                train, test = train_test_split(train, test_fraction=0.2, seed=10_000 + seed)
            if args.new_items_share:
                train, test, new_set = new_items_split(history, train, test, args.new_items_share)
                print(f"  seed {seed} new-items protocol: {len(new_set)} items held out whole; "
                      f"{len(train)} training and {len(test)} test ratings", flush=True)
            users = list(dict.fromkeys(record.user_id for record in test))
            catalog = len({record.item_id for record in records})
            unknown = ({entry.item_id for entry in items} or {r.item_id for r in records}) - {
                r.item_id for r in train}
            fallback = MeanFallback(train)
            indexed = Indexed(train)

            def measure(name: str, lists: dict, seed: int = seed, test: list = test, catalog: int = catalog):
                report = ranking_metrics(lists, test, k=k, catalog_size=catalog, success_k=5)
                ranking[name].append(report)
                print(f"  seed {seed} {name:<22} NDCG@{k} {report.ndcg:.4f}  P@{k} {report.precision:.4f}  "
                      f"R@{k} {report.recall:.4f}  MRR {report.mrr:.4f}  success@5 {report.success:.4f}  "
                      f"coverage {report.coverage:.4f}", flush=True)

            if server_url is not None:
                if args.variants_only:
                    result, seconds, database_url = trained_only(
                        train, test, server_url, seed, items=items, embedder=embedder,
                        embedding_cache=embedding_cache)
                    by_name = {}
                else:
                    result, seconds, database_url = served(
                        train, test, k, server_url, seed, args.rp3beta_share, items=items, embedder=embedder,
                        embedding_cache=embedding_cache)
                    served_lists = {entry.user_id: entry.file_item_ids for entry in result.lists}
                    measure("served", served_lists)
                    by_name = {"served": served_lists}
                if variants:
                    started = time.perf_counter()
                    variant_lists, mismatched = slot_variant_lists(database_url, result, k, variants)
                    print(f"  seed {seed} slot variants in {time.perf_counter() - started:.0f} s; the deployed "
                          f"setting composed differs from the served list for {mismatched} users", flush=True)
                    extra["composed deployed lists differing from served"].append(mismatched)
                    for variant, lists in variant_lists.items():
                        measure(variant.name, lists)
                        by_name[variant.name] = lists
                for name, lists in by_name.items():
                    figures = new_item_figures(lists, test, unknown)
                    new_items[name].append(figures)
                    print(f"  seed {seed} {name:<22} unknown titles: " + ", ".join(
                        f"{key} {value:.4f}" if isinstance(value, float) else f"{key} {value}"
                        for key, value in figures.items()), flush=True)
                extra["unknown items"].append(len(unknown))
                extra["embedding"].append(None if result.embedding is None else {
                    "embedded": result.embedding.embedded, "from_cache": result.embedding.from_cache})
                drop_database(server_url, database_url)
                if not args.variants_only:
                    rmse["served predicted_rating"].append(result.served_ratings)
                extra["served seconds"].append(seconds)
                extra["served methods"].append(result.methods)
                extra["served training"].append({
                    name: getattr(result.training, name, None)
                    for name in ("model_version", "algorithm", "item_count", "rating_count", "train_seconds",
                                 "peak_memory_bytes", "metrics")
                })
            if not args.rmse_only:
                measure("most-rated", popularity_lists(train, users, k, recent=False))
                measure("most-rated-recently", popularity_lists(train, users, k, recent=True))
            if not args.skip_baselines and not args.rmse_only:
                started = time.perf_counter()
                if args.ease_lambda is not None:
                    l2 = args.ease_lambda
                elif seed == args.seeds[0] or args.tune_every_seed:
                    l2, by_lambda = tune_ease(train, seed, k)
                    extra["ease validation ndcg"].append({"seed": seed, **by_lambda})
                    print(f"  seed {seed} EASE lambda {l2:g} (validation NDCG {by_lambda[l2]:.4f}; "
                          + ", ".join(f"{x:g}: {v:.4f}" for x, v in by_lambda.items()) + ")", flush=True)
                extra["ease lambda"].append(l2)
                measure("dense EASE", indexed.top_k(ease_scores(indexed, l2), users, k))
                extra["ease seconds (tuning + fit)"].append(time.perf_counter() - started)
                if args.served_dense:
                    measure("dense served model", indexed.top_k(served_model_dense_scores(train, indexed), users, k))
            if not args.skip_baselines and not args.rmse_only and not args.skip_implicit:
                with threadpool_limits(1, "blas"):  # implicit's advice: its own threads, not BLAS's
                    measure("implicit ALS (default)", implicit_lists(
                        implicit.cpu.als.AlternatingLeastSquares(random_state=seed), indexed, users, k))
                    measure("item-kNN cosine", implicit_lists(
                        implicit.nearest_neighbours.CosineRecommender(), indexed, users, k))

            rmse["user's own mean"].append(rating_accuracy(fallback, test, fallback=fallback))
            if not args.skip_baselines:
                rmse["Surprise SVD"].append(surprise_rmse(SVD(random_state=seed), train, test, fallback))
            svdpp_wanted = args.svdpp_seeds is None or seed in args.svdpp_seeds
            if not args.skip_baselines and not args.skip_svdpp and svdpp_wanted:
                rmse["Surprise SVD++"].append(surprise_rmse(SVDpp(random_state=seed), train, test, fallback))
            for name, values in rmse.items():
                accuracy = values[-1]
                print(f"  seed {seed} RMSE {name:<24} {accuracy.rmse:.4f} over {accuracy.pairs} pairs "
                      f"(predicted {accuracy.coverage:.1%})", flush=True)
    finally:
        if server is not None:
            server.__exit__(None, None, None)

    print(f"\nSeeds {args.seeds}; mean ± standard deviation over seeds")
    print(f"{'method':<24}{'NDCG@10':>18}{'P@10':>18}{'R@10':>18}{'MRR':>18}{'success@5':>18}{'coverage':>18}")
    for name, reports in ranking.items():
        figures = [summarise([getattr(r, field) for r in reports])
                   for field in ("ndcg", "precision", "recall", "mrr", "success", "coverage")]
        print(f"{name:<24}" + "".join(f"{figure:>18}" for figure in figures))
    print(f"\n{'RMSE over every held-out pair':<32}{'RMSE':>18}{'predicted share':>18}")
    for name, values in rmse.items():
        print(f"{name:<32}{summarise([v.rmse for v in values]):>18}"
              f"{summarise([v.coverage for v in values]):>18}")
    if "served" in ranking and "dense EASE" in ranking:
        served_ndcg = statistics.fmean(r.ndcg for r in ranking["served"])
        ease_ndcg = statistics.fmean(r.ndcg for r in ranking["dense EASE"])
        popular_ndcg = statistics.fmean(r.ndcg for r in ranking["most-rated"])
        print(f"\nserved / dense EASE NDCG@10: {served_ndcg / ease_ndcg:.3f} (target >= 0.95); "
              f"served / most-rated: {served_ndcg / popular_ndcg:.2f} (target >= 2)")
    if new_items:
        print("\nTitles the model does not know (no training rating), mean over seeds")
        for name, figures in new_items.items():
            print(f"{name:<24}" + ", ".join(
                f"{key} {statistics.fmean(f[key] for f in figures):.4f}" for key in figures[0]))
    if extra["ease lambda"]:
        print(f"EASE lambdas used: {extra['ease lambda']}")
    if args.json_out:
        args.json_out.write_text(json.dumps({
            "ranking": {name: [dataclasses.asdict(r) for r in reports] for name, reports in ranking.items()},
            "rmse": {name: [dataclasses.asdict(v) for v in values] for name, values in rmse.items()},
            "extra": extra,
            "new items": new_items,
            "args": {key: str(value) for key, value in vars(args).items()},
        }, default=str, indent=1))


if __name__ == "__main__":
    main()
