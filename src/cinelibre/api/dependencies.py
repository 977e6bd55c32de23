"""FastAPI dependencies. Tests and the local server override them through `app.dependency_overrides`."""

from __future__ import annotations

import ipaddress
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cinelibre.auth.tokens import AccessClaims, TokenService
from cinelibre.db import built_database, get_database
from cinelibre.db.port import Database
from cinelibre.errors import AuthenticationError
from cinelibre.settings import Settings

_bearer = HTTPBearer(auto_error=False, description="The access token from POST /auth/login")


# Dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency on a worker thread, one
# hop per dependency per request, and under Mangum each invocation starts its worker threads afresh
# (issue 12, session 5: most of the handler's time outside the search itself).
async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_db(settings: Annotated[Settings, Depends(get_app_settings)]) -> Database:
    # Cached per container (per settings): warm invocations reuse the client and its connection. Building it
    # may start and migrate the embedded server (development), so the first call runs on a worker thread.
    database = built_database(settings)
    return database if database is not None else await run_in_threadpool(get_database, settings)


def get_token_service(request: Request) -> TokenService:
    return request.app.state.tokens


def client_ip(request: Request, trusted_proxy_hops: int) -> str | None:
    """The client's address. Behind a Function URL or API Gateway it is the request context's sourceIp (which
    Mangum puts in `request.client`); X-Forwarded-For is anyone's to write, so it counts only when a trusted
    proxy in front of us appends to it, and then only the entry that proxy wrote."""
    if trusted_proxy_hops > 0:
        forwarded = [part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()]
        if len(forwarded) >= trusted_proxy_hops:
            candidate = forwarded[-trusted_proxy_hops]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                pass
    return request.client.host if request.client else None


async def get_client_ip(request: Request, settings: Annotated[Settings, Depends(get_app_settings)]) -> str | None:
    return client_ip(request, settings.trusted_proxy_hops)


SESSION_ENDED = "the session has ended or the account no longer exists; sign in again"


def get_signed_claims(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    tokens: Annotated[TokenService, Depends(get_token_service)],
) -> AccessClaims:
    """The claims of a well-signed, unexpired token that names a session, WITHOUT asking the database whether
    that session is still live. Only for a route whose own first database call checks the session in the same
    round trip (and refuses with SESSION_ENDED); every other route takes `get_access_claims`."""
    if credentials is None:
        raise AuthenticationError("a bearer token is required (Authorization: Bearer <token>)")
    claims = tokens.verify(credentials.credentials)
    if claims.session_id is None:
        raise AuthenticationError("this token has no session; sign in again")
    return claims


def get_access_claims(
    claims: Annotated[AccessClaims, Depends(get_signed_claims)],
    database: Annotated[Database, Depends(get_db)],
) -> AccessClaims:
    """A valid signature is not enough: the token's session must still be live and its account usable
    (one indexed lookup), so logout, a password change or a deleted account take effect at once."""
    # (session_id is never None here: get_signed_claims refuses such a token.)
    if claims.session_id is None or not database.check_auth_session(
        session_id=claims.session_id, user_id=claims.user_id
    ):
        raise AuthenticationError(SESSION_ENDED)
    return claims


def get_current_user_id(claims: Annotated[AccessClaims, Depends(get_access_claims)]) -> str:
    return claims.user_id


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
CurrentUserId = Annotated[str, Depends(get_current_user_id)]
CurrentClaims = Annotated[AccessClaims, Depends(get_access_claims)]
ClientIp = Annotated[str | None, Depends(get_client_ip)]
# Personalized recommendations check the session in their own first database call (session 3, issue 9).
SignedClaims = Annotated[AccessClaims, Depends(get_signed_claims)]
