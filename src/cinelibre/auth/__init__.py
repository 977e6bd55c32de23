"""Accounts, passwords (bcrypt + zxcvbn), bearer tokens (JWT HS256), sessions, rate limits and account email."""

from cinelibre.auth.accounts import AccountService, normalise_email
from cinelibre.auth.passwords import check_password_policy, check_password_strength, hash_password, verify_password
from cinelibre.auth.tokens import AccessClaims, IssuedToken, TokenService

__all__ = [
    "AccessClaims",
    "AccountService",
    "IssuedToken",
    "TokenService",
    "check_password_policy",
    "check_password_strength",
    "hash_password",
    "normalise_email",
    "verify_password",
]
