"""Password hashing with bcrypt, without its two traps: silent truncation and timing that tells.

bcrypt reads at most 72 bytes of input. Older libraries silently ignored the rest, so two long passwords
that share their first 72 bytes hashed alike; we refuse such passwords at registration instead (bcrypt 5
refuses them too, but with a message meant for programmers). Verification spends one bcrypt computation
whatever happens, so an unknown account or an over-long password answers in the same time as a wrong one.
"""

from __future__ import annotations

from collections.abc import Sequence
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


# zxcvbn's scale: 3 is "safely unguessable" (about 10^8 guesses or more); every entry of its 30,000-word
# common-password list, far beyond the top 3,000 ASVS 6.2.4 asks for, scores 0 or 1.
DEFAULT_MIN_STRENGTH = 3


def check_password_strength(
    password: str, *, user_inputs: Sequence[str] = (), min_score: int = DEFAULT_MIN_STRENGTH
) -> None:
    """Refuse a common or guessable password (zxcvbn, with the account's own email and name as known words),
    with zxcvbn's warning and suggestions as the message. Call after `check_password_policy`."""
    # Imported on first use: its word lists cost ~0.1 s, which the search and recommend cold starts need not pay.
    from zxcvbn import zxcvbn

    result = zxcvbn(password, user_inputs=[value for value in user_inputs if value])
    if result["score"] >= min_score:
        return
    feedback = result["feedback"]
    reasons = [feedback.get("warning") or "This password is too easy to guess.", *feedback.get("suggestions", [])]
    if not feedback.get("suggestions"):
        reasons.append("Try a longer phrase of several uncommon words.")
    raise ValidationError(
        "password is too easy to guess: " + " ".join(reason for reason in reasons if reason),
        details={"field": "password"},
    )


def load_strength_checker() -> None:
    """Import zxcvbn now (its lists take ~0.1-0.7 s to load): the auth function calls this while its
    container initialises, so no registration pays for it."""
    import zxcvbn  # noqa: F401


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
