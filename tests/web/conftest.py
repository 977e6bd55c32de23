"""The web app in a real browser: Debian's Chromium driven by Playwright for Python (never a downloaded
browser build), against the session's `cinelibre serve` with the demo catalog."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.demo_server import REPO, DemoServer

CHROMIUM = Path(os.environ.get("CINELIBRE_CHROMIUM", "/usr/bin/chromium"))
# As root in a container: no sandbox; and no calls home, which this machine's closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = REPO / "docs" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "a long passphrase"
# Two shared cores: a search embeds its query and a rating recomputes recommendations, so allow for a busy machine.
expect.set_options(timeout=15000)


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium (as root); "
                    "without root, run `apt-get install chromium fonts-noto-core` first")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def app_url(request) -> str:
    """The server's base URL. CINELIBRE_TEST_SERVE_URL points the browser tests at a `cinelibre serve` already
    running (quicker while working on the app); otherwise the session's own demo server."""
    if url := os.environ.get("CINELIBRE_TEST_SERVE_URL"):
        return url.rstrip("/")
    server: DemoServer = request.getfixturevalue("demo_server")
    return server.base


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport=DESKTOP, base_url=app_url, locale="en-GB")
    context.set_default_timeout(15000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    # The page runs under the Content-Security-Policy it gets in production: nothing may break it.
    tab.on("console", lambda message: "Content Security Policy" in message.text and errors.append(message.text))
    yield tab
    context.close()
    assert not errors, f"errors in the page: {errors}"


@pytest.fixture
def phone_page(browser, app_url):
    context = browser.new_context(viewport=PHONE, base_url=app_url, locale="en-GB", is_mobile=True, has_touch=True)
    context.set_default_timeout(15000)
    tab = context.new_page()
    yield tab
    context.close()


def new_email() -> str:
    return f"web-{uuid.uuid4().hex[:12]}@example.com"


def register(app_url: str, name: str = "Web Tester") -> dict:
    """An account made through the API, for tests whose subject is not signing up."""
    response = httpx.post(f"{app_url}/auth/register", json={"email": new_email(), "password": PASSWORD, "name": name},
                          timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def screenshot(tab, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=SCREENSHOTS / f"{name}.png")


@pytest.fixture
def signed_in(page, app_url) -> Iterator[dict]:
    """A page whose user signed in through the sign-in form."""
    account = register(app_url)
    page.goto("/#/signin")
    page.get_by_label("Email").fill(account["user"]["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("heading", name="For you", level=1).wait_for()
    yield account
