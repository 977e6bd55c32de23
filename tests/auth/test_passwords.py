"""bcrypt hashing: the configured cost, the 72-byte limit refused rather than truncated, and one bcrypt
computation on every verification path."""

from __future__ import annotations

import bcrypt
import pydantic
import pytest

from cinelibre.auth import passwords
from cinelibre.auth.passwords import check_password_policy, hash_password, verify_password
from cinelibre.errors import ValidationError
from cinelibre.settings import Settings


def test_hash_uses_the_configured_cost_and_verifies():
    hashed = hash_password("correct horse battery", rounds=10)
    assert hashed.startswith("$2b$10$")
    assert verify_password("correct horse battery", hashed, rounds=10)
    assert not verify_password("correct horse batterY", hashed, rounds=10)


def test_cost_defaults_to_12_and_cannot_go_below_10():
    assert Settings().bcrypt_rounds == 12
    with pytest.raises(pydantic.ValidationError):
        Settings(bcrypt_rounds=9)


@pytest.mark.parametrize("password", ["short", "1234567"])
def test_passwords_under_8_characters_are_refused(password):
    with pytest.raises(ValidationError) as raised:
        check_password_policy(password)
    assert raised.value.details == {"field": "password"}


@pytest.mark.parametrize(
    "password",
    ["a" * 73, "é" * 37],  # 73 bytes; 37 characters but 74 bytes in UTF-8
)
def test_passwords_over_72_bytes_are_refused_not_truncated(password):
    with pytest.raises(ValidationError) as raised:
        hash_password(password, rounds=10)
    assert "72 bytes" in raised.value.message


def test_exactly_72_bytes_is_accepted_and_a_longer_password_sharing_them_does_not_verify():
    password = "p" * 72
    hashed = hash_password(password, rounds=10)
    assert verify_password(password, hashed, rounds=10)
    assert not verify_password(password + "x", hashed, rounds=10)
    assert not verify_password(password + "different tail", hashed, rounds=10)


class CheckpwRecorder:
    """Records each bcrypt.checkpw call (and the cost of the hash it checked) and runs the real one."""

    def __init__(self, real):
        self.real = real
        self.costs: list[int] = []

    def __call__(self, password: bytes, hashed: bytes) -> bool:
        self.costs.append(int(hashed.split(b"$")[2]))
        return self.real(password, hashed)


@pytest.fixture
def checkpw_calls(monkeypatch):
    recorder = CheckpwRecorder(bcrypt.checkpw)
    monkeypatch.setattr(passwords.bcrypt, "checkpw", recorder)
    return recorder


@pytest.mark.parametrize(
    "candidate, has_account",
    [("wrong password", True), ("correct horse battery", False), ("x" * 100, True), ("x" * 100, False)],
)
def test_every_failed_verification_costs_one_bcrypt_check_at_the_configured_cost(
    candidate, has_account, checkpw_calls
):
    stored = hash_password("correct horse battery", rounds=10) if has_account else None
    assert not verify_password(candidate, stored, rounds=10)
    assert checkpw_calls.costs == [10]
