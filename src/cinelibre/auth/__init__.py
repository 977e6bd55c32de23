"""Accounts, passwords (bcrypt) and bearer tokens (JWT HS256)."""

from cinelibre.auth.accounts import Accounts, normalise_email
from cinelibre.auth.passwords import check_password_policy, hash_password, verify_password
from cinelibre.auth.tokens import IssuedToken, TokenService

__all__ = [
    "Accounts",
    "IssuedToken",
    "TokenService",
    "check_password_policy",
    "hash_password",
    "normalise_email",
    "verify_password",
]
