"""The app as deployed: its files on one origin (S3 + CloudFront in AWS; a plain static file server here) and
the three functions on others, found through config.json and reached across origins under the functions'
CORS allowlist. Nothing is rebuilt: only config.json differs."""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.demo_server import REPO, DemoServer
from tests.web.conftest import DESKTOP, PASSWORD, new_email


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture
def static_site(request, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if os.environ.get("CINELIBRE_TEST_SERVE_URL"):
        pytest.skip("needs the session's own server, whose CORS allowlist names the static site's origin")
    server: DemoServer = request.getfixturevalue("demo_server")
    site = tmp_path / "site"
    shutil.copytree(REPO / "web", site)
    # As docs/deploy.md writes it: one URL per function (Function URLs end with a slash).
    (site / "config.json").write_text(json.dumps({"api": {name: f"{server.base}/"
                                                          for name in ("auth", "search", "recommend")}}))
    port = urlsplit(server.other_origin).port
    httpd = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_QuietFiles, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.other_origin, server.base
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_app_on_its_own_origin_uses_the_function_urls_from_config_json(browser, static_site):
    site, api = static_site
    context = browser.new_context(viewport=DESKTOP, base_url=site)
    page = context.new_page()
    api_calls: list[str] = []
    page.on("request", lambda request: request.resource_type == "fetch" and api_calls.append(request.url))
    try:
        page.goto("/")
        expect(page.locator(".card")).to_have_count(8)  # popular titles, from the API's origin

        page.get_by_role("link", name="Sign up").click()
        page.get_by_label("Name").fill("Farah")
        page.get_by_label("Email").fill(new_email())
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", name="For you", level=1)).to_be_visible()

        page.goto("/#/search?q=Pather+Panchali&item_type=movie")
        page.locator(".card").first.click()
        page.locator("label[title='5 of 5']").click()
        page.get_by_role("button", name="Save rating").click()  # a bearer token across origins
        expect(page.locator(".rate-status")).to_have_text("Saved: 5 / 5.")

        page.goto("/#/ratings")
        page.get_by_role("button", name="Delete rating of Pather Panchali").click()  # DELETE across origins
        expect(page.locator("#notice")).to_have_text("Deleted your rating of Pather Panchali.")
    finally:
        context.close()
    data_calls = [url for url in api_calls if not url.endswith("/config.json")]
    assert data_calls and all(url.startswith(f"{api}/") for url in data_calls), data_calls
    assert "//" not in urlsplit(data_calls[0]).path  # the trailing slash of a Function URL is trimmed
