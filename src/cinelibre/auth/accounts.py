"""Registration and login over the database port."""

from __future__ import annotations

import unicodedata

from email_validator import EmailNotValidError, validate_email

from cinelibre.auth.passwords import hash_password, verify_password
from cinelibre.db.port import Database, Row
from cinelibre.errors import AuthenticationError, ValidationError

MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 200
INVALID_CREDENTIALS = "invalid email or password"


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


def normalise_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise ValidationError(f"name must be 1 to {MAX_NAME_LENGTH} characters", details={"field": "name"})
    return name


class Accounts:
    def __init__(self, database: Database, *, bcrypt_rounds: int) -> None:
        self._database = database
        self._rounds = bcrypt_rounds

    def register(self, *, email: str, password: str, name: str) -> Row:
        """Create the account; ConflictError (from the database, also under concurrency) when the
        normalised email is taken."""
        normalised = normalise_email(email)
        display_name = normalise_name(name)
        password_hash = hash_password(password, rounds=self._rounds)
        return self._database.create_user(email=normalised, password_hash=password_hash, name=display_name)

    def authenticate(self, *, email: str, password: str) -> Row:
        """The user row for these credentials. Unknown email, malformed email and wrong password all
        raise the same AuthenticationError after the same bcrypt work."""
        try:
            normalised: str | None = normalise_email(email)
        except ValidationError:
            normalised = None
        credentials = self._database.get_user_credentials(email=normalised) if normalised else None
        stored_hash = credentials["password_hash"] if credentials else None
        if not verify_password(password, stored_hash, rounds=self._rounds) or credentials is None:
            raise AuthenticationError(INVALID_CREDENTIALS)
        return {key: value for key, value in credentials.items() if key != "password_hash"}
