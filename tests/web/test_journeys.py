"""What a person does with the web app, in headless Chromium against the real server and the demo catalog:
sign up, search, open an item, rate, watch "For you" follow, edit and delete a rating, sign out; and the
unhappy paths (nothing found, an expired session, a failed request) each leave a way forward."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import httpx
import jwt
import pytest
from playwright.sync_api import Page, expect

from cinelibre.db import embedded
from cinelibre.settings import DEVELOPMENT_JWT_SECRET, Settings
from tests.web.conftest import PASSWORD, new_email, register, screenshot


def search(page: Page, words: str) -> None:
    box = page.get_by_role("searchbox", name="Search")
    if not box.is_visible():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    box.fill(words)
    box.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Results for “{words}”")


def open_result(page: Page, title: str) -> None:
    page.locator(".card").filter(has=page.get_by_role("heading", name=title, exact=True)).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)


def rate_with_mouse(page: Page, stars: float, scope=None) -> None:
    (scope or page).locator(f"label[title='{stars:g} of 5']").click()
    (scope or page).get_by_role("button", name="Save rating").click()
    expect((scope or page).locator(".rate-status")).to_have_text(f"Saved: {stars:g} / 5.")


def stored_session(page: Page) -> dict:
    return json.loads(page.evaluate("localStorage.getItem('cinelibre.session')") or "null")


def for_you_reasons(page: Page) -> list[str]:
    return page.locator(".after-rating .reason").all_inner_texts()


def test_a_visitor_sees_popular_titles_and_the_search_form(page: Page):
    page.goto("/")
    expect(page.get_by_role("heading", name="Find films and books", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="Popular now")).to_be_visible()
    popular = page.locator(".card")
    expect(popular).to_have_count(8)
    expect(popular.first.locator(".reason")).to_contain_text("rated")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    screenshot(page, "desktop-home")


def test_sign_up_search_rate_and_see_for_you_follow(page: Page, app_url: str):
    page.goto("/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Name").fill("Asha")
    page.get_by_label("Email").fill(new_email())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # A new account: "For you" is the popularity list until the first rating.
    expect(page.get_by_role("heading", name="For you", level=1)).to_be_visible()
    expect(page.locator("main .method-name").first).to_have_attribute("data-method", "popularity")
    expect(page.get_by_role("button", name="Sign out Asha")).to_be_visible()

    search(page, "Sholay")
    open_result(page, "Sholay")
    expect(page.get_by_role("heading", name="More films like this")).to_be_visible()
    expect(page.locator("section[aria-labelledby=other-kind] .card").first).to_contain_text("Book")
    rate_with_mouse(page, 4.5)
    # The recommendations move at once: what the user just rated is now the reason.
    expect(page.get_by_role("heading", name="For you now")).to_be_visible()
    expect(page.locator(".after-rating .method-name").first).to_have_attribute("data-method", "content_based")
    assert any("Sholay" in reason for reason in for_you_reasons(page)), for_you_reasons(page)
    screenshot(page, "desktop-item-rated")

    search(page, "Satya")
    open_result(page, "Satya")
    rate_with_mouse(page, 4)
    expect(page.get_by_role("heading", name="For you now")).to_be_visible()

    search(page, "The God of Small Things")
    expect(page.locator(".card").first).to_be_visible()
    screenshot(page, "desktop-search")
    open_result(page, "The God of Small Things")
    rate_with_mouse(page, 5)
    expect(page.locator(".after-rating .card")).to_have_count(4)
    expect(page.locator(".after-rating")).to_contain_text("(3 ratings)")

    page.get_by_role("link", name="For you", exact=True).click()
    expect(page.get_by_role("heading", name="For you", level=1)).to_be_visible()
    expect(page.locator("main .card")).to_have_count(12)
    reasons = page.locator("main .card .reason").all_inner_texts()
    assert all(reasons) and len(reasons) == 12
    rated = ("Sholay", "Satya", "The God of Small Things")
    assert any(title in reason for reason in reasons for title in rated), reasons
    methods = page.locator("main .card .method-name").evaluate_all("nodes => nodes.map(n => n.dataset.method)")
    # Three liked titles the demo's trained model knows: the model (issue 9) chooses, and says so on each card;
    # only the last place may go to a title the model cannot know yet, chosen by content and named so.
    assert set(methods[:-1]) == {"ease"} and methods[-1] in {"ease", "content_based"}, methods
    if methods[-1] == "content_based":
        assert reasons[-1].lower().startswith("new here, and close in content to "), reasons[-1]
    screenshot(page, "desktop-for-you")

    # Edit one rating and delete another from "My ratings".
    page.get_by_role("link", name="My ratings").click()
    expect(page.get_by_text("3 ratings, newest first.")).to_be_visible()
    satya = page.locator(".rating-row").filter(has=page.get_by_role("link", name="Satya", exact=True))
    expect(satya.locator(".rate-value")).to_have_text("4 / 5")
    rate_with_mouse(page, 2.5, scope=satya)
    page.get_by_role("button", name="Delete rating of The God of Small Things").click()
    expect(page.locator(".rating-row")).to_have_count(2)
    expect(page.locator("#notice")).to_have_text("Deleted your rating of The God of Small Things.")
    screenshot(page, "desktop-my-ratings")

    token = stored_session(page)["accessToken"]
    saved = httpx.get(f"{app_url}/ratings/my", headers={"authorization": f"Bearer {token}"}, timeout=10).json()
    assert {item["title"]: item["rating"] for item in saved["items"]} == {"Satya": 2.5, "Sholay": 4.5}
    page.reload()
    expect(page.get_by_text("2 ratings, newest first.")).to_be_visible()

    page.get_by_role("button", name="Sign out Asha").click()
    expect(page.locator("#notice")).to_have_text("You are signed out.")
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    assert stored_session(page) is None


def test_keyboard_alone_searches_opens_and_rates(page: Page, signed_in: dict):
    page.goto("/#/")
    page.reload()
    page.get_by_role("heading", name="For you", level=2).wait_for()
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("searchbox", name="Search")).to_be_focused()
    page.keyboard.type("Mother India")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Results for “Mother India”")
    expect(page.get_by_role("heading", level=1)).to_be_focused()
    # Tab onwards from the heading until the first result card has focus, then open it with Enter.
    first_card = page.locator(".card a").first
    for _ in range(15):
        page.keyboard.press("Tab")
        if first_card.evaluate("node => node === document.activeElement"):
            break
    expect(first_card).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mother India")
    # Into the stars (a radio group): the first Tab lands on 0.5, each arrow adds half a star.
    expect(page.locator(".rate-value")).to_have_text("not rated")  # the user's ratings have been looked up
    page.get_by_role("heading", level=1).focus()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "radio":
            break
    for _ in range(7):
        page.keyboard.press("ArrowRight")
    expect(page.locator(".rate-value")).to_have_text("4 / 5")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Save rating")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator(".rate-status")).to_have_text("Saved: 4 / 5.")


def test_a_search_that_finds_nothing_says_so_and_keeps_the_query(page: Page):
    page.goto("/#/search?q=qwxz+vvbn+plmk&item_type=movie&language=kn&year_from=1800&year_to=1801")
    expect(page.get_by_role("heading", name="No results", level=2)).to_be_visible()
    expect(page.locator(".empty")).to_contain_text("Nothing in the catalog matches “qwxz vvbn plmk”")
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("qwxz vvbn plmk")
    expect(page.get_by_label("Language")).to_have_value("kn")
    expect(page.get_by_label("From year")).to_have_value("1800")


def _expired_token(user_id: str) -> str:
    """A token the server really issued the shape of, signed with the development key, expired an hour ago."""
    settings = Settings()
    now = int(time.time())
    claims = {"sub": user_id, "iat": now - 7200, "exp": now - 3600, "iss": settings.jwt_issuer,
              "aud": settings.jwt_audience, "jti": "expired-in-test"}
    return jwt.encode(claims, DEVELOPMENT_JWT_SECRET, algorithm="HS256")


def test_an_expired_session_asks_to_sign_in_again_and_keeps_the_unsaved_rating(page: Page, app_url: str):
    account = register(app_url, name="Ravi")
    expired = {"accessToken": _expired_token(account["user"]["id"]),
               # A refresh token the server will refuse, so the app cannot quietly renew the session.
               "refreshToken": "refused-in-test", "user": account["user"]}
    page.goto("/")
    expect(page.get_by_role("heading", name="Popular now")).to_be_visible()  # the app has started as a visitor
    page.evaluate("session => localStorage.setItem('cinelibre.session', JSON.stringify(session))", expired)
    movie = httpx.get(f"{app_url}/movies", params={"language": "ml", "limit": 1}, timeout=10).json()["items"][0]
    page.goto(f"/#/movie/{movie['id']}")
    expect(page.get_by_role("alert")).to_contain_text("Your session has expired")
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()  # the menu shows a visitor again
    assert stored_session(page) is None

    # Sign in again from the link; the app returns to the same film.
    page.get_by_role("link", name="Sign in again").first.click()
    page.get_by_label("Email").fill(account["user"]["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(movie["title"])
    page.locator("label[title='3.5 of 5']").click()

    # The session expires again before Save: the choice stays, and is still there after signing in again.
    session = stored_session(page)
    page.evaluate("session => localStorage.setItem('cinelibre.session', JSON.stringify(session))",
                  session | {"accessToken": _expired_token(account["user"]["id"]), "refreshToken": "refused-in-test"})
    page.get_by_role("button", name="Save rating").click()
    expect(page.locator(".rate-status")).to_contain_text("Your session has expired")
    expect(page.locator(".rate-value")).to_have_text("3.5 / 5")
    page.locator(".rate-status").get_by_role("link", name="Sign in again").click()
    page.get_by_label("Email").fill(account["user"]["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(movie["title"])
    expect(page.locator(".rate-status")).to_have_text("Not saved yet.")
    expect(page.locator(".rate-value")).to_have_text("3.5 / 5")
    page.get_by_role("button", name="Save rating").click()
    expect(page.locator(".rate-status")).to_have_text("Saved: 3.5 / 5.")


def test_a_lost_network_and_a_rate_limit_offer_a_retry_and_keep_the_query(page: Page):
    page.goto("/")
    page.route("**/search/semantic**", lambda route: route.abort("internetdisconnected"))
    search(page, "monsoon romance")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Can't reach CineLibre")
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("monsoon romance")

    page.unroute("**/search/semantic**")
    page.route("**/search/semantic**", lambda route: route.fulfill(
        status=429, headers={"retry-after": "2", "content-type": "application/json"},
        body=json.dumps({"error": {"code": "rate_limited", "message": "too many requests"},
                         "detail": "too many requests"})))
    alert.get_by_role("button", name="Try again").click()
    expect(alert).to_contain_text("Too many requests. Please try again in 2 seconds.")
    expect(alert.get_by_role("button")).to_be_disabled()

    page.unroute("**/search/semantic**")
    expect(alert.get_by_role("button", name="Try again")).to_be_enabled(timeout=5000)
    alert.get_by_role("button", name="Try again").click()
    expect(page.locator(".card").first).to_be_visible()
    expect(page.get_by_role("heading", level=2)).to_have_text(re.compile(r"\d+ results?"))


def test_a_stopped_database_shows_a_retry_path_that_works_once_it_is_back(page: Page, request):
    """The real thing: the server's embedded PostgreSQL is stopped under the open page, then started again."""
    if os.environ.get("CINELIBRE_TEST_SERVE_URL"):
        pytest.skip("needs the session's own server, whose database this test may stop")
    data_dir = Path(request.getfixturevalue("demo_server").env["CINELIBRE_DATA_DIR"])
    page.goto("/")
    expect(page.locator(".card").first).to_be_visible()
    embedded.stop(data_dir)
    try:
        search(page, "a village in the monsoon")
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("CineLibre's database isn't answering right now")
        expect(page.get_by_role("searchbox", name="Search")).to_have_value("a village in the monsoon")
    finally:
        embedded.start(data_dir)
    # The server's connection pool backs off while it reconnects, so a person may need to try more than once.
    for _ in range(10):
        page.get_by_role("alert").get_by_role("button", name="Try again").click()
        expect(page.locator(".results .loading")).to_have_count(0)
        if page.locator(".card").count():
            break
        page.wait_for_timeout(2000)
    expect(page.locator(".card").first).to_be_visible()


def test_account_errors_explain_themselves_and_keep_what_was_typed(page: Page, app_url: str):
    account = register(app_url, name="Kiran")
    email = account["user"]["email"]
    page.goto("/#/signup")
    page.get_by_label("Name").fill("Kiran again")
    page.get_by_label("Email").fill(email.upper())  # the same address after normalisation
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("An account with this email already exists.")
    expect(page.get_by_role("alert").get_by_role("link", name="Sign in instead")).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Kiran again")

    page.get_by_label("Password").fill("short")
    page.get_by_label("Email").fill(f"new-{email}")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check the password")
    # The API's own reason for the field (its schema says minLength 8, issue 10), read out with the field.
    expect(page.get_by_label("Password")).to_have_accessible_description("String should have at least 8 characters")

    page.goto("/#/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the passphrase")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong email or password.")
    expect(page.get_by_label("Email")).to_have_value(email)
