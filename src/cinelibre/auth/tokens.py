"""JSON Web Tokens: HS256 only, every registered claim we rely on required and checked."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from cinelibre.errors import AuthenticationError
from cinelibre.settings import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    expires_at: int


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    # The session the token belongs to; checked against the database on every authenticated request.
    session_id: str | None


@dataclass(frozen=True, slots=True, repr=False)
class TokenService:
    secret: str
    issuer: str
    audience: str
    ttl_s: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenService:
        return cls(
            secret=settings.require_jwt_secret(),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_s=settings.jwt_ttl_s,
        )

    def __repr__(self) -> str:  # the secret must never reach a log line through a repr
        return f"TokenService(issuer={self.issuer!r}, audience={self.audience!r}, ttl_s={self.ttl_s})"

    def issue(self, user_id: str, session_id: str | None = None) -> IssuedToken:
        now = int(time.time())
        claims = {
            "sub": user_id,
            **({"sid": session_id} if session_id else {}),
            "iat": now,
            "exp": now + self.ttl_s,
            "iss": self.issuer,
            "aud": self.audience,
            "jti": uuid.uuid4().hex,
        }
        return IssuedToken(
            token=jwt.encode(claims, self.secret, algorithm=ALGORITHM),
            expires_in=self.ttl_s,
            expires_at=now + self.ttl_s,
        )

    def subject(self, token: str) -> str:
        """The user id the token was issued to (see `verify`)."""
        return self.verify(token).user_id

    def verify(self, token: str) -> AccessClaims:
        """The user and session the token was issued to; AuthenticationError for any token we did not issue
        or that has expired. The reason stays generic: a client cannot fix a forged token."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token has expired") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("invalid token") from None
        try:
            user_id = str(uuid.UUID(claims["sub"]))
            session_id = str(uuid.UUID(claims["sid"])) if "sid" in claims else None
        except (TypeError, ValueError, AttributeError):
            raise AuthenticationError("invalid token") from None
        return AccessClaims(user_id=user_id, session_id=session_id)
