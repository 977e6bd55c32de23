"""The trained item-to-item models, in numpy/scipy: EASE (Steck, 2019), a cosine item-kNN for catalogs too
large for EASE, and a baseline rating predictor. Pure functions over arrays: no database here.

EASE learns an item-to-item weight matrix B with a zero diagonal from the user-item matrix X in closed form:
G = XᵀX + λI, P = G⁻¹, B = -P / diag(P) (each column divided by its diagonal entry), B_jj = 0. A user's
score for item j is Σ_i x_ui B_ij, so we keep for each item i its `k` largest weights B_ij: the rows of the
`item_neighbours` table. Memory: G and its inverse are each n x n float32 (4 bytes), so fitting n items
needs about 8·n² bytes at its peak (`ease_peak_bytes`); past `max_ease_items` the cosine item-kNN takes over,
computed a block of columns at a time, so its memory grows with the items, not their square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp

# Each of G and P is n x n float32.
BYTES_PER_CELL = 4
DENSE_COPIES = 2


def ease_peak_bytes(item_count: int) -> int:
    """Peak memory of fitting EASE on `item_count` items: n x n x 4 bytes, twice (G, then its inverse)."""
    return DENSE_COPIES * BYTES_PER_CELL * item_count * item_count


def max_ease_items(memory_bytes: int) -> int:
    """The most items EASE can fit in `memory_bytes` (the inverse of `ease_peak_bytes`)."""
    return math.isqrt(max(memory_bytes, 0) // (DENSE_COPIES * BYTES_PER_CELL))


@dataclass(frozen=True, slots=True)
class Ratings:
    """Every rating as three parallel arrays of indices and values, with the ids the indices stand for."""

    users: np.ndarray  # int32 user index per rating
    items: np.ndarray  # int32 item index per rating
    values: np.ndarray  # float32 rating
    item_ids: np.ndarray  # int64: item index -> item id
    user_count: int

    @property
    def item_count(self) -> int:
        return len(self.item_ids)

    @classmethod
    def from_triples(cls, user_keys, item_ids, values) -> Ratings:
        """From parallel sequences of any hashable user key, integer item id and rating."""
        user_codes, users = np.unique(np.asarray(user_keys), return_inverse=True)
        known_items, items = np.unique(np.asarray(item_ids, dtype=np.int64), return_inverse=True)
        return cls(
            users=users.astype(np.int32),
            items=items.astype(np.int32),
            values=np.asarray(values, dtype=np.float32),
            item_ids=known_items,
            user_count=len(user_codes),
        )

    def interactions(self, positive_threshold: float | None) -> sp.csr_matrix:
        """X: users x items, 1 where the user rated the item (or, with a threshold, rated it that high)."""
        keep = np.ones(len(self.values), bool) if positive_threshold is None else self.values >= positive_threshold
        return sp.csr_matrix(
            (np.ones(int(keep.sum()), np.float32), (self.users[keep], self.items[keep])),
            shape=(self.user_count, self.item_count),
        )


def fit_ease(interactions: sp.csr_matrix, l2: float, dropout: float = 0.0) -> np.ndarray:
    """B (items x items, float32) for X = `interactions`; B[i, j] is how much having i speaks for j.

    `dropout` p > 0 adds p/(1-p)·G_jj to each diagonal entry besides λ: the penalty that dropout of the input
    amounts to (DLAE, Steck 2020, "Autoencoders that don't overfit towards the identity"), which shrinks the
    weights of popular items more than a single λ does."""
    if not 0.0 <= dropout < 1.0:
        raise ValueError("dropout must be in [0, 1)")
    gram = (interactions.T @ interactions).toarray().astype(np.float32, copy=False)
    diagonal = np.diag(gram).copy()
    gram[np.diag_indices_from(gram)] += np.float32(l2) + np.float32(dropout / (1.0 - dropout)) * diagonal
    del diagonal
    # Inverted in place (LAPACK getrf/getri on G's own memory): the peak is G and P's workspace, not three
    # n x n arrays as numpy.linalg.inv would allocate.
    precision = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
    del gram
    precision /= -np.diag(precision)[np.newaxis, :]
    np.fill_diagonal(precision, 0.0)
    return precision


def weight_users(interactions: sp.csr_matrix, exponent: float) -> sp.csr_matrix:
    """X with user u's row scaled by sqrt(w_u), w_u = (n_u / mean n)^-exponent (n_u: the user's non-zero
    entries, the mean over every row): EASE fitted on it minimises Σ_u w_u·||x_u - x_u B||² + λ||B||², a
    Gram matrix X^T W X in which each user counts w_u times. Unweighted, a few users with hundreds of
    ratings dominate the item-item statistics that every user's list is scored from, while NDCG averages
    users equally; the user-side normalisation of the interaction matrix is the same idea as the row
    normalisation of Deshpande & Karypis (2004, "Item-based top-N recommendation algorithms"). Dividing by
    the mean keeps the Gram matrix's scale near the unweighted one, so λ keeps its meaning. Exponent 0
    returns `interactions` itself."""
    if exponent == 0.0:
        return interactions
    counts = np.diff(interactions.indptr).astype(np.float64)
    mean = float(counts.mean()) if len(counts) else 0.0
    if mean == 0.0:
        return interactions
    scale = np.zeros_like(counts)
    rated = counts > 0
    scale[rated] = (counts[rated] / mean) ** (-exponent / 2.0)
    return (sp.diags(scale.astype(np.float32)) @ interactions).tocsr()


def add_rp3beta(
    weights: np.ndarray, interactions: sp.csr_matrix, *, share: float, beta: float, block_size: int = 2048
) -> None:
    """Adds RP3beta's item-to-item weights (Paudel et al., 2017: W_ij = Σ_u (x_ui/deg i)(x_uj/deg u) /
    deg j^β, a random walk item -> user -> item that discounts popular destinations) to `weights` in place,
    scaled so they carry `share` of the total |weight| `weights` carries: B + share·s·W, one linear
    item-to-item model that the same table stores and the same SQL serves. `interactions` is binary.
    Computed `block_size` rows at a time, so the extra memory is block_size x items floats."""
    binary = interactions.astype(np.float64)
    binary.data[:] = 1.0
    item_degree = np.asarray(binary.sum(axis=0)).ravel()
    user_degree = np.asarray(binary.sum(axis=1)).ravel()
    item_degree[item_degree == 0] = 1.0
    user_degree[user_degree == 0] = 1.0
    to_users = (sp.diags(1.0 / item_degree) @ binary.T).tocsr()  # P(u | i)
    to_items = (sp.diags(1.0 / user_degree) @ binary).tocsr()  # P(j | u)
    discount = item_degree**-beta
    # Σ_ij W_ij without forming W: column sums of to_users @ to_items, minus the diagonal W_ii.
    column_sums = np.asarray(to_users.sum(axis=0)).ravel() @ to_items
    diagonal = np.asarray(to_users.multiply(to_items.T).sum(axis=1)).ravel()
    total = float(((np.asarray(column_sums).ravel() - diagonal) * discount).sum())
    if total <= 0:
        return
    scale = np.float32(share * float(np.abs(weights).sum(dtype=np.float64)) / total)
    discount32 = (discount * scale).astype(np.float32)
    for start in range(0, weights.shape[0], block_size):
        stop = min(start + block_size, weights.shape[0])
        block = (to_users[start:stop] @ to_items).toarray().astype(np.float32)
        block *= discount32[np.newaxis, :]
        block[np.arange(stop - start), np.arange(start, stop)] = 0.0
        weights[start:stop] += block


def top_k_rows(
    weights: np.ndarray, k: int, *, keep_negative: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row i, its `k` largest weights (by absolute value with `keep_negative`, else the positive
    ones): (row index, column index, weight) arrays, rows in order and, within a row, by that key
    descending; zero weights are dropped. EASE's negative weights carry information (on MovieLens, keeping
    the top 100 by |w| scores NDCG@10 0.309 against 0.303 for the top 100 positive ones)."""
    return _top_k(weights, k, row_offset=0, keep_negative=keep_negative)


def _top_k(
    block: np.ndarray, k: int, *, row_offset: int, keep_negative: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = block.shape
    k = min(k, cols)
    if k == 0 or rows == 0:
        empty = np.empty(0, np.int32)
        return empty, empty, np.empty(0, np.float32)
    key = np.abs(block) if keep_negative else block
    best = np.argpartition(-key, k - 1, axis=1)[:, :k] if k < cols else np.tile(np.arange(cols), (rows, 1))
    best_weights = np.take_along_axis(block, best, axis=1)
    best_keys = np.take_along_axis(key, best, axis=1)
    # By key descending, then column (item) ascending: the same model gives the same table.
    order = np.lexsort((best, -best_keys), axis=1)
    best = np.take_along_axis(best, order, axis=1)
    best_weights = np.take_along_axis(best_weights, order, axis=1)
    row_index = np.repeat(np.arange(rows, dtype=np.int32) + row_offset, k)
    col_index = best.reshape(-1).astype(np.int32)
    flat = best_weights.reshape(-1).astype(np.float32)
    keep = flat != 0 if keep_negative else flat > 0
    return row_index[keep], col_index[keep], flat[keep]


def item_knn_cosine(
    interactions: sp.csr_matrix, k: int, *, shrinkage: float = 10.0, block_size: int = 2048
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosine item-to-item kNN: for each item its `k` most similar items (shrunk towards 0 by co-count:
    sim · c / (c + shrinkage)), as `top_k_rows` returns them. Computed `block_size` items at a time, so
    memory is items x block_size floats, whatever the catalog size."""
    columns = interactions.tocsc().astype(np.float32)
    norms = np.sqrt(np.asarray(columns.multiply(columns).sum(axis=0)).ravel())
    norms[norms == 0] = 1.0
    normalised = (columns @ sp.diags(1.0 / norms)).tocsc()
    binary = columns.copy()
    binary.data[:] = 1.0
    binary_t = binary.T.tocsr()
    normalised_t = normalised.T.tocsr()
    parts = []
    for start in range(0, interactions.shape[1], block_size):
        stop = min(start + block_size, interactions.shape[1])
        cosine = (normalised_t[start:stop] @ normalised).toarray()
        counts = (binary_t[start:stop] @ binary).toarray()
        similarity = cosine * (counts / (counts + shrinkage))
        similarity[np.arange(stop - start), np.arange(start, stop)] = 0.0
        parts.append(_top_k(similarity.astype(np.float32), k, row_offset=start))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts, strict=True))  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Baseline:
    """r̂_ui = μ + b_u + b_i with regularised biases (Koren's baseline, as Surprise's BaselineOnly fits it by
    alternating least squares). Only μ and the item biases are stored: a user's bias is recomputed from
    their current ratings when they ask, so it is never stale."""

    global_mean: float
    item_bias: np.ndarray  # float32 per item index
    user_reg: float
    item_reg: float

    def user_bias(self, items: np.ndarray, values: np.ndarray) -> float:
        """b_u = Σ (r_ui - μ - b_i) / (user_reg + n_u): what the serving SQL computes."""
        residual = values - self.global_mean - self.item_bias[items]
        return float(residual.sum() / (self.user_reg + len(values)))


def fit_baseline(ratings: Ratings, *, user_reg: float = 15.0, item_reg: float = 10.0, epochs: int = 10) -> Baseline:
    mean = float(ratings.values.mean()) if len(ratings.values) else 0.0
    user_bias = np.zeros(ratings.user_count, np.float64)
    item_bias = np.zeros(ratings.item_count, np.float64)
    user_counts = np.bincount(ratings.users, minlength=ratings.user_count)
    item_counts = np.bincount(ratings.items, minlength=ratings.item_count)
    for _ in range(epochs):
        residual = ratings.values - mean - user_bias[ratings.users]
        item_bias = np.bincount(ratings.items, residual, ratings.item_count) / (item_reg + item_counts)
        residual = ratings.values - mean - item_bias[ratings.items]
        user_bias = np.bincount(ratings.users, residual, ratings.user_count) / (user_reg + user_counts)
    # The final user step above is the serving formula exactly, so what is stored matches what is served.
    return Baseline(global_mean=mean, item_bias=item_bias.astype(np.float32), user_reg=user_reg, item_reg=item_reg)
