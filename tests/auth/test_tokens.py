"""JWT: HS256 pinned; exp, iat, sub, iss and aud required and checked; secrets refused when missing or short
outside development."""

from __future__ import annotations

import base64
import json
import time
import uuid
import warnings

import jwt
import pytest

from cinelibre.auth.tokens import TokenService
from cinelibre.errors import AuthenticationError, ConfigurationError
from cinelibre.settings import DEVELOPMENT_JWT_SECRET, Settings

SECRET = "s" * 32
SERVICE = TokenService(secret=SECRET, issuer="cinelibre", audience="cinelibre-api", ttl_s=3600)
USER = str(uuid.uuid4())


def claims(**overrides):
    now = int(time.time())
    base = {"sub": USER, "iat": now, "exp": now + 600, "iss": "cinelibre", "aud": "cinelibre-api"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_issued_token_carries_the_required_claims():
    issued = SERVICE.issue(USER)
    decoded = jwt.decode(issued.token, SECRET, algorithms=["HS256"], audience="cinelibre-api")
    assert decoded["sub"] == USER
    assert decoded["iss"] == "cinelibre"
    assert decoded["exp"] - decoded["iat"] == 3600 == issued.expires_in
    assert jwt.get_unverified_header(issued.token)["alg"] == "HS256"
    assert SERVICE.subject(issued.token) == USER


def test_default_access_token_lifetime_is_one_hour():
    # Short-lived (GoTrue's default); the session lives on through rotating refresh tokens.
    assert Settings().jwt_ttl_s == 3600


def _unsigned(payload: dict) -> str:
    def part(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


with warnings.catch_warnings():
    warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
    # Signed with our own secret but HS512: refused because the algorithm is pinned, not for the signature.
    _ANOTHER_ALGORITHM = jwt.encode(claims(), SECRET, algorithm="HS512")


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(_unsigned(claims()), id="alg-none"),
        pytest.param(_ANOTHER_ALGORITHM, id="another-algorithm"),
        pytest.param(
            jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"), id="another-audience"
        ),
        pytest.param(jwt.encode(claims(iss="evil"), SECRET, algorithm="HS256"), id="another-issuer"),
        pytest.param(jwt.encode(claims(), "t" * 32, algorithm="HS256"), id="bad-signature"),
        pytest.param(jwt.encode(claims(exp=None), SECRET, algorithm="HS256"), id="no-exp"),
        pytest.param(jwt.encode(claims(iat=None), SECRET, algorithm="HS256"), id="no-iat"),
        pytest.param(jwt.encode(claims(sub=None), SECRET, algorithm="HS256"), id="no-sub"),
        pytest.param(jwt.encode(claims(iss=None), SECRET, algorithm="HS256"), id="no-iss"),
        pytest.param(jwt.encode(claims(aud=None), SECRET, algorithm="HS256"), id="no-aud"),
        pytest.param(jwt.encode(claims(exp=int(time.time()) - 120), SECRET, algorithm="HS256"), id="expired"),
        pytest.param(jwt.encode(claims(sub="admin"), SECRET, algorithm="HS256"), id="sub-not-a-user-id"),
        pytest.param("not.a.token", id="garbage"),
    ],
)
def test_tokens_we_did_not_issue_are_refused(token):
    with pytest.raises(AuthenticationError):
        SERVICE.subject(token)


def test_the_secret_never_appears_in_the_repr():
    assert SECRET not in repr(SERVICE)


@pytest.fixture
def no_secret_in_environment(monkeypatch):
    for name in ("JWT_SECRET", "CINELIBRE_JWT_SECRET", "CINELIBRE_JWT_SECRET_PARAMETER"):
        monkeypatch.delenv(name, raising=False)


def test_missing_secret_stops_a_production_function(no_secret_in_environment):
    with pytest.raises(ConfigurationError, match="JWT_SECRET"):
        TokenService.from_settings(Settings(CINELIBRE_ENV="production"))


def test_short_secret_stops_a_production_function(no_secret_in_environment):
    with pytest.raises(ConfigurationError, match="32 bytes"):
        TokenService.from_settings(Settings(CINELIBRE_ENV="production", JWT_SECRET="too-short-secret"))


def test_a_long_enough_secret_is_used_in_production(no_secret_in_environment):
    assert (
        TokenService.from_settings(Settings(CINELIBRE_ENV="production", JWT_SECRET=SECRET)).secret == SECRET
    )


def test_development_falls_back_on_its_own_secret(no_secret_in_environment):
    assert TokenService.from_settings(Settings(CINELIBRE_ENV="development")).secret == DEVELOPMENT_JWT_SECRET
