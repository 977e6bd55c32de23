"""Fixtures shared by the API, auth, search and recommend tests: each function's handler built from the
core package exactly as `functions/<name>/app.py` builds it, with the test settings, and users with tokens.

Each client fixture depends on `db`, whose teardown empties every table after the test."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cinelibre.api.lambda_handler import make_handler
from cinelibre.auth.accounts import new_secret_token, token_hash
from cinelibre.auth.passwords import hash_password
from cinelibre.auth.tokens import TokenService
from tests.api.lambda_events import LambdaClient

PASSWORD = "correct horse battery"


@pytest.fixture
def auth_client(settings, db, lambda_context) -> LambdaClient:
    from cinelibre.api.auth import create_app

    return LambdaClient(make_handler(create_app(settings)), lambda_context)


@pytest.fixture
def recommend_client(settings, db, lambda_context) -> LambdaClient:
    from cinelibre.api.recommend import create_app

    return LambdaClient(make_handler(create_app(settings)), lambda_context)


@pytest.fixture
def search_client(settings, db, embedder, lambda_context) -> LambdaClient:
    from cinelibre.api.search import create_app

    return LambdaClient(make_handler(create_app(settings)), lambda_context)


@dataclass(frozen=True)
class ApiUser:
    id: str
    email: str
    token: str


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD, rounds=10)


@pytest.fixture
def make_user(db, settings, password_hash):
    """Create a user directly in the database (no bcrypt per user) with a live session, and issue a real
    access token for that session."""
    tokens = TokenService.from_settings(settings)

    def make(name: str = "ana") -> ApiUser:
        email = f"{name}@example.com"
        row = db.create_user(email=email, password_hash=password_hash, name=name.title())
        session_id = db.start_auth_session(
            user_id=row["id"], refresh_token_hash=token_hash(new_secret_token()), ttl_s=settings.session_ttl_s
        )
        return ApiUser(id=row["id"], email=email, token=tokens.issue(row["id"], session_id).token)

    return make
