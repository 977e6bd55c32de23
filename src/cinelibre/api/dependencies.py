"""FastAPI dependencies. Tests and the local server override them through `app.dependency_overrides`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cinelibre.auth.tokens import TokenService
from cinelibre.db import get_database
from cinelibre.db.port import Database
from cinelibre.errors import AuthenticationError
from cinelibre.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="The access token from POST /auth/login")


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_db(settings: Annotated[Settings, Depends(get_app_settings)]) -> Database:
    # Cached per container (per settings): warm invocations reuse the client and its connection.
    return get_database(settings)


def get_token_service(request: Request) -> TokenService:
    return request.app.state.tokens


def get_current_user_id(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tokens: Annotated[TokenService, Depends(get_token_service)],
) -> str:
    if credentials is None:
        raise AuthenticationError("a bearer token is required (Authorization: Bearer <token>)")
    return tokens.subject(credentials.credentials)


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
CurrentUserId = Annotated[str, Depends(get_current_user_id)]
