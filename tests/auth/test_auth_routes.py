"""POST /auth/register, POST /auth/login and GET /auth/me through the auth function's Lambda handler."""

from __future__ import annotations

import asyncio
import threading

import jwt
import pytest

from cinelibre.auth.tokens import TokenService

PASSWORD = "correct horse battery"


def register(client, email="ana@example.com", password=PASSWORD, name="Ana"):
    return client.post("/auth/register", json_body={"email": email, "password": password, "name": name})


def test_register_returns_a_token_for_the_new_account(auth_client, settings):
    response = register(auth_client)
    assert response.status == 201
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.jwt_ttl_s == 3600
    assert body["refresh_token"]
    assert body["user"]["email"] == "ana@example.com"
    assert body["user"]["name"] == "Ana"
    assert "password" not in response.text and "password_hash" not in response.text
    assert TokenService.from_settings(settings).subject(body["access_token"]) == body["user"]["id"]


def test_login_then_me(auth_client):
    user_id = register(auth_client).json()["user"]["id"]
    login = auth_client.post("/auth/login", json_body={"email": "ana@example.com", "password": PASSWORD})
    assert login.status == 200
    me = auth_client.get("/auth/me", token=login.json()["access_token"])
    assert me.status == 200
    assert me.json() == {
        "id": user_id,
        "email": "ana@example.com",
        "name": "Ana",
        "created_at": me.json()["created_at"],
    }


def test_emails_are_normalised_before_uniqueness(auth_client):
    first = register(auth_client, email="  Ana.Silva@Example.COM ")
    assert first.status == 201
    assert first.json()["user"]["email"] == "ana.silva@example.com"
    again = register(auth_client, email="ANA.SILVA@example.com")
    assert again.status == 409
    assert again.json() == {
        "error": {"code": "conflict", "message": "an account with this email already exists"},
        "detail": "an account with this email already exists",
    }
    login = auth_client.post(
        "/auth/login", json_body={"email": "ana.silva@EXAMPLE.com ", "password": PASSWORD}
    )
    assert login.status == 200


def test_concurrent_duplicate_registrations_give_one_account_and_a_clean_409(auth_client, db):
    start = threading.Barrier(2)
    statuses: list[int] = []
    bodies: list[dict] = []

    def attempt() -> None:
        # Mangum drives the app on the calling thread's event loop; a worker thread needs its own.
        asyncio.set_event_loop(asyncio.new_event_loop())
        start.wait()
        response = register(auth_client, email="race@example.com")
        statuses.append(response.status)
        bodies.append(response.json())

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]
    assert {
        "error": {"code": "conflict", "message": "an account with this email already exists"},
        "detail": "an account with this email already exists",
    } in bodies
    assert db.get_user_credentials(email="race@example.com") is not None


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "not-an-email", "password": PASSWORD, "name": "Ana"}, "email"),
        ({"email": "ana@example.com", "password": "short", "name": "Ana"}, "password"),
        ({"email": "ana@example.com", "password": "x" * 73, "name": "Ana"}, "password"),
        ({"email": "ana@example.com", "password": "é" * 40, "name": "Ana"}, "password"),
        ({"email": "ana@example.com", "password": PASSWORD, "name": "   "}, "name"),
        ({"email": "ana@example.com", "password": PASSWORD}, "name"),
        ({"email": "ana@example.com", "password": "x" * 5000, "name": "Ana"}, "password"),
    ],
)
def test_registration_refuses_bad_input_naming_the_field(auth_client, body, field):
    response = auth_client.post("/auth/register", json_body=body)
    assert response.status == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]
    assert "x" * 73 not in response.text  # a submitted password is never echoed back


def test_two_long_passwords_sharing_72_bytes_cannot_both_log_in(auth_client):
    shared = "correct horse battery staple " * 3  # 87 bytes
    assert register(auth_client, password=shared[:72]).status == 201
    assert register(auth_client, email="bo@example.com", password=shared).status == 422
    for longer in (shared, shared[:72] + "anything"):
        login = auth_client.post("/auth/login", json_body={"email": "ana@example.com", "password": longer})
        assert login.status == 401
    exact = auth_client.post("/auth/login", json_body={"email": "ana@example.com", "password": shared[:72]})
    assert exact.status == 200


def test_unknown_email_and_wrong_password_get_the_same_401_after_the_same_bcrypt_work(
    auth_client, monkeypatch
):
    from cinelibre.auth import passwords

    register(auth_client)
    costs: list[int] = []
    real_checkpw = passwords.bcrypt.checkpw

    def recording_checkpw(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    monkeypatch.setattr(passwords.bcrypt, "checkpw", recording_checkpw)
    answers = []
    for email, password in (
        ("ana@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
    ):
        costs.clear()
        response = auth_client.post("/auth/login", json_body={"email": email, "password": password})
        assert costs == [10], email  # one bcrypt check at the configured cost, account or not
        answers.append((response.status, response.headers["www-authenticate"], response.json()))
    assert answers[0] == answers[1] == answers[2]
    assert answers[0] == (
        401,
        "Bearer",
        {
            "error": {"code": "unauthorized", "message": "invalid email or password"},
            "detail": "invalid email or password",
        },
    )


def test_me_needs_a_valid_bearer_token(auth_client, settings):
    missing = auth_client.get("/auth/me")
    assert missing.status == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["code"] == "unauthorized"

    basic = auth_client.get("/auth/me", headers={"authorization": "Basic YW5hOnNlY3JldA=="})
    assert basic.status == 401

    forged = jwt.encode(
        {
            "sub": "00000000-0000-0000-0000-000000000000",
            "exp": 4102444800,
            "iat": 0,
            "iss": "cinelibre",
            "aud": "cinelibre-api",
        },
        "a-different-secret-of-at-least-32-bytes!",
        algorithm="HS256",
    )
    refused = auth_client.get("/auth/me", token=forged)
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert refused.json() == {
        "error": {"code": "unauthorized", "message": "invalid token"},
        "detail": "invalid token",
    }

    # Signed with the right secret, but with no session (as the old 7-day tokens were), or a session that
    # does not exist: both refused.
    sessionless = TokenService.from_settings(settings).issue("00000000-0000-0000-0000-000000000000").token
    assert auth_client.get("/auth/me", token=sessionless).json()["error"]["message"] == (
        "this token has no session; sign in again"
    )
    ghost = TokenService.from_settings(settings).issue(
        "00000000-0000-0000-0000-000000000000", "00000000-0000-0000-0000-000000000001"
    ).token
    gone = auth_client.get("/auth/me", token=ghost)
    assert gone.status == 401
    assert gone.json()["error"]["message"] == (
        "the session has ended or the account no longer exists; sign in again"
    )


def test_login_through_an_api_gateway_http_api_event(auth_client, lambda_context):
    from tests.api.lambda_events import TEST_EVENTS_DIR, invoke, load_event

    register(auth_client)
    event = load_event(TEST_EVENTS_DIR / "http-api-auth-login.json")
    response = invoke(auth_client.handler, lambda_context, event)
    assert response.status == 200
    assert response.json()["user"]["email"] == "ana@example.com"


def test_a_base64_encoded_body_is_decoded(auth_client):
    # Function URLs base64-encode bodies whose content type they do not consider text.
    register(auth_client)
    login = auth_client.post(
        "/auth/login",
        raw_body='{"email": "ana@example.com", "password": "correct horse battery"}',
        headers={"content-type": "application/json; charset=utf-8"},
        base64_body=True,
    )
    assert login.status == 200
    assert login.json()["user"]["email"] == "ana@example.com"
