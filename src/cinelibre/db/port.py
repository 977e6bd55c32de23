"""The database port: every operation the functions need, one method each.

Every method is one SQL function (a Supabase RPC) defined in `supabase/migrations/`; both adapters call
the very same functions by name with named arguments, so rows look the same whichever adapter serves them:
plain JSON-like dicts (dates and timestamps as ISO strings, numbers as int/float, no embedding vectors).

Errors: adapters raise the project's own types from `cinelibre.errors`: `ConflictError` (unique violation),
`NotFoundError` (unknown item or row), `ValidationError` (a value the schema refuses),
`DatabaseUnavailableError` (cannot connect, timeout), `DatabaseError` (anything else).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

Row = dict[str, Any]
ItemType = Literal["movie", "book"]
ItemTypeFilter = Literal["movie", "book", "all"]
InteractionKind = Literal["view", "click", "search"]
SourceName = Literal["tmdb", "google_books"]


@runtime_checkable
class Database(Protocol):
    # -- health -------------------------------------------------------------------------------------------
    def health(self) -> Row:
        """{"movies": n, "books": n, "embedded_movies": n, "embedded_books": n, "schema_version": "..."}."""
        ...

    # -- users ---------------------------------------------------------------------------------------------
    def create_user(self, *, email: str, password_hash: str, name: str) -> Row:
        """Insert a user (email already normalised). Row: id (uuid str), email, name, created_at.
        Raises ConflictError when the email exists, also under concurrent registration."""
        ...

    def get_user_credentials(self, *, email: str) -> Row | None:
        """id, email, name, password_hash, created_at, or None."""
        ...

    def get_user(self, *, user_id: str) -> Row | None:
        """id, email, name, created_at, or None (no password hash)."""
        ...

    # -- catalog -------------------------------------------------------------------------------------------
    def get_movie(self, *, movie_id: int) -> Row | None:
        """Full stored details: id, tmdb_id, title, original_title, overview, release_date, year,
        original_language, genres, director, cast_members (list of {name, character}), crew (list of
        {name, job}), runtime, popularity, vote_average, vote_count, poster_url, created_at, updated_at."""
        ...

    def get_book(self, *, book_id: int) -> Row | None:
        """id, google_id, title, subtitle, authors, description, categories, published_date, year, language,
        page_count, isbn_10, isbn_13, thumbnail_url, publisher, average_rating, ratings_count, timestamps."""
        ...

    def list_movies(
        self, *, language: str | None, genre: str | None, year_from: int | None, year_to: int | None,
        limit: int, offset: int,
    ) -> tuple[list[Row], int]:
        """A page of movie summaries (id, title, year, original_language, genres, director, poster_url,
        vote_average, popularity) ordered by popularity, and the total count matching the filters."""
        ...

    def list_books(
        self, *, language: str | None, category: str | None, year_from: int | None, year_to: int | None,
        limit: int, offset: int,
    ) -> tuple[list[Row], int]:
        """A page of book summaries (id, title, authors, year, language, categories, thumbnail_url)."""
        ...

    def match_movies(
        self, *, query_embedding: Sequence[float], threshold: float, count: int, language: str | None = None,
        genre: str | None = None, year_from: int | None = None, year_to: int | None = None,
    ) -> list[Row]:
        """Nearest movies by cosine distance through the HNSW index; summary columns plus `similarity`
        (1 - cosine distance), best first, only those with similarity >= threshold; count capped at 200."""
        ...

    def match_books(
        self, *, query_embedding: Sequence[float], threshold: float, count: int, language: str | None = None,
        category: str | None = None, year_from: int | None = None, year_to: int | None = None,
    ) -> list[Row]:
        """As match_movies, for books."""
        ...

    def search_titles(
        self, *, query: str, item_type: ItemTypeFilter, count: int, language: str | None = None,
        genre: str | None = None, category: str | None = None, year_from: int | None = None,
        year_to: int | None = None,
    ) -> list[Row]:
        """Lexical title match (trigram word similarity, so "Bahubali" finds "Baahubali: The Beginning"):
        item_id, item_type, title, year, image_url, title_similarity; best first. Filters as match_movies
        (genre) and match_books (category); language and years for both."""
        ...

    def get_similar_items(self, *, item_id: int, target_type: ItemType, count: int) -> list[Row]:
        """Items of `target_type` nearest to the item's embedding (the item itself excluded): item_id,
        item_type, title, year, image_url, similarity. NotFoundError when the item does not exist."""
        ...

    # -- ratings and interactions --------------------------------------------------------------------------
    def upsert_rating(self, *, user_id: str, item_id: int, rating: float) -> Row:
        """Create or update the user's rating of the item (one row per user and item). Row: id, item_id,
        item_type, rating, created_at, updated_at, created (bool: a new row). NotFoundError for an unknown
        item; ValidationError for a rating outside 0.5..5.0 or not a multiple of 0.5."""
        ...

    def list_user_ratings(
        self, *, user_id: str, item_type: ItemTypeFilter, limit: int, offset: int
    ) -> tuple[list[Row], int]:
        """The user's ratings, newest first: id, item_id, item_type, title, year, image_url, rating,
        created_at, updated_at; and the total count."""
        ...

    def delete_rating(self, *, user_id: str, rating_id: int) -> bool:
        """True when the user's own rating was deleted; False when it does not exist or is not theirs."""
        ...

    def record_interaction(
        self, *, user_id: str, kind: InteractionKind, item_id: int | None, query: str | None
    ) -> Row:
        """id, kind, item_id, query, created_at. view/click need an item; search needs a query.
        NotFoundError for an unknown item."""
        ...

    # -- recommendations -----------------------------------------------------------------------------------
    def get_popular_items(
        self, *, item_type: ItemTypeFilter, count: int, exclude_user_id: str | None = None
    ) -> list[Row]:
        """item_id, item_type, title, year, image_url, rating_count, average_rating, recent_count (ratings
        and interactions in the last 30 days), score. Ranked by our rating count (most rated first), ties
        broken by a damped (Bayesian) average: each item's prior is the source's own vote average (damped
        by its vote count), updated by our ratings with weight 10. With `exclude_user_id`, leaves out what
        that user rated."""
        ...

    def get_content_recommendations(
        self, *, user_id: str, item_type: ItemTypeFilter, count: int, min_rating: float = 4.0
    ) -> list[Row]:
        """Nearest items to the embeddings of what the user rated >= min_rating (or, with no such rating,
        their best-rated items), never one they rated and one entry per title, ties broken by item id:
        item_id, item_type, title, year, image_url, similarity, because_item_id, because_title,
        because_rating (the liked item nearest to this one, for the reason shown to people)."""
        ...

    def count_user_ratings(self, *, user_id: str) -> int:
        ...

    # -- ingest --------------------------------------------------------------------------------------------
    def get_content_hashes(self, *, source: SourceName, external_ids: Sequence[str]) -> dict[str, str]:
        """{external_id: content_hash} for the ids already stored (tmdb_id as str, or google_id)."""
        ...

    def upsert_movies(self, *, movies: Sequence[Row], demo: bool = False) -> dict[str, int]:
        """Insert or update by tmdb_id in one statement. Each row holds the movie columns (release_date
        "YYYY-MM-DD" or None, and release_year for a title whose full date is unknown) plus `embedding`
        (list of 384 floats, or None to keep the stored one) and `content_hash`. Returns {"inserted": n, "updated": n,
        "unchanged": n}; a row whose content and figures are unchanged is not rewritten."""
        ...

    def upsert_books(self, *, books: Sequence[Row], demo: bool = False) -> dict[str, int]:
        """As upsert_movies, by google_id; a book whose ISBN-13 is already stored under another volume id
        counts as unchanged and is not inserted again."""
        ...

    def refresh_movie_figures(self, *, movies: Sequence[Row]) -> dict[str, int]:
        """Update popularity, vote figures and poster of stored movies (by tmdb_id) whose text is unchanged,
        leaving their credits alone. Returns {"updated": n, "unchanged": n}."""
        ...

    def start_ingest_run(self, *, source: str, trigger: str, abandon_after_s: float = 960.0) -> Row:
        """Record a run: {"id": run_id, "checkpoint": the last saved checkpoint for `source` or None,
        "abandoned_run_ids": runs of `source` still `running` with no heartbeat for `abandon_after_s`, now
        closed as `abandoned`}."""
        ...

    def save_ingest_checkpoint(self, *, run_id: int, source: str, checkpoint: Row | None, stats: Row) -> None:
        """Persist progress so the next run resumes there; stats are the run's counters so far."""
        ...

    def finish_ingest_run(
        self, *, run_id: int, status: Literal["succeeded", "partial", "failed"], stats: Row,
        checkpoint: Row | None, error: str | None,
    ) -> None:
        ...

    # -- accounts under attack (issue 10) -------------------------------------------------------------
    def take_rate_limit_tokens(self, *, buckets: Sequence[tuple[str, int, float]]) -> list[Row]:
        """Take one token from each (key, burst, period_s) bucket atomically, across every instance:
        rows bucket_key, allowed, retry_after_s (0 when allowed)."""
        ...

    def prune_rate_limit_buckets(self) -> int:
        ...

    def register_user(self, *, email: str, password_hash: str, name: str, confirmed: bool) -> Row:
        """As create_user, plus email_confirmed_at (set now when `confirmed`). ConflictError when taken."""
        ...

    def get_auth_account(self, *, email: str | None = None, user_id: str | None = None) -> Row | None:
        """id, email, name, password_hash, created_at, email_confirmed_at, disabled_at; by email or by id."""
        ...

    def start_auth_session(self, *, user_id: str, refresh_token_hash: str, ttl_s: int) -> str:
        """A new session with its first refresh token (stored as its SHA-256 hex); the session id."""
        ...

    def check_auth_session(self, *, session_id: str, user_id: str) -> bool:
        """True while the session is live and its account exists and is not disabled."""
        ...

    def rotate_refresh_token(
        self, *, presented_hash: str, next_hash: str, next_wrapped: str, reuse_grace_s: float,
        owner_limit: tuple[int, float] | None = None,
    ) -> Row:
        """outcome (rotated, reissued, unknown, revoked, reused_recently, reuse_detected, rate_limited),
        session_id, user_id; when rotated or reissued the account's email, name, created_at; when reissued the
        successor's successor_hash and successor_wrapped (see the migration); when rate_limited retry_after_s.
        `owner_limit` (burst, period in seconds) is the per-account refresh limit, taken in the same call."""
        ...

    def revoke_auth_sessions(
        self, *, user_id: str, reason: str, session_id: str | None = None, keep_session_id: str | None = None
    ) -> int:
        """Revoke one session, or all the user's live sessions but `keep_session_id`; how many."""
        ...

    def set_user_password(self, *, user_id: str, password_hash: str, keep_session_id: str | None) -> bool:
        """New hash; every other session revoked, unused reset tokens void. False for an unknown user."""
        ...

    def issue_email_token(self, *, user_id: str, purpose: str, token_hash: str, ttl_s: int) -> None:
        """Store a single-use token (replacing an unused one of the same purpose)."""
        ...

    def confirm_email(self, *, token_hash: str) -> Row | None:
        """Use a confirmation token: the account (id, email, name, created_at), or None if unknown, used
        or expired."""
        ...

    def reset_password(self, *, token_hash: str, password_hash: str) -> str | None:
        """Use a reset token: set the password, revoke every session; the user id, or None."""
        ...

    def delete_user(self, *, user_id: str) -> bool:
        """Delete the account with its ratings, interactions, sessions and tokens; False if unknown."""
        ...

    # -- ingest operations (issue 11) ------------------------------------------------------------------------
    def ingest_heartbeat(self, *, run_id: int) -> None:
        """Say the run is alive between checkpoints (a checkpoint says so too)."""
        ...

    def list_ingest_retries(self, *, source: str, limit: int = 100) -> list[Row]:
        """Pages and items earlier runs lost, oldest first: kind ("page"/"item"), retry_key, position, label,
        reason, attempts."""
        ...

    def record_ingest_retry(
        self, *, source: str, kind: Literal["page", "item"], key: str, position: Row, label: str, reason: str,
        run_id: int | None,
    ) -> int:
        """Keep a lost page or item for the next run (or count one more failed attempt); returns attempts."""
        ...

    def clear_ingest_retry(self, *, source: str, kind: Literal["page", "item"], key: str) -> None:
        """Forget a lost page or item once a run has fetched it (or given up on it)."""
        ...

    # -- multilingual search (issue 12)
    def search_lexical(
        self, *, query: str, query_key: str, item_type: ItemTypeFilter, count: int, language: str | None = None,
        genre: str | None = None, category: str | None = None, year_from: int | None = None,
        year_to: int | None = None, rank_weights: Sequence[float] | None = None, query_sound: str | None = None,
        query_spoken_key: str | None = None,
    ) -> list[Row]:
        """The title ranking (trigram similarity of the query's phonetic key to the title keys, or of the
        query to the title, or of `query_sound` to the titles' sounds), the people ranking (the key, or
        `query_spoken_key` when given, to the people keys) and the full-text ranking, up to `count` each,
        in one call. Each row has the full hit shape (item_id, item_type, title, year, image_url, language,
        genres, director, overview, authors, categories) and title_similarity, title_coverage (None when
        not a title match), text_rank, text_coverage (None when not a full-text match) and
        people_similarity (None when not a people match). Filters as search_titles; rank_weights are
        ts_rank's weights of overview, genres, people and titles (None: the SQL default)."""
        ...

    def set_title_keys(self, *, rows: Sequence[Row]) -> int:
        """Store the title keys (cinelibre.text) of upserted items: rows of item_type, external_id (tmdb_id
        or google_id), title_keys and (optional) people_keys. Returns how many items changed."""
        ...

    # -- trained recommender model (issue 9) -----------------------------------------------------------------
    def get_training_ratings(self, *, after_rating_id: int, page_size: int) -> Row:
        """One page of ratings with ids above `after_rating_id`, in id order, as parallel lists:
        {"last_rating_id": int | None, "user_ids": [...], "item_ids": [...], "ratings": [...]}."""
        ...

    def begin_recommender_model(
        self, *, algorithm: str, liked_rating: float, neutral_rating: float, neutral_weight: float,
        global_mean: float, user_reg: float, prediction_shrinkage: float | None, params: Row,
    ) -> int:
        """A new model version in status 'building'; its number."""
        ...

    def save_item_neighbours(
        self, *, model_version: int, item_ids: Sequence[int], neighbour_ids: Sequence[int],
        weights: Sequence[float],
    ) -> int:
        """Add rows to a version being built (rows of deleted items are skipped); how many were saved."""
        ...

    def save_item_biases(self, *, model_version: int, item_ids: Sequence[int], biases: Sequence[float]) -> int:
        ...

    def activate_recommender_model(self, *, model_version: int, stats: Row) -> Row:
        """Mark the version ready with `stats` (item_count, user_count, rating_count, train_seconds,
        peak_memory_bytes, metrics) and make it the one every reader uses, atomically; older versions but the
        one replaced are deleted. Row: model_version, previous_version, neighbour_count, deleted_versions."""
        ...

    def fail_recommender_model(self, *, model_version: int, error: str) -> None:
        """Drop a version's rows and record why it failed; the active model is untouched."""
        ...

    def get_active_recommender_model(self) -> Row | None:
        """The active version's record (version, algorithm, counts, params, metrics, ...), or None."""
        ...

    def get_model_recommendations(self, *, user_id: str, item_type: ItemTypeFilter, count: int) -> list[Row]:
        """The active model's top items for the user's current ratings, never one they rated and one entry
        per title: item_id, item_type, title, year, image_url, score, predicted_rating (or None),
        because_item_ids and because_titles (the up to two rated items that contributed most),
        model_version, algorithm. Empty when no model is active or it knows none of the user's items."""
        ...

    def predict_user_ratings(self, *, user_id: str, item_ids: Sequence[int]) -> dict[int, float | None]:
        """The active model's predicted rating of each item (at most 1,000) for the user; None for an item
        the model does not know; {} when no model is active."""
        ...

    # -- online evaluation of recommendations (issue 9) ----------------------------------------------------
    def record_recommendation_impressions(self, *, user_id: str, impressions: Sequence[Row]) -> int:
        """Record the items of one list the user was shown: each {item_id, method, model_version (or None),
        position (1 = top)}, at most 100. An item deleted meanwhile is skipped. Returns how many were recorded."""
        ...

    def get_recommendation_performance(self, *, days: int = 30) -> list[Row]:
        """Per UTC day (newest first, the last `days` days, at most 366), method and model version: day,
        method, model_version, impressions (distinct user-item pairs shown), users, engaged (viewed or
        clicked within 24 hours), click_through_rate, rated (within 7 days), rating_rate,
        mean_rating_after, liked (rated >= 4)."""
        ...

    # -- accounts under attack (session 2, issue 10) --------------------------------------------------------
    def request_password_reset(self, *, email: str, token_hash: str, ttl_s: int) -> Row | None:
        """For a live account with this address: replace its unused reset token with `token_hash`; the
        account's user_id and email, or None (unknown or disabled address). One call either way."""
        ...

    # -- search latency and key backfill (session 3, issue 12) ---------------------------------------------
    def get_stale_search_key_rows(self, *, after_item_id: int, page_size: int, keys_version: int) -> list[Row]:
        """Up to `page_size` (at most 1,000) movies and books, in item id order after `after_item_id`, whose
        search keys are missing or made by a version older than `keys_version`: item_id, item_type,
        external_id, content_hash, and what the keys are made of (title, original_title, subtitle, director,
        cast_members, authors)."""
        ...

    def count_stale_search_keys(self, *, keys_version: int) -> list[Row]:
        """Per item type: stale (keys missing or older than `keys_version`) and total rows."""
        ...

    def match_items(
        self, *, query_embedding: Sequence[float], count: int, item_type: ItemTypeFilter = "all",
        language: str | None = None, genre: str | None = None, category: str | None = None,
        year_from: int | None = None, year_to: int | None = None,
    ) -> list[Row]:
        """The `count` (at most 200) nearest movies and the `count` nearest books (as `item_type` asks) in one
        call, movies first, each kind by descending cosine similarity: item_id, item_type, title, year,
        image_url, language, genres, director, overview, authors, categories, similarity. `genre` filters
        movies and `category` books, as in match_movies and match_books."""
        ...

    # -- personalized recommendations in fewer round trips (session 3, issue 9) ---------------------------
    def get_personalized_start(
        self, *, user_id: str, session_id: str, item_type: ItemTypeFilter, count: int
    ) -> Row:
        """What GET /recommendations/personalized needs first, in one call: {"session_live": False} when the
        access token's session is no longer live (as check_auth_session), else {"session_live": True,
        "rating_count": count_user_ratings, "model_items": get_model_recommendations' rows (None when the
        user has no ratings)}."""
        ...

    # -- recommendations: new releases for model users (session 3, issue 9) -------------------------------
    def get_new_item_recommendations(
        self, *, user_id: str, item_type: ItemTypeFilter, count: int, min_rating: float = 4.0,
        min_similarity: float = 0.5,
    ) -> list[Row]:
        """Items the active model does not know (no training rating: new releases) nearest to the embeddings of
        what the user liked, at least `min_similarity` (cosine) close, never one they rated and one entry per
        title, at most 20; the same columns as `get_content_recommendations`. Empty when no model is active."""
        ...

    # -- serving latency for heavy users: the per-user score cache (session 5, issue 9) -------------------
    def refresh_user_model_scores(self, *, after_user_id: str | None = None, max_users: int = 20) -> Row:
        """Sum the cached score vectors of heavy users (model_score_cache_min_ratings() ratings or more) that are
        missing or of another version, for the active model: at most `max_users` (at most 200) users after
        `after_user_id` in user id order, in one transaction. Row: model_version (None when no model is
        active), refreshed (rows summed), heavy_users (users visited), next_user_id (pass it back to go on;
        None when every heavy user was visited)."""
        ...
