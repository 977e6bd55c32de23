"""Sending account emails: one small interface, an Amazon SES adapter for AWS and an outbox adapter that
writes each message to a folder (so local work needs no mail server)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from cinelibre.errors import ConfigurationError, UpstreamError
from cinelibre.observability import logger
from cinelibre.settings import Settings

DEFAULT_LOCAL_SENDER = "CineLibre <no-reply@localhost>"


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    to: str
    subject: str
    text: str


class EmailSender(Protocol):
    def send(self, message: OutgoingEmail) -> Path | None: ...


class OutboxEmailSender:
    """Writes each message as an .eml file under `directory` and logs where (never its token)."""

    def __init__(self, directory: Path, *, sender: str = DEFAULT_LOCAL_SENDER) -> None:
        self.directory = directory
        self.sender = sender

    def send(self, message: OutgoingEmail) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.text)
        safe_recipient = re.sub(r"[^A-Za-z0-9._-]", "_", message.to)[:80]
        path = self.directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{safe_recipient}-{uuid.uuid4().hex[:8]}.eml"
        path.write_bytes(bytes(email))
        logger.info("email written to the outbox", extra={"path": str(path), "subject": message.subject})
        return path


class SesEmailSender:
    """Amazon SES (the v1 SendEmail API, which every SES region and moto support)."""

    def __init__(self, sender: str | None, *, client: Any = None, region: str | None = None) -> None:
        self._client = client
        self.region = region
        self.sender = sender

    @property
    def client(self) -> Any:
        if self._client is None:  # made on first use: most requests send nothing
            import boto3

            self._client = boto3.client("ses", region_name=self.region)
        return self._client

    def send(self, message: OutgoingEmail) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.sender:
            raise ConfigurationError("CINELIBRE_EMAIL_FROM (a verified SES sender address) is not set")
        try:
            self.client.send_email(
                Source=self.sender,
                Destination={"ToAddresses": [message.to]},
                Message={
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"}},
                },
            )
        except (BotoCoreError, ClientError) as exc:
            logger.error("email not sent", extra={"error": str(exc), "subject": message.subject})
            raise UpstreamError("the email could not be sent; try again later") from None


def email_sender_for(settings: Settings) -> EmailSender:
    if settings.email_sender_kind == "ses":
        if not settings.email_from:
            # Not fatal at start-up (sign-in and refresh need no email), but every send will fail until set.
            logger.error("CINELIBRE_EMAIL_FROM is not set: account emails cannot be sent")
        return SesEmailSender(settings.email_from, region=settings.ses_region)
    return OutboxEmailSender(settings.data_dir / "outbox", sender=settings.email_from or DEFAULT_LOCAL_SENDER)


def link(settings: Settings, path: str, token: str) -> str:
    """The link a message carries: the web app's page when configured, else the API route to POST to."""
    base = (settings.email_link_base_url or "").rstrip("/")
    if base:
        return f"{base}{path}?{urlencode({'token': token})}"
    return token


def confirmation_email(settings: Settings, to: str, token: str) -> OutgoingEmail:
    target = link(settings, "/verify", token)
    return OutgoingEmail(
        to=to,
        subject="Confirm your CineLibre email address",
        text=(
            "Welcome to CineLibre.\n\nTo confirm this address, open this link or send the token to "
            f"POST /auth/verify:\n\n{target}\n\nIt works once and expires in "
            f"{settings.email_confirmation_ttl_s // 3600} hours. If you did not sign up, ignore this email.\n"
        ),
    )


def already_registered_email(settings: Settings, to: str) -> OutgoingEmail:
    return OutgoingEmail(
        to=to,
        subject="Someone tried to sign up with your CineLibre address",
        text=(
            "Someone (perhaps you) tried to create a CineLibre account with this address, which already has "
            "one. No new account was made.\n\nIf it was you, sign in, or reset your password with "
            "POST /auth/password/forgot. If not, you can ignore this email.\n"
        ),
    )


def password_reset_email(settings: Settings, to: str, token: str) -> OutgoingEmail:
    target = link(settings, "/reset-password", token)
    return OutgoingEmail(
        to=to,
        subject="Reset your CineLibre password",
        text=(
            "To choose a new password, open this link or send the token with your new password to "
            f"POST /auth/password/reset:\n\n{target}\n\nIt works once and expires in "
            f"{max(1, settings.password_reset_ttl_s // 60)} minutes. Resetting signs you out everywhere. "
            "If you did not ask for this, ignore this email: your password stays as it is.\n"
        ),
    )
