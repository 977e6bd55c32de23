"""Password hashing with bcrypt, without its two traps: silent truncation and timing that tells.

bcrypt reads at most 72 bytes of input. Older libraries silently ignored the rest, so two long passwords
that share their first 72 bytes hashed alike; we refuse such passwords at registration instead (bcrypt 5
refuses them too, but with a message meant for programmers). Verification spends one bcrypt computation
whatever happens, so an unknown account or an over-long password answers in the same time as a wrong one.
"""

from __future__ import annotations

from functools import lru_cache

import bcrypt

from cinelibre.errors import ValidationError

BCRYPT_MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 8


def check_password_policy(password: str) -> None:
    """Raise a ValidationError naming the `password` field when the password cannot be used."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters",
            details={"field": "password"},
        )
    if len(password.encode()) > BCRYPT_MAX_PASSWORD_BYTES:
        raise ValidationError(
            f"password must be at most {BCRYPT_MAX_PASSWORD_BYTES} bytes in UTF-8 "
            "(bcrypt would ignore the rest)",
            details={"field": "password"},
        )


def hash_password(password: str, *, rounds: int) -> str:
    check_password_policy(password)
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


@lru_cache(maxsize=8)
def _decoy_hash(rounds: int) -> bytes:
    # A hash of a random throwaway secret, made once per container: checking against it costs what checking
    # a real account's hash costs, and no password can match it.
    return bcrypt.hashpw(bcrypt.gensalt(), bcrypt.gensalt(rounds=rounds))


def verify_password(password: str, password_hash: str | None, *, rounds: int) -> bool:
    """True when `password` matches `password_hash`. With no hash (unknown account) or an over-long
    password the answer is False, after the same bcrypt work as a real check."""
    candidate = password.encode()
    decoy = _decoy_hash(rounds)
    if password_hash is None or len(candidate) > BCRYPT_MAX_PASSWORD_BYTES:
        bcrypt.checkpw(candidate[:BCRYPT_MAX_PASSWORD_BYTES], decoy)
        return False
    return bcrypt.checkpw(candidate, password_hash.encode())
