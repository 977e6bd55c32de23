from __future__ import annotations

from pathlib import Path

import pytest

from cinelibre.api.lambda_handler import make_handler
from cinelibre.auth.email import OutboxEmailSender
from tests.api.clients import auth_client, make_user, password_hash, recommend_client, search_client  # noqa: F401
from tests.api.lambda_events import LambdaClient


class Outbox:
    """The local outbox adapter's folder, read back: each message as text."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.sender = OutboxEmailSender(directory)

    def messages(self) -> list[str]:
        if not self.directory.exists():
            return []
        return [path.read_text() for path in sorted(self.directory.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)]

    def token(self, index: int = -1) -> str:
        """The token in a message (the line after the one that introduces the link)."""
        text = self.messages()[index]
        lines = [line.strip() for line in text.splitlines()]
        return next(line for line in lines if len(line) == 43 and " " not in line)


@pytest.fixture
def outbox(tmp_path) -> Outbox:
    return Outbox(tmp_path / "outbox")


@pytest.fixture
def account_client(settings, db, lambda_context, outbox):
    """The auth function's handler with some settings changed, and the outbox as its email sender."""
    from cinelibre.api.auth import create_app

    def build(**overrides: object) -> LambdaClient:
        changed = settings.model_copy(update=overrides)
        return LambdaClient(make_handler(create_app(changed, email_sender=outbox.sender)), lambda_context)

    return build
