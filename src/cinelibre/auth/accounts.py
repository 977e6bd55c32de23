"""The account lifecycle over the database port: registration (with or without email confirmation), sign-in,
sessions with rotating refresh tokens, password change and reset, and deletion.

Methods are async so that a request waiting for a password-hashing slot holds no worker thread; database
calls and bcrypt run in the thread pool."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from starlette.concurrency import run_in_threadpool

from cinelibre.auth.email import (
    EmailSender,
    already_registered_email,
    confirmation_email,
    password_reset_email,
)
from cinelibre.auth.passwords import (
    check_password_policy,
    check_password_strength,
    hash_password,
    verify_password,
)
from cinelibre.auth.ratelimit import Action, RateLimiter, rate_limited
from cinelibre.auth.tokens import AccessClaims, TokenService
from cinelibre.auth.workgate import HashingGate
from cinelibre.db.port import Database, Row
from cinelibre.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    EmailNotConfirmedError,
    PermissionDeniedError,
    RateLimitedError,
    UpstreamError,
    ValidationError,
)
from cinelibre.observability import logger
from cinelibre.settings import Settings

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200
INVALID_CREDENTIALS = "invalid email or password"
INVALID_EMAIL_TOKEN = "this link is invalid, already used or expired; ask for a new one"  # noqa: S105
CONFIRM_EMAIL = "confirm_email"
USER_FIELDS = ("id", "email", "name", "created_at")
REFRESHED_TOO_RECENTLY = "this refresh token was just used; use the newest one"
# What the successor of a refresh token is wrapped with (see wrap_successor); versioned so it can change.
SUCCESSOR_WRAP_CONTEXT = b"cinelibre refresh-token successor v1"


def normalise_email(raw: str) -> str:
    """The one spelling an address is stored and looked up under: validated, NFC, trimmed, lower-cased.
    Lower-casing the local part too is deliberate: people do not expect `Ana@x.org` and `ana@x.org` to be
    two accounts."""
    try:
        checked = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"email is not valid: {exc}", details={"field": "email"}) from None
    normalised = unicodedata.normalize("NFC", checked.normalized).lower()
    if len(normalised) > MAX_EMAIL_LENGTH:
        raise ValidationError("email is too long", details={"field": "email"})
    return normalised


def _normalise_or_none(raw: str) -> str | None:
    try:
        return normalise_email(raw)
    except ValidationError:
        return None


def normalise_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"name must be 1 to {MAX_NAME_LENGTH} characters", details={"field": "name"})
    return name


def token_hash(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to make a stolen table useless."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret_token() -> str:
    return secrets.token_urlsafe(32)


def _encode_token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # what secrets.token_urlsafe returns


def _successor_pad(presented_token: str) -> bytes:
    return hmac.new(presented_token.encode(), SUCCESSOR_WRAP_CONTEXT, hashlib.sha256).digest()


def wrap_successor(presented_token: str, successor: bytes) -> str:
    """The successor's 32 random bytes, XORed with HMAC-SHA-256 keyed by the token it replaces. That token
    (256 random bits the database never stores) keys exactly one wrap, so the pad is used once: the stored
    value tells a reader of the database nothing, and only the holder of the replaced token can unwrap it."""
    return bytes(a ^ b for a, b in zip(successor, _successor_pad(presented_token), strict=True)).hex()


def unwrap_successor(presented_token: str, wrapped: str) -> str:
    raw = bytes(a ^ b for a, b in zip(bytes.fromhex(wrapped), _successor_pad(presented_token), strict=True))
    return _encode_token(raw)


def public_user(row: Row) -> Row:
    return {key: row[key] for key in USER_FIELDS}


@dataclass(frozen=True, slots=True)
class SessionTokens:
    access_token: str
    expires_in: int
    refresh_token: str
    session_id: str
    user: Row


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    """Tokens when confirmation is off; None when a confirmation email went out (or would have)."""

    tokens: SessionTokens | None


class AccountService:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        *,
        tokens: TokenService,
        gate: HashingGate,
        sender: EmailSender | None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.tokens = tokens
        self.gate = gate
        self.sender = sender
        self.limiter = RateLimiter(database, settings)

    # -- helpers ------------------------------------------------------------------------------------------
    async def _db(self, method: str, **kwargs: Any) -> Any:
        return await run_in_threadpool(getattr(self.database, method), **kwargs)

    async def _limit(self, action: Action, *, ip: str | None = None, account: str | None = None) -> None:
        await run_in_threadpool(self.limiter.check, action, ip=ip, account=account)

    def _check_new_password(self, password: str, *, email: str | None = None, name: str | None = None) -> None:
        check_password_policy(password)
        hints = [email or "", (email or "").split("@")[0], name or "", "cinelibre"]
        check_password_strength(password, user_inputs=hints, min_score=self.settings.password_min_score)

    async def _hash(self, password: str) -> str:
        return await self.gate.run(hash_password, password, rounds=self.settings.bcrypt_rounds)

    async def _verify(self, password: str, stored_hash: str | None) -> bool:
        return await self.gate.run(verify_password, password, stored_hash, rounds=self.settings.bcrypt_rounds)

    async def _start_session(self, user: Row) -> SessionTokens:
        refresh_token = new_secret_token()
        session_id = await self._db(
            "start_auth_session",
            user_id=str(user["id"]),
            refresh_token_hash=token_hash(refresh_token),
            ttl_s=self.settings.session_ttl_s,
        )
        issued = self.tokens.issue(str(user["id"]), session_id)
        return SessionTokens(issued.token, issued.expires_in, refresh_token, session_id, public_user(user))

    async def _send(self, action_subject: str, message_factory: Any, *args: Any) -> None:
        """Send an account email unless this address had its share this hour (then quietly skip: the
        caller's answer must not change, or it would tell whether the address has an account)."""
        if self.sender is None:
            return
        try:
            await self._limit(Action.EMAIL, account=action_subject)
        except RateLimitedError:
            logger.warning("account email skipped: too many for this address")
            return
        message = message_factory(self.settings, action_subject, *args)
        try:
            await run_in_threadpool(self.sender.send, message)
        except (ConfigurationError, UpstreamError) as exc:
            # Logged for the operator; the caller's answer stays the same whether or not the address is known.
            logger.error("account email failed", extra={"code": exc.code, "error": exc.message})

    async def _send_confirmation(self, user: Row) -> None:
        token = new_secret_token()
        await self._db(
            "issue_email_token", user_id=str(user["id"]), purpose=CONFIRM_EMAIL, token_hash=token_hash(token),
            ttl_s=self.settings.email_confirmation_ttl_s,
        )
        await self._send(user["email"], confirmation_email, token)

    # -- registration and sign-in ---------------------------------------------------------------------------
    async def register(self, *, email: str, password: str, name: str, ip: str | None) -> RegistrationResult:
        normalised = normalise_email(email)
        # Per address too, whether or not it has an account: the same 429 for both reveals nothing.
        await self._limit(Action.REGISTER, ip=ip, account=normalised)
        display_name = normalise_name(name)
        self._check_new_password(password, email=normalised, name=display_name)
        password_hash = await self._hash(password)
        confirm = self.settings.email_confirmation_required
        try:
            user = await self._db(
                "register_user", email=normalised, password_hash=password_hash, name=display_name,
                confirmed=not confirm,
            )
        except ConflictError:
            if not confirm:
                raise
            # Same answer as for a new address; the owner learns of the attempt by email instead.
            existing = await self._db("get_auth_account", email=normalised)
            if existing is not None and existing["email_confirmed_at"] is None:
                await self._send_confirmation(existing)
            else:
                await self._send(normalised, already_registered_email)
            return RegistrationResult(tokens=None)
        logger.info("user registered", extra={"user_id": user["id"], "confirmed": not confirm})
        if confirm:
            await self._send_confirmation(user)
            return RegistrationResult(tokens=None)
        return RegistrationResult(tokens=await self._start_session(user))

    async def login(self, *, email: str, password: str, ip: str | None) -> SessionTokens:
        """One 401 for an unknown email, a malformed email and a wrong password, after the same bcrypt work."""
        normalised = _normalise_or_none(email)
        await self._limit(Action.LOGIN, ip=ip, account=normalised or email.strip().lower())
        account = await self._db("get_auth_account", email=normalised) if normalised else None
        matches = await self._verify(password, account["password_hash"] if account else None)
        if not matches or account is None:
            logger.info("login refused")
            raise AuthenticationError(INVALID_CREDENTIALS)
        if account["disabled_at"] is not None:
            raise AuthenticationError("this account is disabled")
        if self.settings.email_confirmation_required and account["email_confirmed_at"] is None:
            raise EmailNotConfirmedError(
                "confirm your email address first: follow the link we sent (register again to get a new one)"
            )
        return await self._start_session(account)

    async def refresh(self, *, refresh_token: str, ip: str | None) -> SessionTokens:
        await self._limit(Action.REFRESH, ip=ip)
        successor = secrets.token_bytes(32)
        next_token = _encode_token(successor)
        owner_rule = self.limiter.rule(Action.REFRESH, "account")
        result = await self._db(
            "rotate_refresh_token",
            presented_hash=token_hash(refresh_token),
            next_hash=token_hash(next_token),
            next_wrapped=wrap_successor(refresh_token, successor),
            reuse_grace_s=self.settings.refresh_reuse_grace_s,
            owner_limit=(owner_rule.requests, owner_rule.period_s) if owner_rule else None,
        )
        outcome = result["outcome"]
        if outcome == "reuse_detected":
            logger.warning("refresh token reused: session revoked", extra={"session_id": result["session_id"]})
            raise AuthenticationError("this refresh token was already used; the session has been ended")
        if outcome == "rate_limited":
            raise rate_limited(Action.REFRESH, float(result["retry_after_s"]), ["account"])
        if outcome == "reissued":
            # A second refresh with the same token within the grace period (two tabs, a retried request): the
            # session's current refresh token again, as GoTrue answers, so neither caller is signed out.
            next_token = unwrap_successor(refresh_token, result["successor_wrapped"])
            if not hmac.compare_digest(token_hash(next_token), result["successor_hash"]):
                raise AuthenticationError(REFRESHED_TOO_RECENTLY)
            logger.info("refresh repeated within the grace period", extra={"session_id": result["session_id"]})
        elif outcome == "reused_recently":
            raise AuthenticationError(REFRESHED_TOO_RECENTLY)
        elif outcome != "rotated":
            raise AuthenticationError("invalid or expired refresh token")
        issued = self.tokens.issue(str(result["user_id"]), str(result["session_id"]))
        user = {"id": result["user_id"], "email": result["email"], "name": result["name"],
                "created_at": result["created_at"]}
        return SessionTokens(issued.token, issued.expires_in, next_token, str(result["session_id"]), user)

    # -- sessions -------------------------------------------------------------------------------------------
    async def logout(self, claims: AccessClaims) -> None:
        await self._db("revoke_auth_sessions", user_id=claims.user_id, session_id=claims.session_id, reason="logout")

    async def logout_all(self, claims: AccessClaims) -> int:
        return await self._db("revoke_auth_sessions", user_id=claims.user_id, reason="logout_all")

    async def _reauthenticate(self, claims: AccessClaims, password: str, *, ip: str | None) -> Row:
        account = await self._db("get_auth_account", user_id=claims.user_id)
        if account is None:
            raise AuthenticationError("the account for this token no longer exists")
        # Guessing the password of a stolen session shares the account's sign-in budget.
        await self._limit(Action.LOGIN, ip=ip, account=account["email"])
        if not await self._verify(password, account["password_hash"]):
            # 403, not 401: the bearer token is fine and the client must not drop it.
            raise PermissionDeniedError("the password is not correct", details={"field": "password"})
        return account

    async def change_password(
        self, claims: AccessClaims, *, current_password: str, new_password: str, ip: str | None
    ) -> None:
        account = await self._reauthenticate(claims, current_password, ip=ip)
        self._check_new_password(new_password, email=account["email"], name=account["name"])
        new_hash = await self._hash(new_password)
        await self._db(
            "set_user_password", user_id=claims.user_id, password_hash=new_hash, keep_session_id=claims.session_id
        )
        logger.info("password changed", extra={"user_id": claims.user_id})

    async def delete_account(self, claims: AccessClaims, *, password: str, ip: str | None) -> None:
        await self._reauthenticate(claims, password, ip=ip)
        await self._db("delete_user", user_id=claims.user_id)
        logger.info("account deleted", extra={"user_id": claims.user_id})

    # -- email tokens ---------------------------------------------------------------------------------------
    async def confirm_email(self, *, token: str, ip: str | None) -> SessionTokens:
        await self._limit(Action.VERIFY, ip=ip)
        user = await self._db("confirm_email", token_hash=token_hash(token))
        if user is None:
            # 403 as GoTrue answers an expired or unknown link: the request is well formed, the token refused.
            raise PermissionDeniedError(INVALID_EMAIL_TOKEN, details={"field": "token"})
        return await self._start_session(user)

    async def _at_least(self, started: float) -> None:
        """Hold an answer that may or may not have sent an email until `email_request_min_duration_s` after
        `started`, so its timing does not tell a registered address from an unknown one. Waiting on the event
        loop holds no thread. An answer that took longer than the floor is logged: the floor is too low."""
        floor = self.settings.email_request_min_duration_s
        remaining = floor - (time.monotonic() - started)
        if remaining > 0:
            await asyncio.sleep(remaining)
        elif floor > 0:
            logger.warning("email request took longer than its floor", extra={"floor_s": floor, "over_s": -remaining})

    async def resend_confirmation(self, *, email: str, ip: str | None) -> None:
        await self._limit(Action.VERIFY, ip=ip)
        # A malformed address is a 422 (syntax is no secret); a well-formed one always gets the same 202.
        normalised = normalise_email(email)
        started = time.monotonic()
        account = await self._db("get_auth_account", email=normalised)
        if account is not None and account["email_confirmed_at"] is None and account["disabled_at"] is None:
            await self._send_confirmation(account)
        await self._at_least(started)

    async def forgot_password(self, *, email: str, ip: str | None) -> None:
        """The same work for every address up to the send: one rate-limit call, a fresh token and one
        `request_password_reset` call, which stores the token only for a live account. The send (a network
        call to SES) happens for a known address alone, so the answer waits out a fixed floor either way."""
        normalised = normalise_email(email)
        await self._limit(Action.PASSWORD_RESET, ip=ip, account=normalised)
        started = time.monotonic()
        token = new_secret_token()
        account = await self._db(
            "request_password_reset", email=normalised, token_hash=token_hash(token),
            ttl_s=self.settings.password_reset_ttl_s,
        )
        if account is not None:
            await self._send(account["email"], password_reset_email, token)
        await self._at_least(started)

    async def reset_password(self, *, token: str, new_password: str, ip: str | None) -> None:
        await self._limit(Action.PASSWORD_RESET, ip=ip)
        self._check_new_password(new_password)
        new_hash = await self._hash(new_password)
        user_id = await self._db("reset_password", token_hash=token_hash(token), password_hash=new_hash)
        if user_id is None:
            raise PermissionDeniedError(INVALID_EMAIL_TOKEN, details={"field": "token"})
        logger.info("password reset", extra={"user_id": user_id})
