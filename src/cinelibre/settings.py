"""Settings: one pydantic-settings class, built lazily by the cached `get_settings()`.

Secrets in Lambda come from SSM Parameter Store or Secrets Manager: a `*_parameter` setting names the
parameter (``ssm:/cinelibre/jwt-secret`` or ``secretsmanager:cinelibre/jwt``) and `get_settings()`
resolves it once per cold start through Powertools `parameters`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import AliasChoices, BeforeValidator, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cinelibre import snapstart
from cinelibre.errors import ConfigurationError

SOURCE_ROOT = Path(__file__).resolve().parents[2]
LAMBDA_MODEL_PATH = Path("/opt/model")
MIN_SECRET_BYTES = 32
DEVELOPMENT_JWT_SECRET = "cinelibre-development-only-secret-change-me!!"  # noqa: S105 (refused outside development)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "cinelibre"


def _default_model_path() -> Path:
    if LAMBDA_MODEL_PATH.exists():
        return LAMBDA_MODEL_PATH
    return SOURCE_ROOT / "layers" / "model" / "build" / "model"


def _alias(*names: str) -> AliasChoices:
    return AliasChoices(*names)


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """At most `requests` per `period_s` seconds (a burst of `requests`, refilled evenly); None means off."""

    requests: int
    period_s: float

    def __str__(self) -> str:
        return f"{self.requests}/{self.period_s:g}"


def _parse_rate_limit(value: object) -> object:
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("off", "none", "0"):
            return None
        requests, _, seconds = text.partition("/")
        try:
            limit = RateLimitRule(int(requests), float(seconds))
        except ValueError:
            raise ValueError(f"a rate limit is '<requests>/<seconds>' or 'off', not {value!r}") from None
        if limit.requests < 1 or limit.period_s <= 0:
            raise ValueError(f"a rate limit needs requests >= 1 and seconds > 0, not {value!r}")
        return limit
    return value


RateLimitSetting = Annotated[RateLimitRule | None, BeforeValidator(_parse_rate_limit)]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CINELIBRE_", extra="ignore", frozen=True)

    # Fail closed: a process that does not say it is in development runs as production.
    environment: Environment = Field(
        Environment.PRODUCTION, validation_alias=_alias("CINELIBRE_ENV", "CINELIBRE_ENVIRONMENT")
    )
    service_name: str = Field("cinelibre", validation_alias=_alias("POWERTOOLS_SERVICE_NAME"))

    # Database: Supabase (PostgREST) if configured, else DATABASE_URL, else the embedded PostgreSQL.
    supabase_url: str | None = Field(None, validation_alias=_alias("SUPABASE_URL", "CINELIBRE_SUPABASE_URL"))
    supabase_service_role_key: SecretStr | None = Field(
        None, validation_alias=_alias("SUPABASE_SERVICE_ROLE_KEY", "CINELIBRE_SUPABASE_SERVICE_ROLE_KEY")
    )
    supabase_service_role_key_parameter: str | None = None
    database_url: SecretStr | None = Field(None, validation_alias=_alias("DATABASE_URL", "CINELIBRE_DATABASE_URL"))
    database_url_parameter: str | None = None
    data_dir: Path = Field(default_factory=_default_data_dir)
    # An outage answers 503 within about this long instead of holding the request (issue 10).
    db_connect_timeout_s: float = Field(2.0, gt=0, le=30)
    db_pool_timeout_s: float = Field(1.0, gt=0, le=30)
    # Supabase cuts statements at 8 s (anon/authenticated) or so; fail sooner than the client default of 120 s.
    db_statement_timeout_s: float = 8.0

    # Embedding model (the Lambda layer appears under /opt).
    model_path: Path = Field(default_factory=_default_model_path)
    embed_threads: int = Field(1, ge=1, le=64)
    embed_batch_size: int = Field(8, ge=1, le=256)

    # Auth
    jwt_secret: SecretStr | None = Field(None, validation_alias=_alias("JWT_SECRET", "CINELIBRE_JWT_SECRET"))
    jwt_secret_parameter: str | None = None
    # Access tokens are short-lived (GoTrue's default is one hour); sessions live on through refresh tokens.
    jwt_ttl_s: int = Field(3600, ge=60, le=24 * 3600)
    jwt_issuer: str = "cinelibre"
    jwt_audience: str = "cinelibre-api"
    bcrypt_rounds: int = Field(12, ge=10, le=16)
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

    # -- accounts under attack (issue 10) --------------------------------------------------------------
    # A refresh token's session lasts this long without a new sign-in (GoTrue: no limit; we cap it).
    session_ttl_s: int = Field(30 * 24 * 3600, ge=3600)
    # Two tabs refreshing with the same token at once: both get the session's newest refresh token, as GoTrue
    # answers within its 10 s reuse interval; after it, a used token revokes its whole session.
    refresh_reuse_grace_s: float = Field(10.0, ge=0, le=300)
    # None: true in production, false in development and test (GoTrue's autoconfirm trade-off).
    require_email_confirmation: bool | None = None
    email_confirmation_ttl_s: int = Field(24 * 3600, ge=300)
    password_reset_ttl_s: int = Field(3600, ge=300, le=24 * 3600)
    # "ses" or "outbox" (files under <data_dir>/outbox); None: ses in production, outbox elsewhere.
    email_sender: Literal["ses", "outbox"] | None = None
    email_from: str | None = None
    # Where the links in emails point (the web app); the token is appended as ?token=...
    email_link_base_url: str | None = None
    ses_region: str | None = None
    # Rate limits, "<requests>/<seconds>" or "off"; shared by every instance through PostgreSQL.
    # Defaults start from GoTrue's: 30 sign-ins per 5 minutes per IP, 150 token refreshes per 5 minutes.
    # "Per account" is the account's address for registration, sign-in and reset requests (the same for an
    # address with or without an account, so a 429 reveals nothing) and the session's owner for refreshes.
    rate_limits_enabled: bool = True
    rate_limit_login_per_ip: RateLimitSetting = RateLimitRule(30, 300)
    rate_limit_login_per_account: RateLimitSetting = RateLimitRule(10, 300)
    rate_limit_register_per_ip: RateLimitSetting = RateLimitRule(30, 300)
    rate_limit_email_per_account: RateLimitSetting = RateLimitRule(4, 3600)
    rate_limit_password_reset_per_ip: RateLimitSetting = RateLimitRule(30, 300)
    rate_limit_verify_per_ip: RateLimitSetting = RateLimitRule(30, 300)
    rate_limit_refresh_per_ip: RateLimitSetting = RateLimitRule(150, 300)
    rate_limit_search_per_ip: RateLimitSetting = RateLimitRule(120, 60)
    # Per-account limits (session 2): a client refreshing every access-token lifetime uses 1 in 5 minutes.
    rate_limit_register_per_account: RateLimitSetting = RateLimitRule(10, 3600)
    rate_limit_password_reset_per_account: RateLimitSetting = RateLimitRule(5, 3600)
    rate_limit_refresh_per_account: RateLimitSetting = RateLimitRule(30, 300)
    # Requests that may or may not send an email (password forgot, confirmation resend) answer no sooner than
    # this after they pass the rate limits, so a slow email send does not tell a registered address from an
    # unknown one. Above the email provider's usual latency (SES: tens of ms); 0 turns it off.
    email_request_min_duration_s: float = Field(0.4, ge=0, le=5)
    # How many X-Forwarded-For hops to trust (0: the client is the connection's peer, Lambda's sourceIp).
    trusted_proxy_hops: int = Field(0, ge=0, le=5)
    # Concurrent bcrypt computations per instance; excess requests wait this long, then get 503.
    bcrypt_concurrency: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), ge=1, le=64)
    bcrypt_queue_timeout_s: float = Field(2.0, ge=0, le=30)
    # zxcvbn score (0-4) a new password needs; 3 refuses every common password and most guessable ones.
    password_min_score: int = Field(3, ge=0, le=4)
    max_body_bytes: int = Field(1_000_000, ge=1024, le=20_000_000)
    # /docs, /redoc and /openapi.json: None means on outside production only.
    api_docs: bool | None = None

    # Ingest sources
    tmdb_base_url: str = "https://api.themoviedb.org/3"
    tmdb_image_base_url: str = "https://image.tmdb.org/t/p/w500"
    tmdb_api_key: SecretStr | None = Field(None, validation_alias=_alias("TMDB_API_KEY", "CINELIBRE_TMDB_API_KEY"))
    tmdb_api_key_parameter: str | None = None
    tmdb_requests_per_second: float = Field(20.0, gt=0, le=40)
    google_books_base_url: str = "https://www.googleapis.com/books/v1"
    google_books_api_key: SecretStr | None = Field(
        None, validation_alias=_alias("GOOGLE_BOOKS_API_KEY", "CINELIBRE_GOOGLE_BOOKS_API_KEY")
    )
    google_books_api_key_parameter: str | None = None
    google_books_requests_per_second: float = Field(5.0, gt=0, le=20)
    google_books_lang: str | None = "en"
    ingest_languages: Annotated[tuple[str, ...], NoDecode] = ("en", "hi", "te", "ta", "kn", "ml", "bn", "mr")
    # How deep each crawl goes per daily cycle: TMDB pages per (language, ordering, years) slice (TMDB itself
    # stops at 500) and Google Books pages of 40 per subject.
    ingest_tmdb_pages_per_slice: int = Field(25, ge=1, le=500)
    ingest_books_pages_per_subject: int = Field(10, ge=1, le=100)
    # Seconds kept in hand before the Lambda deadline to save the checkpoint and the run record.
    ingest_deadline_margin_s: float = Field(30.0, ge=1)

    # Original FlickPage client compatibility (issue 15): "flickpage" switches the few answers whose original
    # shape conflicts with ours (docs/flickpage.md); the additive aliases are always on.
    api_compat: Literal["none", "flickpage"] = "none"

    # Ingest operations (issue 11): a run still `running` with no heartbeat for this long belongs to a process
    # that died (the Lambda maximum is 900 s; a live run beats at least every minute), and is closed as
    # `abandoned` by the next run of its source.
    ingest_abandon_after_s: float = Field(960.0, ge=120, le=86400)
    # Details requests in flight at once; the per-source request-rate ceiling still sets the pace.
    ingest_detail_concurrency: int = Field(8, ge=1, le=32)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        if isinstance(data, dict):
            for key in ("cors_origins", "ingest_languages", "CINELIBRE_CORS_ORIGINS", "CINELIBRE_INGEST_LANGUAGES"):
                if key in data:
                    data[key] = _split_csv(data[key])
        return data

    @model_validator(mode="after")
    def _refuse_unsafe_outside_development(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            for origin in ("*", "null"):
                if origin in (value.lower() for value in self.cors_origins):
                    raise ValueError(f"CINELIBRE_CORS_ORIGINS must list real origins in production, not {origin!r}")
        return self

    @property
    def email_confirmation_required(self) -> bool:
        if self.require_email_confirmation is not None:
            return self.require_email_confirmation
        return self.environment is Environment.PRODUCTION

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.is_development

    @property
    def email_sender_kind(self) -> str:
        return self.email_sender or ("ses" if self.environment is Environment.PRODUCTION else "outbox")

    @property
    def is_development(self) -> bool:
        return self.environment is not Environment.PRODUCTION

    def require_jwt_secret(self) -> str:
        """The signing secret. Outside development a missing or short secret stops the function."""
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else None
        if secret is None and self.is_development:
            return DEVELOPMENT_JWT_SECRET
        if secret is None:
            raise ConfigurationError("JWT_SECRET (or CINELIBRE_JWT_SECRET_PARAMETER) is not set")
        if not self.is_development:
            if secret == DEVELOPMENT_JWT_SECRET:
                raise ConfigurationError("JWT_SECRET is the published development secret; set a private one")
            if len(secret.encode()) < MIN_SECRET_BYTES:
                raise ConfigurationError(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return secret


_SECRET_PARAMETERS = {
    "jwt_secret": "jwt_secret_parameter",
    "database_url": "database_url_parameter",
    "supabase_service_role_key": "supabase_service_role_key_parameter",
    "tmdb_api_key": "tmdb_api_key_parameter",
    "google_books_api_key": "google_books_api_key_parameter",
}


def _fetch_secret(reference: str) -> str:
    """Resolve ``ssm:/name`` or ``secretsmanager:name`` (a bare name means SSM) through Powertools."""
    from aws_lambda_powertools.utilities import parameters

    store, _, name = reference.partition(":")
    if not name:
        store, name = "ssm", reference
    try:
        if store == "ssm":
            return parameters.get_parameter(name, decrypt=True, max_age=3600)
        if store == "secretsmanager":
            return parameters.get_secret(name, max_age=3600)
    except parameters.exceptions.GetParameterError as exc:
        raise ConfigurationError(f"cannot read secret parameter {name!r} from {store}: {exc}") from None
    raise ConfigurationError(f"unknown secret store {store!r} in {reference!r}; use ssm: or secretsmanager:")


def load_settings(**overrides: object) -> Settings:
    settings = Settings(**overrides)
    # -- SnapStart (issue 14): no secret may be captured in a snapshot; they are fetched after the restore.
    if snapstart.taking_snapshot():
        return settings
    resolved: dict[str, object] = {}
    for field, parameter_field in _SECRET_PARAMETERS.items():
        reference = getattr(settings, parameter_field)
        if reference and getattr(settings, field) is None:
            resolved[field] = SecretStr(_fetch_secret(reference))
    if resolved:
        settings = settings.model_copy(update=resolved)
    return settings


def assume_development() -> None:
    """For local tools (`cinelibre serve`, `invoke`, `demo`): development unless the environment says
    otherwise. Everything else, a Lambda above all, runs as production when CINELIBRE_ENV is missing."""
    if not (os.environ.get("CINELIBRE_ENV") or os.environ.get("CINELIBRE_ENVIRONMENT")):
        os.environ["CINELIBRE_ENV"] = Environment.DEVELOPMENT.value
        get_settings.cache_clear()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (never at import time). Tests call `cache_clear()`."""
    return load_settings()
