"""The training job on small data whose right answer is known: EASE recovers a planted item-to-item
structure, the item-kNN fallback writes the same table, a version is swapped in whole, and a failed run
leaves the previous model serving."""

from __future__ import annotations

import numpy as np
import psycopg
import pytest
import scipy.sparse as sp

from cinelibre.recommend import service
from cinelibre.recommend.ease import (
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
from cinelibre.recommend.training import (
    TrainingError,
    TrainingParams,
    fit_model,
    holdout,
    predict_pairs,
    select_params,
    train_and_publish,
)
from tests.recommend.synthetic import planted_groups_world, rate_all, two_taste_world

FAST = TrainingParams(validate=False)


def _planted_matrix(groups: int = 3, size: int = 5, users_per_group: int = 12, seed: int = 0):
    """Users x items: each user liked each item of their own group with probability 0.7 (independently:
    "exactly four of five" would make a group's items compete with each other)."""
    generator = np.random.default_rng(seed)
    rows, cols = [], []
    for g in range(groups):
        for u in range(users_per_group):
            user = g * users_per_group + u
            liked = [i for i in range(size) if generator.random() < 0.7] or [u % size, (u + 1) % size]
            for i in liked:
                rows.append(user)
                cols.append(g * size + i)
    shape = (groups * users_per_group, groups * size)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=shape)


def test_ease_recovers_a_planted_item_structure():
    # λ = 20: with a dozen users per group an unregularised fit lets noise make some in-group weights negative.
    weights = fit_ease(_planted_matrix(), l2=20.0)
    assert np.allclose(np.diag(weights), 0.0)
    for item in range(15):
        group = item // 5
        in_group = [j for j in range(15) if j // 5 == group and j != item]
        assert set(np.argsort(-weights[item], kind="stable")[:4]) == set(in_group), item
        assert weights[item, in_group].min() > 0
        assert np.abs(weights[item, [j for j in range(15) if j // 5 != group]]).max() < 1e-6


def test_dlae_dropout_penalises_each_item_by_its_own_gram_entry():
    # Session 2: B = I - P·diag(1/diag(P)) with P = (XᵀX + λI + p/(1-p)·diag(XᵀX))⁻¹ (Steck, 2020).
    interactions = _planted_matrix()
    gram = (interactions.T @ interactions).toarray().astype(np.float64)
    penalty = 20.0 + 0.2 / 0.8 * np.diag(gram)
    precision = np.linalg.inv(gram + np.diag(penalty))
    expected = -precision / np.diag(precision)
    np.fill_diagonal(expected, 0.0)
    weights = fit_ease(interactions, l2=20.0, dropout=0.2)
    assert np.allclose(weights, expected, atol=1e-5)
    # The planted groups still come out on top, and the penalty shrinks weights below plain EASE's.
    plain = fit_ease(interactions, l2=20.0)
    for item in range(15):
        in_group = {j for j in range(15) if j // 5 == item // 5 and j != item}
        assert set(np.argsort(-weights[item], kind="stable")[:4]) == in_group
    assert np.abs(weights).sum() < np.abs(plain).sum()
    with pytest.raises(ValueError):
        fit_ease(interactions, l2=20.0, dropout=1.0)


def test_user_weighting_fits_the_weighted_closed_form_and_tempers_heavy_users():
    # Session 4: row u scaled by sqrt(w_u), w_u = (n_u / mean n)^-a, so EASE's Gram matrix is XᵀWX.
    planted = _planted_matrix().toarray()
    # Four heavy users who rated every item of groups 0 and 1, and one who rated nothing: the heavy rows tie
    # the two groups together in the unweighted Gram matrix.
    heavy = np.zeros((4, 15), np.float32)
    heavy[:, :10] = 1.0
    dense = np.vstack([planted, heavy, np.zeros((1, 15), np.float32)])
    interactions = sp.csr_matrix(dense)
    counts = dense.sum(axis=1)
    user_weight = np.where(counts > 0, (np.maximum(counts, 1) / counts.mean()) ** -0.5, 0.0)

    weighted = weight_users(interactions, 0.5)
    assert np.allclose(weighted.toarray() ** 2, dense * user_weight[:, None], atol=1e-6)
    gram = dense.T.astype(np.float64) @ (dense * user_weight[:, None])
    precision = np.linalg.inv(gram + 20.0 * np.eye(15))
    expected = -precision / np.diag(precision)
    np.fill_diagonal(expected, 0.0)
    weights = fit_ease(weighted, l2=20.0)
    assert np.allclose(weights, expected, atol=1e-5)

    plain = fit_ease(interactions, l2=20.0)
    cross = np.ix_(range(5), range(5, 10))
    assert np.all(np.abs(weights[cross]) < np.abs(plain[cross]))  # the heavy users' tie counts for less
    for item in range(15):
        in_group = {j for j in range(15) if j // 5 == item // 5 and j != item}
        assert set(np.argsort(-weights[item], kind="stable")[:4]) == in_group
    assert weight_users(interactions, 0.0) is interactions


def test_rp3beta_is_added_with_its_share_of_the_total_weight():
    # Session 3: W_ij = Σ_u (x_ui/deg i)(x_uj/deg u) / deg j^β, diagonal 0, scaled to `share` of Σ|B|.
    interactions = _planted_matrix()
    binary = (interactions.toarray() > 0).astype(np.float64)
    item_degree, user_degree = binary.sum(axis=0), binary.sum(axis=1)
    walk = (binary / item_degree).T @ (binary / user_degree[:, None]) / item_degree[None, :] ** 0.3
    np.fill_diagonal(walk, 0.0)
    ease = fit_ease(interactions, l2=20.0)
    blended = ease.copy()
    add_rp3beta(blended, interactions, share=0.3, beta=0.3, block_size=4)  # several blocks
    expected = ease + 0.3 * np.abs(ease).sum() / walk.sum() * walk
    assert np.allclose(blended, expected, atol=1e-5)
    assert np.all(np.diag(blended) == 0)
    # Both parts agree on the planted groups, so the blend keeps them.
    for item in range(15):
        in_group = {j for j in range(15) if j // 5 == item // 5 and j != item}
        assert set(np.argsort(-blended[item], kind="stable")[:4]) == in_group


def test_top_k_rows_keeps_the_largest_weights_in_a_stable_order():
    weights = np.array([[0.0, 0.5, -0.9, 0.5], [0.2, 0.0, 0.0, -0.1]], np.float32)
    rows, cols, kept = top_k_rows(weights, 2)
    assert rows.tolist() == [0, 0, 1] and cols.tolist() == [1, 3, 0]
    assert kept.tolist() == pytest.approx([0.5, 0.5, 0.2])
    rows, cols, kept = top_k_rows(weights, 2, keep_negative=True)
    assert rows.tolist() == [0, 0, 1, 1] and cols.tolist() == [2, 1, 0, 3]
    assert kept.tolist() == pytest.approx([-0.9, 0.5, 0.2, -0.1])


def test_the_ease_memory_formula_and_its_cap():
    assert ease_peak_bytes(10_000) == 2 * 4 * 10_000**2  # n x n x 4 bytes, twice: 800 MB
    assert max_ease_items(ease_peak_bytes(10_000)) == 10_000
    assert max_ease_items(ease_peak_bytes(10_000) - 1) == 9_999
    # A 10 GB function giving the dense matrices 60% of its memory fits about 27,800 items.
    assert TrainingParams().ease_item_cap() == max_ease_items(int(4 * 1024**3 * 0.6))
    assert 27_000 < max_ease_items(int(10240 * 1024**2 * 0.6)) < 28_500


def test_the_item_knn_fallback_recovers_the_same_structure():
    rows, cols, weights = item_knn_cosine(_planted_matrix(), 4, block_size=4)
    assert len(rows) == 15 * 4
    for item in range(15):
        neighbours = set(cols[rows == item])
        assert neighbours == {item // 5 * 5 + i for i in range(5)} - {item}
    assert (weights > 0).all()


def test_the_baseline_learns_regularised_biases():
    # Item 0 is loved, item 1 disliked; user "b" rates everything one star above user "a".
    ratings = Ratings.from_triples(
        ["a", "a", "b", "b", "c", "c"], [10, 11, 10, 11, 10, 11], [4.0, 2.0, 5.0, 3.0, 4.5, 2.5]
    )
    baseline = fit_baseline(ratings, user_reg=0.0, item_reg=0.0, epochs=30)
    assert baseline.global_mean == pytest.approx(3.5)
    assert baseline.item_bias[0] - baseline.item_bias[1] == pytest.approx(2.0, abs=1e-4)
    bias_a = baseline.user_bias(np.array([0, 1]), np.array([4.0, 2.0], np.float32))
    bias_b = baseline.user_bias(np.array([0, 1]), np.array([5.0, 3.0], np.float32))
    assert bias_b - bias_a == pytest.approx(1.0, abs=1e-4)
    shrunk = fit_baseline(ratings, user_reg=15.0, item_reg=10.0)
    assert abs(shrunk.item_bias[0]) < abs(baseline.item_bias[0])  # regularised towards 0


def test_holdout_keeps_every_user_in_training_and_is_seeded():
    ratings = Ratings.from_triples(
        [u for u in "aaaaabbbbbbbbbbc" for _ in [0]], list(range(16)), [4.0] * 16
    )
    train, held = holdout(ratings, 0.2, seed=3)
    assert held.sum() == 1 + 2  # a: 5 ratings -> 1; b: 10 -> 2; c: a single rating stays in training
    assert set(train.users.tolist()) == {0, 1, 2}
    assert (holdout(ratings, 0.2, seed=3)[1] == held).all()


def test_select_params_chooses_from_the_grid_on_a_validation_split():
    items, users, ratings = _synthetic_ratings()
    best, table = select_params(
        ratings, l2_grid=(1.0, 50.0), neighbour_grid=(2, 4), neutral_weights=(0.0,), dropout_grid=(0.0, 0.2),
        shrinkage_grid=(None, 1.0),
    )
    assert best.l2 in (1.0, 50.0) and best.neighbours in (2, 4) and best.dropout in (0.0, 0.2)
    ranked = [row for row in table if "ndcg@10" in row]
    assert len(ranked) == 8
    assert max(row["ndcg@10"] for row in ranked) == pytest.approx(next(
        row["ndcg@10"] for row in ranked
        if row["l2"] == best.l2 and row["neighbours"] == best.neighbours and row["dropout"] == best.dropout
    ))
    assert len([row for row in table if "rmse" in row]) == 2


def _synthetic_ratings() -> tuple[list[int], list[int], Ratings]:
    matrix = _planted_matrix(groups=3, size=6, users_per_group=10, seed=4).tocoo()
    generator = np.random.default_rng(1)
    values = generator.choice([4.0, 4.5, 5.0], size=matrix.nnz)
    users = [f"user{u}" for u in matrix.row]
    return list(matrix.row), list(matrix.col), Ratings.from_triples(users, matrix.col + 100, values)


# -- against the database ----------------------------------------------------------------------------------


def test_training_publishes_a_version_that_recovers_the_planted_groups(db, forget_models):
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    steps = []

    report = train_and_publish(db, params=TrainingParams(l2=30.0, neighbours=10),
                               progress=lambda step, done, total: steps.append(step))

    assert report.algorithm == "ease"
    assert (report.item_count, report.user_count, report.rating_count) == (15, 24, len(ratings))
    assert report.neighbour_count > 0 and report.train_seconds > 0 and report.peak_memory_bytes > 0
    assert {"ndcg@10", "rmse", "rmse_pairs"} <= set(report.metrics)
    assert {"read ratings", "validate", "fit", "write neighbours"} <= set(steps)
    active = db.get_active_recommender_model()
    assert active["version"] == report.model_version and active["status"] == "ready"
    assert (active["item_count"], active["rating_count"]) == (15, len(ratings))
    assert active["params"]["l2"] == 30.0 and active["params"]["neighbours"] == 10
    assert active["metrics"]["ndcg@10"] == pytest.approx(report.metrics["ndcg@10"])
    with psycopg.connect(db.transport._pool.conninfo) as conn:
        for group in items.values():
            for item in group:
                best = conn.execute(
                    "select neighbour_id from item_neighbours where model_version = %s and item_id = %s"
                    " and weight > 0 order by weight desc limit 4", (report.model_version, item)).fetchall()
                assert {row[0] for row in best} == set(group) - {item}


def test_a_version_is_swapped_in_whole_and_old_versions_are_deleted(db, forget_models, pg_url):
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    first = train_and_publish(db, params=FAST)
    second = train_and_publish(db, params=FAST)
    third = train_and_publish(db, params=FAST)
    assert first.model_version < second.model_version < third.model_version
    assert db.get_active_recommender_model()["version"] == third.model_version
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("select version from recommender_models order by 1").fetchall()
        stored = conn.execute("select distinct model_version from item_neighbours order by 1").fetchall()
    # The one replaced is kept, so an operator can switch back; older ones are gone with their rows.
    assert [v for (v,) in versions] == [v for (v,) in stored] == [second.model_version, third.model_version]


class _FailingWrites:
    """The real database, except that writing neighbours fails after the first batch."""

    def __init__(self, database):
        self._database = database
        self.batches = 0

    def __getattr__(self, name):
        return getattr(self._database, name)

    def save_item_neighbours(self, **kwargs):
        self.batches += 1
        if self.batches > 1:
            raise ConnectionError("the connection dropped")
        return self._database.save_item_neighbours(**kwargs)


def test_a_failed_run_leaves_the_previous_model_serving(db, forget_models, pg_url, monkeypatch):
    items, users, ratings = planted_groups_world(db)
    rate_all(db, ratings)
    good = train_and_publish(db, params=FAST)
    target = users["group0"][0]
    before = service.personalized(db, target, n=5)

    monkeypatch.setattr("cinelibre.recommend.training.WRITE_BATCH_SIZE", 20)
    with pytest.raises(ConnectionError):
        train_and_publish(_FailingWrites(db), params=FAST)

    assert db.get_active_recommender_model()["version"] == good.model_version
    assert service.personalized(db, target, n=5) == before
    with psycopg.connect(pg_url) as conn:
        failed = conn.execute(
            "select status, error from recommender_models where version > %s", (good.model_version,)).fetchall()
        orphans = conn.execute(
            "select count(*) from item_neighbours where model_version > %s", (good.model_version,)).fetchone()[0]
    assert failed == [("failed", "ConnectionError: the connection dropped")] and orphans == 0


def test_training_without_ratings_fails_and_publishes_nothing(db, forget_models):
    with pytest.raises(TrainingError, match="no ratings"):
        train_and_publish(db, params=FAST)
    assert db.get_active_recommender_model() is None


def test_past_the_item_cap_the_item_knn_writes_the_same_table(db, forget_models):
    items, users, ratings = two_taste_world(db)
    rate_all(db, ratings)
    report = train_and_publish(db, params=TrainingParams(max_ease_items=4, validate=False, neighbours=7))
    assert report.algorithm == "item_knn"
    north = users["north"][0]
    db.upsert_rating(user_id=north, item_id=items["north"][0], rating=1.0)  # changes nothing knn-side
    result = service.personalized(db, create_user_who_liked(db, items["north"][:2]), n=3)
    assert result.method == "item_knn" and result.model_version == report.model_version
    assert {item.item_id for item in result.recommendations} <= set(items["north"][2:])


def create_user_who_liked(db, item_ids):
    user = db.create_user(email="fan@example.com", password_hash="$2b$10$" + "a" * 53, name="fan")["id"]
    for item in item_ids:
        db.upsert_rating(user_id=user, item_id=item, rating=5.0)
    return user


def test_served_predictions_equal_the_trainers_own(db, forget_models):
    """The SQL predictor and the numpy one used for validation are the same formula."""
    items, users, ratings = planted_groups_world(db, seed=5)
    # Spread the ratings so the biases and the neighbourhood term both matter.
    generator = np.random.default_rng(2)
    ratings = [(u, i, float(min(5.0, max(0.5, r - generator.choice([0, 0.5, 1.0]))))) for u, i, r in ratings]
    rate_all(db, ratings)
    params = TrainingParams(l2=5.0, neighbours=6, prediction_shrinkage=0.5, validate=False)
    train_and_publish(db, params=params)

    triples = Ratings.from_triples([u for u, _, _ in ratings], [i for _, i, _ in ratings], [r for _, _, r in ratings])
    model = fit_model(triples, params)
    user_codes = sorted({u for u, _, _ in ratings})
    every_item = [int(i) for i in triples.item_ids]
    for user in (users["group0"][0], users["group2"][3]):
        served = service.predicted_ratings(db, user, every_item)
        expected = predict_pairs(
            triples, model, np.full(len(every_item), user_codes.index(user)), np.arange(len(every_item))
        )
        assert [served[item] for item in every_item] == pytest.approx(expected.tolist(), abs=1e-4)
    assert service.predicted_ratings(db, users["group0"][0], [987654321]) == {987654321: None}
