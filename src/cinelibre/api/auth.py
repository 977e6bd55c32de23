"""The auth function: accounts, sessions (short access tokens + rotating refresh tokens), email confirmation,
password change and reset, and account deletion."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from cinelibre import snapstart
from cinelibre.api import compat
from cinelibre.api.app import build_app, readiness_response
from cinelibre.api.dependencies import (
    ClientIp,
    CurrentClaims,
    CurrentUserId,
    DatabaseDep,
    SettingsDep,
    get_token_service,
)
from cinelibre.api.schemas import ERROR_RESPONSES, ErrorResponse
from cinelibre.auth.accounts import MAX_EMAIL_LENGTH, MAX_NAME_LENGTH, AccountService, SessionTokens
from cinelibre.auth.email import EmailSender, email_sender_for
from cinelibre.auth.passwords import load_strength_checker
from cinelibre.auth.workgate import HashingGate
from cinelibre.errors import AuthenticationError
from cinelibre.settings import Settings, get_settings

NAME = "cinelibre-auth"
# Far above any usable password (72 bytes) yet small enough that nobody makes us hash megabytes.
MAX_PASSWORD_FIELD = 1024
MAX_TOKEN_FIELD = 200
CHOOSING_RULES = (
    "At least 8 characters and at most 72 bytes in UTF-8 (bcrypt's input limit), and not common or guessable "
    "(checked with zxcvbn; the error message says why and how to improve it)"
)
EMAIL_SCHEMA: dict[str, Any] = {"format": "email"}

Email = Annotated[str, Field(min_length=3, max_length=MAX_EMAIL_LENGTH, json_schema_extra=EMAIL_SCHEMA)]
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_FIELD)]
NewPassword = Annotated[str, Field(min_length=8, max_length=MAX_PASSWORD_FIELD, description=CHOOSING_RULES)]
SecretToken = Annotated[str, Field(min_length=1, max_length=MAX_TOKEN_FIELD)]


class RegisterRequest(BaseModel):
    email: Email
    password: NewPassword
    name: str = Field(min_length=1, max_length=MAX_NAME_LENGTH)


class LoginRequest(BaseModel):
    email: str = Field(min_length=1, max_length=MAX_EMAIL_LENGTH, json_schema_extra=EMAIL_SCHEMA)
    password: Password


class RefreshRequest(BaseModel):
    refresh_token: SecretToken


class LogoutRequest(BaseModel):
    refresh_token: SecretToken | None = Field(None, description="Accepted for symmetry; the session ends anyway")


class PasswordChangeRequest(BaseModel):
    current_password: Password
    new_password: NewPassword


class PasswordForgotRequest(BaseModel):
    email: Email


class PasswordResetRequest(BaseModel):
    token: SecretToken
    new_password: NewPassword


class VerifyRequest(BaseModel):
    token: SecretToken


class DeleteAccountRequest(BaseModel):
    password: Password


class User(BaseModel):
    id: str
    email: str = Field(json_schema_extra=EMAIL_SCHEMA)
    name: str
    created_at: datetime


class TokenResponse(compat.TokenAlias):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (the OAuth 2 token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires")
    refresh_token: str = Field(description="Single use: POST /auth/refresh returns a new one with a new access token")
    user: User


class Accepted(BaseModel):
    status: Literal["confirmation_sent", "accepted"]
    message: str


CONFIRMATION_SENT = Accepted(
    status="confirmation_sent",
    message="If this address can be used, a message is on its way to it: follow its link to confirm.",
)
RESET_ACCEPTED = Accepted(
    status="accepted", message="If an account uses this address, a password reset link is on its way to it."
)

# One documented answer per status, as FastAPI's `responses` takes them.
OpenApiResponses = dict[int | str, dict[str, Any]]
_429: OpenApiResponses = {
    429: {"model": ErrorResponse, "description": "Too many requests; `Retry-After` says when to retry"}
}
_403: OpenApiResponses = {
    403: {"model": ErrorResponse, "description": "Refused (wrong current password, unconfirmed email)"}
}
_403_TOKEN: OpenApiResponses = {
    403: {"model": ErrorResponse, "description": "The emailed token is unknown, used or expired"}
}
_409: OpenApiResponses = {
    409: {"model": ErrorResponse, "description": "Email taken (only when email confirmation is off)"}
}

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES | _429)


def get_account_service(request: Request, database: DatabaseDep, settings: SettingsDep) -> AccountService:
    return AccountService(
        database,
        settings,
        tokens=get_token_service(request),
        gate=request.app.state.hashing_gate,
        sender=request.app.state.email_sender,
    )


Accounts = Annotated[AccountService, Depends(get_account_service)]


def _token_response(tokens: SessionTokens) -> TokenResponse:
    return TokenResponse(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
        user=User(**tokens.user),
    )


@router.post(
    "/register",
    status_code=201,
    response_model=TokenResponse,
    responses=_409 | {202: {"model": Accepted, "description": "Email confirmation is on: a message went out"}},
)
async def register(body: RegisterRequest, accounts: Accounts, ip: ClientIp) -> TokenResponse | JSONResponse:
    """Create an account. With email confirmation off (development, the demo, the original client): 201
    with tokens, and 409 when the email is taken. With it on (the production default): 202 with the same
    body whether or not the email is taken (its owner gets an email instead), so nothing is revealed."""
    result = await accounts.register(email=body.email, password=body.password, name=body.name, ip=ip)
    if result.tokens is None:
        return JSONResponse(CONFIRMATION_SENT.model_dump(), status_code=202)
    return _token_response(result.tokens)


@router.post("/login", response_model=TokenResponse, responses=_403)
async def login(body: LoginRequest, accounts: Accounts, ip: ClientIp) -> TokenResponse:
    """Exchange email and password for an access token and a refresh token. One 401 for an unknown email
    and a wrong password; 403 `email_not_confirmed` when confirmation is on and still pending."""
    return _token_response(await accounts.login(email=body.email, password=body.password, ip=ip))


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, accounts: Accounts, ip: ClientIp) -> TokenResponse:
    """Trade a refresh token (once) for a new access token and a new refresh token. A refresh token used a
    second time ends its whole session: someone else has a copy."""
    return _token_response(await accounts.refresh(refresh_token=body.refresh_token, ip=ip))


@router.post("/logout", status_code=204, response_class=Response)
async def logout(claims: CurrentClaims, accounts: Accounts, body: LogoutRequest | None = None) -> Response:
    """End this session: its access and refresh tokens stop working at once."""
    await accounts.logout(claims)
    return Response(status_code=204)


@router.post("/logout-all", status_code=204, response_class=Response)
async def logout_all(claims: CurrentClaims, accounts: Accounts) -> Response:
    """End every session of this account, this one included."""
    await accounts.logout_all(claims)
    return Response(status_code=204)


@router.post("/password", status_code=204, response_class=Response, responses=_403)
async def change_password(
    body: PasswordChangeRequest, claims: CurrentClaims, accounts: Accounts, ip: ClientIp
) -> Response:
    """Change the password (the current one is required). Every other session ends; this one goes on."""
    await accounts.change_password(
        claims, current_password=body.current_password, new_password=body.new_password, ip=ip
    )
    return Response(status_code=204)


@router.post("/password/forgot", status_code=202, response_model=Accepted)
async def forgot_password(body: PasswordForgotRequest, accounts: Accounts, ip: ClientIp) -> Accepted:
    """Email a single-use reset link if an account uses this address. Always 202 for a well-formed address,
    account or not."""
    await accounts.forgot_password(email=body.email, ip=ip)
    return RESET_ACCEPTED


@router.post("/password/reset", status_code=204, response_class=Response, responses=_403_TOKEN)
async def reset_password(body: PasswordResetRequest, accounts: Accounts, ip: ClientIp) -> Response:
    """Set a new password with the token from the reset email (single use, expires in an hour by default).
    Every session of the account ends. 403 when the token is unknown, used or expired."""
    await accounts.reset_password(token=body.token, new_password=body.new_password, ip=ip)
    return Response(status_code=204)


@router.post("/verify", response_model=TokenResponse, responses=_403_TOKEN)
async def verify_email(body: VerifyRequest, accounts: Accounts, ip: ClientIp) -> TokenResponse:
    """Confirm an email address with the token from the confirmation email (single use, expires in a day by
    default) and sign in. 403 when the token is unknown, used or expired."""
    return _token_response(await accounts.confirm_email(token=body.token, ip=ip))


@router.post("/verify/resend", status_code=202, response_model=Accepted)
async def resend_confirmation(body: PasswordForgotRequest, accounts: Accounts, ip: ClientIp) -> Accepted:
    """Send a new confirmation link if this address has an unconfirmed account. Always 202."""
    await accounts.resend_confirmation(email=body.email, ip=ip)
    return CONFIRMATION_SENT


@router.get("/me", response_model=User)
def me(user_id: CurrentUserId, database: DatabaseDep) -> User:
    user = database.get_user(user_id=user_id)
    if user is None:
        # A valid signature for an account that no longer exists: the token is worthless.
        raise AuthenticationError("the account for this token no longer exists")
    return User(**user)


@router.delete("/me", status_code=204, response_class=Response, responses=_403)
async def delete_me(body: DeleteAccountRequest, claims: CurrentClaims, accounts: Accounts, ip: ClientIp) -> Response:
    """Delete the account after checking its password: its ratings, interactions and sessions go with it."""
    await accounts.delete_account(claims, password=body.password, ip=ip)
    return Response(status_code=204)


def install_account_services(app: FastAPI, settings: Settings, sender: EmailSender | None = None) -> None:
    """The per-instance pieces the auth routes share: the bcrypt gate and the email sender."""
    app.state.hashing_gate = HashingGate(settings.bcrypt_concurrency, settings.bcrypt_queue_timeout_s)
    # -- cold start (issue 14): zxcvbn's lists belong in a SnapStart snapshot; without one only registrations
    # and password changes need them, so logins and refreshes do not pay for them on a cold start.
    if snapstart.snapstart_init():
        load_strength_checker()
    app.state.email_sender = sender if sender is not None else email_sender_for(settings)


def create_app(settings: Settings | None = None, *, email_sender: EmailSender | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = build_app(
        name=NAME,
        settings=settings,
        routers=[router],
        needs_tokens=True,
        description="Accounts, sessions (JWT HS256 access tokens and rotating refresh tokens) and account email.",
    )
    install_account_services(app, settings, email_sender)

    @app.get("/", tags=["health"])
    def root(database: DatabaseDep) -> JSONResponse:
        return readiness_response(NAME, {"database": database.health})

    return app
