"""`RpcDatabase`: the `Database` port implemented once, over a transport that calls SQL functions by name
with named arguments. The psycopg and supabase adapters are transports; the SQL is the same for both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from cinelibre.db.port import InteractionKind, ItemType, ItemTypeFilter, Row, SourceName

_RATING_LIMITS = (0.5, 5.0)


class RpcTransport(Protocol):
    def rows(self, function: str, args: Mapping[str, Any]) -> list[Row]:
        """Call a set-returning function; rows as JSON-like dicts. Arguments are plain Python values:
        lists for arrays and vectors, dicts/lists for jsonb."""
        ...

    def scalar(self, function: str, args: Mapping[str, Any]) -> Any:
        """Call a function returning one value (or void: None)."""
        ...


def _first(rows: list[Row]) -> Row | None:
    return rows[0] if rows else None


def _page(rows: list[Row]) -> tuple[list[Row], int]:
    total = int(rows[0]["total_count"]) if rows else 0
    for row in rows:
        row.pop("total_count", None)
    return rows, total


class RpcDatabase:
    def __init__(self, transport: RpcTransport) -> None:
        self._rpc = transport

    # health
    def health(self) -> Row:
        row = _first(self._rpc.rows("health", {}))
        return row or {}

    # users
    def create_user(self, *, email: str, password_hash: str, name: str) -> Row:
        rows = self._rpc.rows(
            "create_user", {"user_email": email, "user_password_hash": password_hash, "user_name": name}
        )
        return rows[0]

    def get_user_credentials(self, *, email: str) -> Row | None:
        return _first(self._rpc.rows("get_user_credentials", {"user_email": email}))

    def get_user(self, *, user_id: str) -> Row | None:
        return _first(self._rpc.rows("get_user", {"target_user_id": user_id}))

    # catalog
    def get_movie(self, *, movie_id: int) -> Row | None:
        return _first(self._rpc.rows("get_movie", {"target_movie_id": movie_id}))

    def get_book(self, *, book_id: int) -> Row | None:
        return _first(self._rpc.rows("get_book", {"target_book_id": book_id}))

    def list_movies(
        self, *, language: str | None, genre: str | None, year_from: int | None, year_to: int | None,
        limit: int, offset: int,
    ) -> tuple[list[Row], int]:
        rows = self._rpc.rows("list_movies", {
            "filter_language": language, "filter_genre": genre, "year_from": year_from, "year_to": year_to,
            "page_limit": limit, "page_offset": offset,
        })
        return _page(rows)

    def list_books(
        self, *, language: str | None, category: str | None, year_from: int | None, year_to: int | None,
        limit: int, offset: int,
    ) -> tuple[list[Row], int]:
        rows = self._rpc.rows("list_books", {
            "filter_language": language, "filter_category": category, "year_from": year_from,
            "year_to": year_to, "page_limit": limit, "page_offset": offset,
        })
        return _page(rows)

    def match_movies(
        self, *, query_embedding: Sequence[float], threshold: float, count: int, language: str | None = None,
        genre: str | None = None, year_from: int | None = None, year_to: int | None = None,
    ) -> list[Row]:
        return self._rpc.rows("match_movies", {
            "query_embedding": [float(v) for v in query_embedding], "match_threshold": threshold,
            "match_count": count, "filter_language": language, "filter_genre": genre,
            "year_from": year_from, "year_to": year_to,
        })

    def match_books(
        self, *, query_embedding: Sequence[float], threshold: float, count: int, language: str | None = None,
        category: str | None = None, year_from: int | None = None, year_to: int | None = None,
    ) -> list[Row]:
        return self._rpc.rows("match_books", {
            "query_embedding": [float(v) for v in query_embedding], "match_threshold": threshold,
            "match_count": count, "filter_language": language, "filter_category": category,
            "year_from": year_from, "year_to": year_to,
        })

    def search_titles(
        self, *, query: str, item_type: ItemTypeFilter, count: int, language: str | None = None,
        genre: str | None = None, category: str | None = None, year_from: int | None = None,
        year_to: int | None = None,
    ) -> list[Row]:
        return self._rpc.rows("search_titles", {
            "search_query": query, "filter_item_type": item_type, "match_count": count,
            "filter_language": language, "filter_genre": genre, "filter_category": category,
            "year_from": year_from, "year_to": year_to,
        })

    def get_similar_items(self, *, item_id: int, target_type: ItemType, count: int) -> list[Row]:
        return self._rpc.rows(
            "get_similar_items",
            {"source_item_id": item_id, "target_item_type": target_type, "match_count": count},
        )

    # ratings and interactions
    def upsert_rating(self, *, user_id: str, item_id: int, rating: float) -> Row:
        rows = self._rpc.rows(
            "upsert_rating", {"rating_user_id": user_id, "rating_item_id": item_id, "rating_value": rating}
        )
        return rows[0]

    def list_user_ratings(
        self, *, user_id: str, item_type: ItemTypeFilter, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        rows = self._rpc.rows("list_user_ratings", {
            "rating_user_id": user_id, "filter_item_type": item_type, "page_limit": limit, "page_offset": offset,
        })
        return _page(rows)

    def delete_rating(self, *, user_id: str, rating_id: int) -> bool:
        return bool(self._rpc.scalar("delete_rating", {"rating_user_id": user_id, "target_rating_id": rating_id}))

    def record_interaction(
        self, *, user_id: str, kind: InteractionKind, item_id: int | None, query: str | None
    ) -> Row:
        rows = self._rpc.rows("record_interaction", {
            "interaction_user_id": user_id, "interaction_kind": kind, "interaction_item_id": item_id,
            "interaction_query": query,
        })
        return rows[0]

    # recommendations
    def get_popular_items(
        self, *, item_type: ItemTypeFilter, count: int, exclude_user_id: str | None = None
    ) -> list[Row]:
        return self._rpc.rows("get_popular_items", {
            "filter_item_type": item_type, "result_limit": count, "exclude_user_id": exclude_user_id,
        })

    def get_content_recommendations(
        self, *, user_id: str, item_type: ItemTypeFilter, count: int, min_rating: float = 4.0
    ) -> list[Row]:
        return self._rpc.rows("get_content_recommendations", {
            "target_user_id": user_id, "filter_item_type": item_type, "result_limit": count,
            "min_rating": min_rating,
        })

    def count_user_ratings(self, *, user_id: str) -> int:
        return int(self._rpc.scalar("count_user_ratings", {"rating_user_id": user_id}) or 0)

    # ingest
    def get_content_hashes(self, *, source: SourceName, external_ids: Sequence[str]) -> dict[str, str]:
        if not external_ids:
            return {}
        rows = self._rpc.rows(
            "get_content_hashes", {"source_name": source, "external_ids": [str(x) for x in external_ids]}
        )
        return {row["external_id"]: row["content_hash"] for row in rows}

    def upsert_movies(self, *, movies: Sequence[Row], demo: bool = False) -> dict[str, int]:
        if not movies:
            return {"inserted": 0, "updated": 0, "unchanged": 0}
        rows = self._rpc.rows("upsert_movies", {"movie_rows": list(movies), "mark_demo": demo})
        self.set_title_keys(rows=_title_key_rows("movie", movies))
        return {key: int(value) for key, value in rows[0].items()}

    def upsert_books(self, *, books: Sequence[Row], demo: bool = False) -> dict[str, int]:
        if not books:
            return {"inserted": 0, "updated": 0, "unchanged": 0}
        rows = self._rpc.rows("upsert_books", {"book_rows": list(books), "mark_demo": demo})
        self.set_title_keys(rows=_title_key_rows("book", books))
        return {key: int(value) for key, value in rows[0].items()}

    def refresh_movie_figures(self, *, movies: Sequence[Row]) -> dict[str, int]:
        if not movies:
            return {"updated": 0, "unchanged": 0}
        figures = [
            {key: movie.get(key) for key in ("tmdb_id", "popularity", "vote_average", "vote_count", "poster_url")}
            for movie in movies
        ]
        rows = self._rpc.rows("refresh_movie_figures", {"movie_rows": figures})
        return {key: int(value) for key, value in rows[0].items()}

    def start_ingest_run(self, *, source: str, trigger: str, abandon_after_s: float = 960.0) -> Row:
        return self._rpc.rows(
            "start_ingest_run",
            {"run_source": source, "run_trigger": trigger, "abandon_after_s": abandon_after_s},
        )[0]

    def save_ingest_checkpoint(self, *, run_id: int, source: str, checkpoint: Row | None, stats: Row) -> None:
        self._rpc.scalar("save_ingest_checkpoint", {
            "run_id": run_id, "run_source": source, "run_checkpoint": checkpoint, "run_stats": stats,
        })

    def finish_ingest_run(
        self, *, run_id: int, status: str, stats: Row, checkpoint: Row | None, error: str | None,
    ) -> None:
        self._rpc.scalar("finish_ingest_run", {
            "run_id": run_id, "run_status": status, "run_stats": stats, "run_checkpoint": checkpoint,
            "run_error": error,
        })


    # -- accounts under attack (issue 10) -------------------------------------------------------------
    def take_rate_limit_tokens(self, *, buckets: Sequence[tuple[str, int, float]]) -> list[Row]:
        # Its commit does not wait for the disk (migration 20261223000200): a crash may forget the last
        # fraction of a second of counts, which for a rate limit is harmless; issue 12 measured the wait.
        return self._rpc.rows("take_rate_limit_tokens_async_commit", {
            "bucket_keys": [key for key, _, _ in buckets],
            "bucket_bursts": [burst for _, burst, _ in buckets],
            "bucket_periods_s": [float(period) for _, _, period in buckets],
        })

    def prune_rate_limit_buckets(self) -> int:
        return int(self._rpc.scalar("prune_rate_limit_buckets", {}) or 0)

    def register_user(self, *, email: str, password_hash: str, name: str, confirmed: bool) -> Row:
        return self._rpc.rows("register_user", {
            "user_email": email, "user_password_hash": password_hash, "user_name": name,
            "mark_confirmed": confirmed,
        })[0]

    def get_auth_account(self, *, email: str | None = None, user_id: str | None = None) -> Row | None:
        return _first(self._rpc.rows("get_auth_account", {"user_email": email, "target_user_id": user_id}))

    def start_auth_session(self, *, user_id: str, refresh_token_hash: str, ttl_s: int) -> str:
        return str(self._rpc.scalar("start_auth_session", {
            "target_user_id": user_id, "refresh_token_hash": refresh_token_hash, "session_ttl_s": ttl_s,
        }))

    def check_auth_session(self, *, session_id: str, user_id: str) -> bool:
        return bool(self._rpc.scalar(
            "check_auth_session", {"target_session_id": session_id, "target_user_id": user_id}
        ))

    def rotate_refresh_token(
        self, *, presented_hash: str, next_hash: str, next_wrapped: str, reuse_grace_s: float,
        owner_limit: tuple[int, float] | None = None,
    ) -> Row:
        burst, period_s = owner_limit if owner_limit is not None else (None, None)
        return self._rpc.rows("rotate_refresh_token", {
            "presented_hash": presented_hash, "next_hash": next_hash, "next_wrapped": next_wrapped,
            "reuse_grace_s": float(reuse_grace_s), "owner_burst": burst,
            "owner_period_s": float(period_s) if period_s is not None else None,
        })[0]

    def revoke_auth_sessions(
        self, *, user_id: str, reason: str, session_id: str | None = None, keep_session_id: str | None = None
    ) -> int:
        return int(self._rpc.scalar("revoke_auth_sessions", {
            "target_user_id": user_id, "target_session_id": session_id, "keep_session_id": keep_session_id,
            "reason": reason,
        }) or 0)

    def set_user_password(self, *, user_id: str, password_hash: str, keep_session_id: str | None) -> bool:
        return bool(self._rpc.scalar("set_user_password", {
            "target_user_id": user_id, "new_password_hash": password_hash, "keep_session_id": keep_session_id,
        }))

    def issue_email_token(self, *, user_id: str, purpose: str, token_hash: str, ttl_s: int) -> None:
        self._rpc.scalar("issue_email_token", {
            "target_user_id": user_id, "token_purpose": purpose, "new_token_hash": token_hash, "ttl_s": ttl_s,
        })

    def confirm_email(self, *, token_hash: str) -> Row | None:
        return _first(self._rpc.rows("confirm_email", {"presented_hash": token_hash}))

    def reset_password(self, *, token_hash: str, password_hash: str) -> str | None:
        user_id = self._rpc.scalar("reset_password", {"presented_hash": token_hash, "new_password_hash": password_hash})
        return str(user_id) if user_id else None

    def delete_user(self, *, user_id: str) -> bool:
        return bool(self._rpc.scalar("delete_user", {"target_user_id": user_id}))
    # -- ingest operations (issue 11) ------------------------------------------------------------------------
    def ingest_heartbeat(self, *, run_id: int) -> None:
        self._rpc.scalar("ingest_heartbeat", {"run_id": run_id})

    def list_ingest_retries(self, *, source: str, limit: int = 100) -> list[Row]:
        return self._rpc.rows("list_ingest_retries", {"retry_source": source, "max_count": limit})

    def record_ingest_retry(
        self, *, source: str, kind: str, key: str, position: Row, label: str, reason: str, run_id: int | None,
    ) -> int:
        return int(self._rpc.scalar("record_ingest_retry", {
            "retry_source": source, "retry_kind": kind, "retry_item_key": key, "retry_position": position,
            "retry_label": label, "retry_reason": reason, "retry_run_id": run_id,
        }))

    def clear_ingest_retry(self, *, source: str, kind: str, key: str) -> None:
        self._rpc.scalar("clear_ingest_retry", {"retry_source": source, "retry_kind": kind, "retry_item_key": key})
    # -- multilingual search (issue 12)
    def search_lexical(
        self, *, query: str, query_key: str, item_type: ItemTypeFilter, count: int, language: str | None = None,
        genre: str | None = None, category: str | None = None, year_from: int | None = None,
        year_to: int | None = None, rank_weights: Sequence[float] | None = None, query_sound: str | None = None,
        query_spoken_key: str | None = None,
    ) -> list[Row]:
        args: dict[str, Any] = {
            "search_query": query, "query_key": query_key, "filter_item_type": item_type, "match_count": count,
            "filter_language": language, "filter_genre": genre, "filter_category": category,
            "year_from": year_from, "year_to": year_to, "query_sound": query_sound,
            "query_spoken_key": query_spoken_key,
        }
        if rank_weights is not None:
            args["rank_weights"] = list(rank_weights)
        return self._rpc.rows("search_lexical", args)

    def set_title_keys(self, *, rows: Sequence[Row]) -> int:
        if not rows:
            return 0
        return int(self._rpc.scalar("set_title_keys", {"key_rows": list(rows)}) or 0)

    # -- trained recommender model (issue 9) -----------------------------------------------------------------
    def get_training_ratings(self, *, after_rating_id: int, page_size: int) -> Row:
        rows = self._rpc.rows("get_training_ratings", {"after_rating_id": after_rating_id, "page_size": page_size})
        return rows[0] if rows else {"last_rating_id": None, "user_ids": [], "item_ids": [], "ratings": []}

    def begin_recommender_model(
        self, *, algorithm: str, liked_rating: float, neutral_rating: float, neutral_weight: float,
        global_mean: float, user_reg: float, prediction_shrinkage: float | None, params: Row,
    ) -> int:
        return int(self._rpc.scalar("begin_recommender_model", {
            "model_algorithm": algorithm, "model_liked_rating": liked_rating,
            "model_neutral_rating": neutral_rating, "model_neutral_weight": neutral_weight,
            "model_global_mean": global_mean, "model_user_reg": user_reg,
            "model_prediction_shrinkage": prediction_shrinkage, "model_params": params,
        }))

    def save_item_neighbours(
        self, *, model_version: int, item_ids: Sequence[int], neighbour_ids: Sequence[int],
        weights: Sequence[float],
    ) -> int:
        return int(self._rpc.scalar("save_item_neighbours", {
            "target_model_version": model_version, "item_ids": list(item_ids),
            "neighbour_ids": list(neighbour_ids), "weights": list(weights),
        }) or 0)

    def save_item_biases(self, *, model_version: int, item_ids: Sequence[int], biases: Sequence[float]) -> int:
        return int(self._rpc.scalar("save_item_biases", {
            "target_model_version": model_version, "item_ids": list(item_ids), "biases": list(biases),
        }) or 0)

    def activate_recommender_model(self, *, model_version: int, stats: Row) -> Row:
        return self._rpc.rows(
            "activate_recommender_model", {"target_model_version": model_version, "model_stats": stats}
        )[0]

    def fail_recommender_model(self, *, model_version: int, error: str) -> None:
        self._rpc.scalar("fail_recommender_model", {"target_model_version": model_version, "failure": error})

    def get_active_recommender_model(self) -> Row | None:
        return _first(self._rpc.rows("get_active_recommender_model", {}))

    def get_model_recommendations(self, *, user_id: str, item_type: ItemTypeFilter, count: int) -> list[Row]:
        return self._rpc.rows("get_model_recommendations", {
            "target_user_id": user_id, "filter_item_type": item_type, "result_limit": count,
        })

    def predict_user_ratings(self, *, user_id: str, item_ids: Sequence[int]) -> dict[int, float | None]:
        if not item_ids:
            return {}
        rows = self._rpc.rows(
            "predict_user_ratings", {"target_user_id": user_id, "target_item_ids": [int(i) for i in item_ids]}
        )
        return {int(row["item_id"]): row["predicted_rating"] for row in rows}

    # -- online evaluation of recommendations (issue 9) ----------------------------------------------------
    def record_recommendation_impressions(self, *, user_id: str, impressions: Sequence[Row]) -> int:
        if not impressions:
            return 0
        if len(impressions) > 100:
            raise ValueError("a list shown holds at most 100 items")
        items = [
            {"item_id": int(row["item_id"]), "method": str(row["method"]), "model_version": row.get("model_version"),
             "position": int(row["position"])}
            for row in impressions
        ]
        return int(self._rpc.scalar(
            "record_recommendation_impressions", {"impression_user_id": user_id, "impression_items": items}
        ) or 0)

    def get_recommendation_performance(self, *, days: int = 30) -> list[Row]:
        return self._rpc.rows("get_recommendation_performance", {"report_days": days})

    # -- accounts under attack (session 2, issue 10) --------------------------------------------------------
    def request_password_reset(self, *, email: str, token_hash: str, ttl_s: int) -> Row | None:
        return _first(self._rpc.rows(
            "request_password_reset", {"user_email": email, "new_token_hash": token_hash, "ttl_s": ttl_s}
        ))

    # -- search latency and key backfill (session 3, issue 12) ---------------------------------------------
    def get_stale_search_key_rows(self, *, after_item_id: int, page_size: int, keys_version: int) -> list[Row]:
        return self._rpc.rows("get_stale_search_key_rows", {
            "after_item_id": after_item_id, "page_size": page_size, "keys_version": keys_version,
        })

    def count_stale_search_keys(self, *, keys_version: int) -> list[Row]:
        return self._rpc.rows("count_stale_search_keys", {"keys_version": keys_version})

    def match_items(
        self, *, query_embedding: Sequence[float], count: int, item_type: ItemTypeFilter = "all",
        language: str | None = None, genre: str | None = None, category: str | None = None,
        year_from: int | None = None, year_to: int | None = None,
    ) -> list[Row]:
        return self._rpc.rows("match_items", {
            "query_embedding": query_embedding, "match_count": count, "filter_item_type": item_type,
            "filter_language": language, "filter_genre": genre, "filter_category": category,
            "year_from": year_from, "year_to": year_to,
        })

    # -- personalized recommendations in fewer round trips (session 3, issue 9) ---------------------------
    def get_personalized_start(
        self, *, user_id: str, session_id: str, item_type: ItemTypeFilter, count: int
    ) -> Row:
        start = self._rpc.scalar("get_personalized_start", {
            "target_user_id": user_id, "target_session_id": session_id, "filter_item_type": item_type,
            "result_limit": count,
        })
        return start or {"session_live": False}

    # -- recommendations: new releases for model users (session 3, issue 9) -------------------------------
    def get_new_item_recommendations(
        self, *, user_id: str, item_type: ItemTypeFilter, count: int, min_rating: float = 4.0,
        min_similarity: float = 0.5,
    ) -> list[Row]:
        return self._rpc.rows("get_new_item_recommendations", {
            "target_user_id": user_id, "filter_item_type": item_type, "result_limit": count,
            "min_rating": min_rating, "min_similarity": min_similarity,
        })

    # -- serving latency for heavy users: the per-user score cache (session 5, issue 9) -------------------
    def refresh_user_model_scores(self, *, after_user_id: str | None = None, max_users: int = 20) -> Row:
        return self._rpc.rows(
            "refresh_user_model_scores", {"after_user_id": after_user_id, "max_users": max_users}
        )[0]


def _title_key_rows(item_type: ItemType, rows: Sequence[Row]) -> list[Row]:
    """The phonetic title and people keys of upserted rows (issue 12): computed here, on the one path every ingest
    and the demo loader share, because the transliteration library is Python."""
    from cinelibre.text import (
        SEARCH_KEYS_VERSION,
        book_people_keys,
        book_title_keys,
        movie_people_keys,
        movie_title_keys,
    )

    if item_type == "movie":
        return [
            {
                "item_type": "movie", "external_id": str(row["tmdb_id"]), "title_keys": movie_title_keys(row),
                "people_keys": movie_people_keys(row), "keys_version": SEARCH_KEYS_VERSION,
            }
            for row in rows
        ]
    return [
        {
            "item_type": "book", "external_id": row["google_id"], "title_keys": book_title_keys(row),
            "people_keys": book_people_keys(row), "keys_version": SEARCH_KEYS_VERSION,
        }
        for row in rows
    ]
