"""Email confirmation and password reset through the auth handler and the real database, with the local
outbox adapter as the mailbox; the SES adapter against moto."""

from __future__ import annotations

import boto3
import psycopg
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from cinelibre.auth.email import OutgoingEmail, SesEmailSender, email_sender_for
from cinelibre.errors import UpstreamError
from cinelibre.settings import Environment

PASSWORD = "correct horse battery"
NEW_PASSWORD = "violet marmalade kettle"


def register(client, email="ana@example.com", password=PASSWORD, name="Ana"):
    return client.post("/auth/register", json_body={"email": email, "password": password, "name": name})


def login(client, email="ana@example.com", password=PASSWORD):
    return client.post("/auth/login", json_body={"email": email, "password": password})


def expire_tokens(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("update public.auth_email_tokens set expires_at = now() - interval '1 second'")


def test_with_confirmation_on_registration_reveals_nothing_about_existing_emails(account_client, outbox):
    client = account_client(require_email_confirmation=True)
    new = register(client, email="ana@example.com")
    existing = register(client, email="ANA@example.com ", password="another fine passphrase", name="Mallory")
    assert new.status == existing.status == 202
    assert new.json() == existing.json()
    assert new.json()["status"] == "confirmation_sent"
    assert set(new.headers) - {"x-correlation-id", "content-length"} == (
        set(existing.headers) - {"x-correlation-id", "content-length"}
    )
    # The owner hears of both attempts by email: the first carries the link, the second a resend of it
    # (the account is still unconfirmed).
    messages = outbox.messages()
    assert len(messages) == 2 and all("To: ana@example.com" in message for message in messages)
    assert "Confirm your CineLibre email address" in messages[0]


def test_an_existing_confirmed_owner_gets_a_notice_not_a_second_account(account_client, outbox):
    client = account_client(require_email_confirmation=True)
    register(client)
    assert client.post("/auth/verify", json_body={"token": outbox.token()}).status == 200
    again = register(client, password="another fine passphrase", name="Mallory")
    assert again.status == 202
    assert "Someone tried to sign up" in outbox.messages()[-1]
    assert login(client, password="another fine passphrase").status == 401
    assert login(client).status == 200


def test_sign_in_waits_for_confirmation_and_the_token_is_single_use(account_client, outbox):
    client = account_client(require_email_confirmation=True)
    register(client)
    waiting = login(client)
    assert waiting.status == 403 and waiting.json()["error"]["code"] == "email_not_confirmed"
    token = outbox.token()
    confirmed = client.post("/auth/verify", json_body={"token": token})
    assert confirmed.status == 200
    assert client.get("/auth/me", token=confirmed.json()["access_token"]).status == 200
    reused = client.post("/auth/verify", json_body={"token": token})
    assert reused.status == 403 and reused.json()["error"]["details"][0]["field"] == "token"
    assert login(client).status == 200


def test_confirmation_tokens_expire_and_a_resend_replaces_them(account_client, outbox, pg_url):
    client = account_client(require_email_confirmation=True)
    register(client)
    first = outbox.token()
    assert client.post("/auth/verify/resend", json_body={"email": "ana@example.com"}).status == 202
    assert client.post("/auth/verify/resend", json_body={"email": "nobody@example.com"}).status == 202
    second = outbox.token()
    assert first != second and len(outbox.messages()) == 2
    assert client.post("/auth/verify", json_body={"token": first}).status == 403  # replaced
    expire_tokens(pg_url)
    assert client.post("/auth/verify", json_body={"token": second}).status == 403  # expired
    assert login(client).status == 403


def test_with_confirmation_off_a_duplicate_is_a_409_and_no_email_is_sent(account_client, outbox):
    client = account_client(require_email_confirmation=False)
    assert register(client).status == 201
    assert register(client).status == 409
    assert outbox.messages() == []


def test_forgot_always_answers_202_and_the_reset_token_is_single_use(account_client, outbox):
    client = account_client(require_email_confirmation=False)
    first_session = register(client).json()
    unknown = client.post("/auth/password/forgot", json_body={"email": "nobody@example.com"})
    known = client.post("/auth/password/forgot", json_body={"email": "Ana@Example.com"})
    assert unknown.status == known.status == 202
    assert unknown.json() == known.json()
    # Same headers too (the correlation id is per request); the timing is measured by bench_password_forgot.py.
    assert {k: v for k, v in unknown.headers.items() if k != "x-correlation-id"} == {
        k: v for k, v in known.headers.items() if k != "x-correlation-id"}
    # Only the syntax of an address is checked openly; that reveals nothing about accounts.
    assert client.post("/auth/password/forgot", json_body={"email": "not an email"}).status == 422
    assert len(outbox.messages()) == 1 and "Reset your CineLibre password" in outbox.messages()[0]
    token = outbox.token()

    weak = client.post("/auth/password/reset", json_body={"token": token, "new_password": "12345678"})
    assert weak.status == 422 and "too easy to guess" in weak.json()["error"]["message"]
    done = client.post("/auth/password/reset", json_body={"token": token, "new_password": NEW_PASSWORD})
    assert done.status == 204
    again = client.post("/auth/password/reset", json_body={"token": token, "new_password": "yet another phrase 9"})
    assert again.status == 403
    # Every session ended; only the new password signs in.
    assert client.get("/auth/me", token=first_session["access_token"]).status == 401
    assert client.post("/auth/refresh", json_body={"refresh_token": first_session["refresh_token"]}).status == 401
    assert login(client).status == 401
    assert login(client, password=NEW_PASSWORD).status == 200


def test_reset_tokens_expire(account_client, outbox, pg_url):
    client = account_client(require_email_confirmation=False)
    register(client)
    client.post("/auth/password/forgot", json_body={"email": "ana@example.com"})
    expire_tokens(pg_url)
    expired = client.post("/auth/password/reset", json_body={"token": outbox.token(), "new_password": NEW_PASSWORD})
    assert expired.status == 403
    assert login(client).status == 200


def test_one_address_gets_a_bounded_number_of_emails(account_client, outbox):
    from cinelibre.settings import RateLimitRule

    client = account_client(require_email_confirmation=False, rate_limit_email_per_account=RateLimitRule(2, 3600))
    register(client)
    answers = [client.post("/auth/password/forgot", json_body={"email": "ana@example.com"}) for _ in range(4)]
    assert {answer.status for answer in answers} == {202}  # the answer never changes...
    assert len(outbox.messages()) == 2  # ...but the mailbox is not flooded


def test_the_ses_adapter_sends_through_ses(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        ses = boto3.client("ses", region_name="eu-west-1")
        ses.verify_email_identity(EmailAddress="no-reply@cinelibre.example")
        sender = SesEmailSender("no-reply@cinelibre.example", region="eu-west-1")
        sender.send(OutgoingEmail(to="ana@example.com", subject="Hello", text="A body"))
        sent = ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"].sent_messages
        assert len(sent) == 1
        assert sent[0].destinations["ToAddresses"] == ["ana@example.com"]
        assert sent[0].subject == "Hello" and sent[0].body == "A body"
        # An unverified sender is refused by SES: the adapter raises the project's own error.
        with pytest.raises(UpstreamError):
            SesEmailSender("someone@else.example", region="eu-west-1").send(
                OutgoingEmail(to="ana@example.com", subject="Hello", text="A body")
            )


def test_production_sends_with_ses_and_development_writes_the_outbox(settings):
    assert type(email_sender_for(settings)).__name__ == "OutboxEmailSender"
    production = settings.model_copy(update={"environment": Environment.PRODUCTION, "email_from": "a@b.example"})
    assert type(email_sender_for(production)).__name__ == "SesEmailSender"
    assert production.email_confirmation_required is True
    assert settings.email_confirmation_required is False
