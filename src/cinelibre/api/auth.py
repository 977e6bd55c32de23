"""The auth function: register, log in, and who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cinelibre.api import compat
from cinelibre.api.app import build_app, readiness_response
from cinelibre.api.dependencies import CurrentUserId, DatabaseDep, SettingsDep, get_token_service
from cinelibre.api.schemas import ERROR_RESPONSES
from cinelibre.auth.accounts import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, Accounts
from cinelibre.errors import AuthenticationError
from cinelibre.observability import logger
from cinelibre.settings import Settings, get_settings

NAME = "cinelibre-auth"
# Far above any usable password (72 bytes) yet small enough that nobody makes us hash megabytes.
MAX_PASSWORD_FIELD = 1024


class RegisterRequest(BaseModel):
    email: str = Field(min_length=3, max_length=MAX_EMAIL_LENGTH)
    password: str = Field(
        min_length=1,
        max_length=MAX_PASSWORD_FIELD,
        description="At least 8 characters and at most 72 bytes in UTF-8 (bcrypt's input limit)",
    )
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_FIELD)


class User(BaseModel):
    id: str
    email: str
    name: str
    created_at: datetime


class TokenResponse(compat.TokenAlias):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the token expires")
    user: User


router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


def _accounts(database: DatabaseDep, settings: Settings) -> Accounts:
    return Accounts(database, bcrypt_rounds=settings.bcrypt_rounds)


def _token_response(request: Request, user: dict) -> TokenResponse:
    issued = get_token_service(request).issue(user["id"])
    return TokenResponse(access_token=issued.token, expires_in=issued.expires_in, user=User(**user))


@router.post("/register", status_code=201, response_model=TokenResponse)
def register(
    body: RegisterRequest, request: Request, database: DatabaseDep, settings: SettingsDep
) -> TokenResponse:
    """Create an account and return a token for it. 409 when the email is taken (after normalisation:
    case and surrounding spaces do not make a new address)."""
    user = _accounts(database, settings).register(email=body.email, password=body.password, name=body.name)
    logger.info("user registered", extra={"user_id": user["id"]})
    return _token_response(request, user)


@router.post("/login", response_model=TokenResponse)
def login(
    body: LoginRequest, request: Request, database: DatabaseDep, settings: SettingsDep
) -> TokenResponse:
    """Exchange email and password for a token. One 401 for an unknown email and a wrong password."""
    try:
        user = _accounts(database, settings).authenticate(email=body.email, password=body.password)
    except AuthenticationError:
        logger.info("login refused")
        raise
    return _token_response(request, user)


@router.get("/me", response_model=User)
def me(user_id: CurrentUserId, database: DatabaseDep) -> User:
    user = database.get_user(user_id=user_id)
    if user is None:
        # A valid signature for an account that no longer exists: the token is worthless.
        raise AuthenticationError("the account for this token no longer exists")
    return User(**user)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = build_app(
        name=NAME,
        settings=settings,
        routers=[router],
        needs_tokens=True,
        description="Accounts and bearer tokens (JWT HS256).",
    )

    @app.get("/", tags=["health"])
    def root(database: DatabaseDep) -> JSONResponse:
        return readiness_response(NAME, {"database": database.health})

    return app
