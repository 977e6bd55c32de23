"""The training job: read every rating through an RPC, fit the item-to-item model and the rating predictor,
write them as a new model version and swap it in. Runs as `cinelibre train` and as the train function.

A run that fails at any point leaves the previous version serving: its rows are written under a version
no reader uses until `activate_recommender_model` points at it in one statement.
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from cinelibre.db.port import Database
from cinelibre.errors import CineLibreError
from cinelibre.observability import logger
from cinelibre.recommend.ease import (
    Baseline,
    Ratings,
    add_rp3beta,
    ease_peak_bytes,
    fit_baseline,
    fit_ease,
    item_knn_cosine,
    max_ease_items,
    top_k_rows,
    weight_users,
)

Progress = Callable[[str, int, int], None]

# What a Lambda function may spend on the dense matrices, of its configured memory: the rest holds the
# ratings, the sparse matrices, the top-k arrays and Python itself.
MEMORY_SHARE_FOR_EASE = 0.6
DEFAULT_MEMORY_BYTES = 4 * 1024**3
READ_PAGE_SIZE = 50_000
WRITE_BATCH_SIZE = 20_000
RELEVANT_RATING = 4.0
# Heavy users whose cached score vectors one refresh call sums (one transaction): small, because a rating write
# of a user in the batch waits for it.
SCORE_CACHE_BATCH_USERS = 20


class TrainingError(CineLibreError):
    code = "training_failed"


@dataclass(frozen=True, slots=True)
class TrainingParams:
    """Defaults chosen on a validation split carved out of the training part of MovieLens ml-latest-small
    (docs/recommendations.md has the tables): neutral weight 0.3 and shrinkage 0.3 as `select_params` chose;
    λ 200 with DLAE dropout 0.2 (validation NDCG@10 0.2008 against 0.1947 for λ 400 without it, dense); k 200
    (session 3: pruning to 100 cost 2.4% of the dense model's validation NDCG@10, to 200 0.9%, to 300 1.3%;
    keeping each target item's best sources instead of each source's best targets did worse)."""

    l2: float = 200.0  # λ, EASE's ridge penalty
    # DLAE's input dropout p: each item's penalty is λ + p/(1-p)·(its own Gram entry) (see `fit_ease`).
    dropout: float = 0.2
    neighbours: int = 200  # k: weights kept per item (largest |B_ij|, negatives included)
    # RP3beta's weights blended into EASE's before pruning (`add_rp3beta`): their share of EASE's total
    # |weight| (0: EASE alone) and RP3beta's popularity discount β. Session 3 on a validation split: share
    # 0.3, β 0.3 gave NDCG@10 0.2012 against 0.1991 for EASE alone (k 200); share 1.0 0.1980, β 0.5 0.1995.
    # Off by default: served on the five test seeds it scored the same as EASE alone (0.3117 against 0.3118)
    # with 15% more neighbour rows (docs/benchmarks.md).
    rp3beta_share: float = 0.0
    rp3beta_beta: float = 0.3
    # Each user's weight in EASE's Gram matrix, (their rating count / the mean)^-exponent (`weight_users`);
    # 0: every user counts once. Session 4, on three validation splits of seed 0's training part (k 200,
    # served-style scoring, λ 200, p 0.2): 0.35 gave NDCG@10 +0.9% / +0.9% / +2.3% over 0; 0.25 and 0.4
    # about as much, 0.5 less (docs/recommendations.md).
    user_weight_exponent: float = 0.35
    # x_ui: 1 for a rating >= liked_rating, neutral_weight for one >= neutral_rating, 0 below.
    liked_rating: float = 4.0
    neutral_rating: float = 3.0
    neutral_weight: float = 0.3
    user_reg: float = 15.0
    item_reg: float = 10.0
    prediction_shrinkage: float | None = 0.3  # None: the baseline alone predicts ratings
    knn_shrinkage: float = 10.0
    # Past this many items EASE gives way to the item-kNN; None: what MEMORY_SHARE_FOR_EASE of the memory
    # (AWS_LAMBDA_FUNCTION_MEMORY_SIZE in Lambda, else 4 GiB) allows, by `max_ease_items`.
    max_ease_items: int | None = None
    # Offline metrics recorded with the version, from a refit on all but `validation_fraction` of each
    # user's ratings (the held-out part scored as the serving SQL scores it).
    validate: bool = True
    validation_fraction: float = 0.1
    seed: int = 0

    def ease_item_cap(self) -> int:
        if self.max_ease_items is not None:
            return self.max_ease_items
        memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        memory = int(memory_mb) * 1024**2 if memory_mb and memory_mb.isdigit() else DEFAULT_MEMORY_BYTES
        return max_ease_items(int(memory * MEMORY_SHARE_FOR_EASE))

    def signal(self, values: np.ndarray) -> np.ndarray:
        return np.where(
            values >= self.liked_rating, 1.0, np.where(values >= self.neutral_rating, self.neutral_weight, 0.0)
        ).astype(np.float32)


@dataclass(frozen=True, slots=True)
class TrainingReport:
    model_version: int
    algorithm: str
    item_count: int
    rating_count: int
    user_count: int
    train_seconds: float
    peak_memory_bytes: int | None
    metrics: dict[str, Any] = field(default_factory=dict)
    neighbour_count: int = 0
    # The heavy users' cached scores summed for the new version (refresh_score_cache's figures, or its error).
    score_cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ItemModel:
    """A fitted model in the shape the database stores: (item index, neighbour index, weight) rows and the
    baseline predictor."""

    algorithm: str
    rows: np.ndarray
    cols: np.ndarray
    weights: np.ndarray
    baseline: Baseline
    params: TrainingParams

    def weight_matrix(self, item_count: int) -> sp.csr_matrix:
        return sp.csr_matrix((self.weights, (self.rows, self.cols)), shape=(item_count, item_count))


def fit_model(ratings: Ratings, params: TrainingParams) -> ItemModel:
    signal = params.signal(ratings.values)
    interactions = sp.csr_matrix(
        (signal, (ratings.users, ratings.items)), shape=(ratings.user_count, ratings.item_count)
    )
    interactions.eliminate_zeros()
    if ratings.item_count <= params.ease_item_cap():
        algorithm = "ease"
        dense = fit_ease(weight_users(interactions, params.user_weight_exponent), params.l2, params.dropout)
        if params.rp3beta_share > 0:
            every_rating = sp.csr_matrix(
                (np.ones(len(ratings.values), np.float32), (ratings.users, ratings.items)),
                shape=(ratings.user_count, ratings.item_count),
            )
            add_rp3beta(dense, every_rating, share=params.rp3beta_share, beta=params.rp3beta_beta)
        rows, cols, weights = top_k_rows(dense, params.neighbours, keep_negative=True)
        del dense
    else:
        algorithm = "item_knn"
        rows, cols, weights = item_knn_cosine(interactions, params.neighbours, shrinkage=params.knn_shrinkage)
    baseline = fit_baseline(ratings, user_reg=params.user_reg, item_reg=params.item_reg)
    return ItemModel(algorithm, rows, cols, weights, baseline, params)


# -- scoring as the SQL serves it (for validation) ----------------------------------------------------------


def _user_matrices(ratings: Ratings, model: ItemModel) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """(signal X, residual matrix r - μ - b_u - b_i, b_u) for the users of `ratings`."""
    baseline = model.baseline
    shape = (ratings.user_count, ratings.item_count)
    signal = sp.csr_matrix((model.params.signal(ratings.values), (ratings.users, ratings.items)), shape=shape)
    offset = ratings.values - baseline.global_mean - baseline.item_bias[ratings.items]
    counts = np.bincount(ratings.users, minlength=ratings.user_count)
    user_bias = np.bincount(ratings.users, offset, ratings.user_count) / (baseline.user_reg + counts)
    residual = sp.csr_matrix((offset - user_bias[ratings.users], (ratings.users, ratings.items)), shape=shape)
    return signal, residual, user_bias


def ranking_metrics(train: Ratings, test_users: np.ndarray, test_items: np.ndarray, test_values: np.ndarray,
                    model: ItemModel, *, k: int = 10, batch: int = 2048) -> dict[str, float]:
    """NDCG@k, precision@k and recall@k (held-out ratings >= 4 relevant; rated items excluded; positive
    scores only, as `get_model_recommendations` ranks), averaged over users with a relevant held-out item."""
    weights = model.weight_matrix(train.item_count)
    signal, _, _ = _user_matrices(train, model)
    seen = sp.csr_matrix(
        (np.ones(len(train.users), bool), (train.users, train.items)), shape=(train.user_count, train.item_count)
    )
    relevant_mask = test_values >= RELEVANT_RATING
    relevant: dict[int, set[int]] = {}
    for user, item in zip(test_users[relevant_mask], test_items[relevant_mask], strict=True):
        relevant.setdefault(int(user), set()).add(int(item))
    users = np.array(sorted(relevant), dtype=np.int64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcgs, precisions, recalls = [], [], []
    for start in range(0, len(users), batch):
        chunk = users[start : start + batch]
        scores = (signal[chunk] @ weights).toarray()
        scores[seen[chunk].toarray()] = -np.inf
        scores[scores <= 0] = -np.inf
        top = np.argpartition(-scores, min(k, scores.shape[1] - 1), axis=1)[:, :k]
        order = np.lexsort((top, -np.take_along_axis(scores, top, axis=1)), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_scores = np.take_along_axis(scores, top, axis=1)
        for row, user in enumerate(chunk):
            wanted = relevant[int(user)]
            hits = np.array([item in wanted and np.isfinite(s) for item, s in zip(top[row], top_scores[row],
                                                                                   strict=True)])
            ideal = discounts[: min(k, len(wanted))].sum()
            ndcgs.append(float((discounts[: len(hits)] * hits).sum() / ideal))
            precisions.append(float(hits.sum() / k))
            recalls.append(float(hits.sum() / len(wanted)))
    if not ndcgs:
        return {}
    return {f"ndcg@{k}": float(np.mean(ndcgs)), f"precision@{k}": float(np.mean(precisions)),
            f"recall@{k}": float(np.mean(recalls)), "evaluated_users": len(ndcgs)}


def predict_pairs(train: Ratings, model: ItemModel, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """The rating the serving SQL predicts for each (user index, item index) pair: μ + b_u + b_j plus the
    shrunk neighbourhood term; clipped to 0.5..5."""
    baseline = model.baseline
    _, residual, user_bias = _user_matrices(train, model)
    predicted = baseline.global_mean + user_bias[users] + baseline.item_bias[items]
    if model.params.prediction_shrinkage is not None and len(users):
        weights = model.weight_matrix(train.item_count).tocsc()
        absolute = abs(weights)
        rated = residual.copy()
        rated.data[:] = 1.0
        deviation = np.asarray(residual[users].multiply(weights[:, items].T).sum(axis=1)).ravel()
        weight_sum = np.asarray(rated[users].multiply(absolute[:, items].T).sum(axis=1)).ravel()
        predicted = predicted + deviation / (weight_sum + model.params.prediction_shrinkage)
    return np.clip(predicted, 0.5, 5.0)


def holdout(ratings: Ratings, fraction: float, seed: int) -> tuple[Ratings, np.ndarray]:
    """Per user, `fraction` of their ratings (at least one, for users with two or more) as a boolean
    mask; the rest as a `Ratings` over the same user and item indices."""
    generator = np.random.default_rng(seed)
    order = np.lexsort((generator.random(len(ratings.users)), ratings.users))
    users_sorted = ratings.users[order]
    starts = np.searchsorted(users_sorted, np.arange(ratings.user_count))
    counts = np.bincount(ratings.users, minlength=ratings.user_count)
    rank = np.arange(len(order)) - starts[users_sorted]
    held_per_user = np.where(counts >= 2, np.maximum(1, np.round(counts * fraction)), 0)
    held = np.zeros(len(order), bool)
    held[order] = rank < held_per_user[users_sorted]
    kept = ~held
    train = Ratings(ratings.users[kept], ratings.items[kept], ratings.values[kept], ratings.item_ids,
                    ratings.user_count)
    return train, held


def offline_metrics(ratings: Ratings, params: TrainingParams) -> dict[str, Any]:
    train, held = holdout(ratings, params.validation_fraction, params.seed)
    model = fit_model(train, replace(params, validate=False))
    metrics: dict[str, Any] = {"validation_fraction": params.validation_fraction, "seed": params.seed}
    metrics |= ranking_metrics(train, ratings.users[held], ratings.items[held], ratings.values[held], model)
    if held.any():
        predicted = predict_pairs(train, model, ratings.users[held], ratings.items[held])
        metrics["rmse"] = float(np.sqrt(np.mean((predicted - ratings.values[held]) ** 2)))
        metrics["rmse_pairs"] = int(held.sum())
    return metrics


def select_params(
    ratings: Ratings,
    base: TrainingParams | None = None,
    *,
    l2_grid: tuple[float, ...] = (50.0, 100.0, 200.0, 400.0, 800.0),
    neighbour_grid: tuple[int, ...] = (50, 100, 200),
    neutral_weights: tuple[float, ...] = (0.0, 0.3),
    dropout_grid: tuple[float, ...] = (0.0, 0.2),
    shrinkage_grid: tuple[float | None, ...] = (None, 0.3, 1.0, 3.0),
    fraction: float = 0.1,
    seed: int = 0,
    progress: Progress | None = None,
) -> tuple[TrainingParams, list[dict[str, Any]]]:
    """λ, k and the interaction weights by NDCG@10, then the predictor's shrinkage by RMSE, on a
    validation split of `ratings` (pass the training part only: never the test split). Returns the best
    params and one row per combination tried."""
    base = base or TrainingParams()
    train, held = holdout(ratings, fraction, seed)
    users, items, values = ratings.users[held], ratings.items[held], ratings.values[held]
    table: list[dict[str, Any]] = []
    best: tuple[float, TrainingParams] | None = None
    total = len(l2_grid) * len(neighbour_grid) * len(neutral_weights) * len(dropout_grid) + len(shrinkage_grid)
    done = 0
    for neutral_weight, dropout in ((w, p) for w in neutral_weights for p in dropout_grid):
        for l2 in l2_grid:
            candidate = replace(base, l2=l2, dropout=dropout, neutral_weight=neutral_weight, validate=False)
            signal = sp.csr_matrix(
                (candidate.signal(train.values), (train.users, train.items)),
                shape=(train.user_count, train.item_count),
            )
            signal.eliminate_zeros()
            dense = fit_ease(weight_users(signal, base.user_weight_exponent), l2, dropout)
            baseline = fit_baseline(train, user_reg=base.user_reg, item_reg=base.item_reg)
            for k in neighbour_grid:
                rows, cols, weights = top_k_rows(dense, k, keep_negative=True)
                model = ItemModel("ease", rows, cols, weights, baseline, replace(candidate, neighbours=k))
                ndcg = ranking_metrics(train, users, items, values, model).get("ndcg@10", 0.0)
                table.append({"l2": l2, "dropout": dropout, "neighbours": k, "neutral_weight": neutral_weight,
                              "ndcg@10": ndcg})
                if best is None or ndcg > best[0]:
                    best = (ndcg, model.params)
                done += 1
                if progress:
                    progress("select λ and k", done, total)
            del dense
    assert best is not None
    chosen = best[1]
    model = fit_model(train, chosen)
    best_rmse: tuple[float, float | None] | None = None
    for shrinkage in shrinkage_grid:
        trial = replace(model, params=replace(chosen, prediction_shrinkage=shrinkage))
        rmse = float(np.sqrt(np.mean((predict_pairs(train, trial, users, items) - values) ** 2)))
        table.append({"prediction_shrinkage": shrinkage, "rmse": rmse})
        if best_rmse is None or rmse < best_rmse[0] - 1e-6:
            best_rmse = (rmse, shrinkage)
        done += 1
        if progress:
            progress("select the predictor's shrinkage", done, total)
    assert best_rmse is not None
    return replace(chosen, prediction_shrinkage=best_rmse[1], validate=base.validate), table


# -- the job ------------------------------------------------------------------------------------------------


def read_ratings(database: Database, *, page_size: int = READ_PAGE_SIZE,
                 progress: Progress | None = None) -> tuple[Ratings, list[str]]:
    """Every rating, a page at a time; (ratings, user ids by index)."""
    users: list[str] = []
    items: list[int] = []
    values: list[float] = []
    after = 0
    while True:
        page = database.get_training_ratings(after_rating_id=after, page_size=page_size)
        if not page["user_ids"]:
            break
        users.extend(page["user_ids"])
        items.extend(page["item_ids"])
        values.extend(page["ratings"])
        after = int(page["last_rating_id"])
        if progress:
            progress("read ratings", len(values), 0)
    user_keys = np.asarray(users, dtype=object) if users else np.empty(0, dtype=object)
    ratings = Ratings.from_triples(user_keys.astype(str), np.asarray(items, np.int64), values)
    return ratings, sorted(set(users))


def _batches(*arrays: np.ndarray, size: int) -> Iterator[tuple[np.ndarray, ...]]:
    for start in range(0, len(arrays[0]), size):
        yield tuple(array[start : start + size] for array in arrays)


def _peak_memory_bytes() -> int | None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return int(peak if sys.platform == "darwin" else peak * 1024) if peak else None


def train_and_publish(
    database: Database, *, params: TrainingParams | None = None, progress: Progress | None = None
) -> TrainingReport:
    """Fit the model on every stored rating and make it the one served. Raises TrainingError (and leaves
    the previous model serving) when there is nothing to learn from or any step fails."""
    params = params or TrainingParams()
    started = time.perf_counter()
    ratings, _ = read_ratings(database, progress=progress)
    if len(ratings.values) == 0:
        raise TrainingError("there are no ratings to train on; the previous model (if any) keeps serving")
    logger.info("training", extra={"ratings": len(ratings.values), "items": ratings.item_count,
                                   "users": ratings.user_count, "ease_item_cap": params.ease_item_cap()})
    metrics: dict[str, Any] = {}
    if params.validate:
        if progress:
            progress("validate", 0, 1)
        metrics = offline_metrics(ratings, params)
        if progress:
            progress("validate", 1, 1)
    if progress:
        progress("fit", 0, 1)
    model = fit_model(ratings, params)
    if progress:
        progress("fit", 1, 1)
    fit_seconds = time.perf_counter() - started
    metrics["ease_peak_bytes_formula"] = ease_peak_bytes(ratings.item_count) if model.algorithm == "ease" else None

    version = database.begin_recommender_model(
        algorithm=model.algorithm,
        liked_rating=params.liked_rating,
        neutral_rating=params.neutral_rating,
        neutral_weight=params.neutral_weight,
        global_mean=model.baseline.global_mean,
        user_reg=params.user_reg,
        prediction_shrinkage=params.prediction_shrinkage,
        params={key: value for key, value in asdict(params).items() if not isinstance(value, float) or
                math.isfinite(value)} | {"ease_item_cap": params.ease_item_cap()},
    )
    try:
        item_ids = ratings.item_ids
        total = len(model.rows)
        written = 0
        for rows, cols, weights in _batches(model.rows, model.cols, model.weights, size=WRITE_BATCH_SIZE):
            database.save_item_neighbours(
                model_version=version, item_ids=item_ids[rows].tolist(), neighbour_ids=item_ids[cols].tolist(),
                weights=weights.astype(float).tolist(),
            )
            written += len(rows)
            if progress:
                progress("write neighbours", written, total)
        for ids, biases in _batches(item_ids, model.baseline.item_bias, size=WRITE_BATCH_SIZE):
            database.save_item_biases(
                model_version=version, item_ids=ids.tolist(), biases=biases.astype(float).tolist()
            )
        train_seconds = time.perf_counter() - started
        peak = _peak_memory_bytes()
        activated = database.activate_recommender_model(model_version=version, stats={
            "item_count": ratings.item_count, "user_count": ratings.user_count,
            "rating_count": len(ratings.values), "train_seconds": round(train_seconds, 3),
            "peak_memory_bytes": peak, "metrics": metrics,
        })
    except BaseException as exc:
        logger.exception("training failed; the previous model keeps serving", extra={"model_version": version})
        try:
            database.fail_recommender_model(model_version=version, error=f"{type(exc).__name__}: {exc}")
        except Exception:  # the original failure matters more than the bookkeeping one
            logger.exception("could not mark the model version failed", extra={"model_version": version})
        raise
    score_cache = _refresh_after_activation(database, progress=progress)
    report = TrainingReport(
        model_version=version, algorithm=model.algorithm, item_count=ratings.item_count,
        rating_count=len(ratings.values), user_count=ratings.user_count, train_seconds=round(train_seconds, 3),
        peak_memory_bytes=peak, metrics=metrics, neighbour_count=int(activated["neighbour_count"]),
        score_cache=score_cache,
    )
    logger.info("model published", extra={"model_version": version, "algorithm": model.algorithm,
                                          "fit_seconds": round(fit_seconds, 3), **metrics})
    return report


def refresh_score_cache(
    database: Database, *, batch_users: int = SCORE_CACHE_BATCH_USERS, progress: Progress | None = None
) -> dict[str, Any]:
    """Sum the heavy users' cached score vectors for the active model version (issue 9, session 5), in batches
    of `batch_users`, each its own transaction: an interrupted run keeps what it summed, and running it again
    goes on with the rest. Until a user's row is summed their list is summed live, so this changes latency,
    never a list. Returns model_version, heavy_users, refreshed and seconds."""
    started = time.perf_counter()
    after: str | None = None
    heavy = refreshed = 0
    version = None
    while True:
        batch = database.refresh_user_model_scores(after_user_id=after, max_users=batch_users)
        version = batch["model_version"]
        heavy += int(batch["heavy_users"])
        refreshed += int(batch["refreshed"])
        if progress:
            progress("score cache", heavy, 0)
        after = batch["next_user_id"]
        if after is None:
            break
    return {"model_version": version, "heavy_users": heavy, "refreshed": refreshed,
            "seconds": round(time.perf_counter() - started, 3)}


def _refresh_after_activation(database: Database, *, progress: Progress | None) -> dict[str, Any]:
    """The new version serves already; a failed refresh leaves its heavy users on the live sum (slower, the
    same lists), so it is logged and reported, not raised."""
    try:
        figures = refresh_score_cache(database, progress=progress)
    except Exception as exc:
        logger.exception("the score cache refresh failed; heavy users are summed live until the next refresh")
        return {"error": f"{type(exc).__name__}: {exc}"}
    logger.info("score cache refreshed", extra=figures)
    return figures
