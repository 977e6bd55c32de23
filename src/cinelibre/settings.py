"""Settings: one pydantic-settings class, built lazily by the cached `get_settings()`.

Secrets in Lambda come from SSM Parameter Store or Secrets Manager: a `*_parameter` setting names the
parameter (``ssm:/cinelibre/jwt-secret`` or ``secretsmanager:cinelibre/jwt``) and `get_settings()`
resolves it once per cold start through Powertools `parameters`.
"""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CINELIBRE_", extra="ignore", frozen=True)

    environment: Environment = Field(
        Environment.DEVELOPMENT, validation_alias=_alias("CINELIBRE_ENV", "CINELIBRE_ENVIRONMENT")
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
    db_connect_timeout_s: float = 5.0
    # Supabase cuts statements at 8 s (anon/authenticated) or so; fail sooner than the client default of 120 s.
    db_statement_timeout_s: float = 8.0

    # Embedding model (the Lambda layer appears under /opt).
    model_path: Path = Field(default_factory=_default_model_path)
    embed_threads: int = Field(1, ge=1, le=64)
    embed_batch_size: int = Field(8, ge=1, le=256)

    # Auth
    jwt_secret: SecretStr | None = Field(None, validation_alias=_alias("JWT_SECRET", "CINELIBRE_JWT_SECRET"))
    jwt_secret_parameter: str | None = None
    jwt_ttl_s: int = Field(7 * 24 * 3600, ge=60)
    jwt_issuer: str = "cinelibre"
    jwt_audience: str = "cinelibre-api"
    bcrypt_rounds: int = Field(12, ge=10, le=16)
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()

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
        if self.environment is Environment.PRODUCTION and "*" in self.cors_origins:
            raise ValueError("CINELIBRE_CORS_ORIGINS must list origins in production, not '*'")
        return self

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
        if len(secret.encode()) < MIN_SECRET_BYTES and not self.is_development:
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
    resolved: dict[str, object] = {}
    for field, parameter_field in _SECRET_PARAMETERS.items():
        reference = getattr(settings, parameter_field)
        if reference and getattr(settings, field) is None:
            resolved[field] = SecretStr(_fetch_secret(reference))
    if resolved:
        settings = settings.model_copy(update=resolved)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use (never at import time). Tests call `cache_clear()`."""
    return load_settings()
