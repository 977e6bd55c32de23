"""How the app looks and who can use it: Indian scripts drawn with the shipped Noto fonts, a phone-width
layout without sideways scrolling, axe-core finding no serious or critical accessibility violation, and the
screenshots the README shows."""

from __future__ import annotations

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.web.conftest import PASSWORD, register, screenshot

SCRIPTS = {"hi": "Devanagari", "bn": "Bengali", "ta": "Tamil", "te": "Telugu", "kn": "Kannada", "ml": "Malayalam"}
BLOCKING_IMPACTS = {"serious", "critical"}


def first_movie_with_native_title(app_url: str, language: str) -> dict:
    listed = httpx.get(f"{app_url}/movies", params={"language": language, "limit": 10}, timeout=10).json()["items"]
    for movie in listed:
        detail = httpx.get(f"{app_url}/movies/{movie['id']}", timeout=10).json()
        if detail["original_title"] != detail["title"]:
            return detail
    pytest.fail(f"no {language} film with a title in its own script in the demo catalog")


@pytest.mark.parametrize(("language", "script"), SCRIPTS.items())
def test_indian_scripts_are_drawn_with_the_shipped_noto_fonts(page: Page, app_url: str, language: str, script: str):
    movie = first_movie_with_native_title(app_url, language)
    page.goto(f"/#/movie/{movie['id']}")
    original = page.locator("p.original")
    expect(original).to_have_text(movie["original_title"])
    expect(original).to_have_attribute("lang", language)
    # The page's own font file for this script was fetched and is in use: no system font needed, no boxes.
    page.evaluate("document.fonts.ready")
    faces = page.evaluate(
        "family => [...document.fonts].filter(face => face.family.replaceAll('\"', '') === family)"
        ".map(face => face.status)", f"Noto Sans {script}")
    assert faces == ["loaded"], faces
    assert page.evaluate("([family, text]) => document.fonts.check(`16px '${family}'`, text)",
                         [f"Noto Sans {script}", movie["original_title"]])
    if language == "te":
        screenshot(page, "desktop-item-telugu")


def test_phone_width_layout_and_screenshots(phone_page: Page, app_url: str):
    page = phone_page
    page.goto("/")
    expect(page.locator(".card")).to_have_count(8)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone-home")

    page.get_by_role("searchbox", name="Search").fill("a haunted house that terrifies a family")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".card").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone-search")

    movie = first_movie_with_native_title(app_url, "ta")
    page.goto(f"/#/movie/{movie['id']}")
    expect(page.get_by_role("heading", name="More films like this")).to_be_visible()
    expect(page.locator("section[aria-labelledby=other-kind] .card").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "phone-item")


def violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} at "
        f"{[node['target'] for node in violation['nodes']][:3]}"
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def test_axe_finds_no_serious_or_critical_violations(page: Page, app_url: str):
    checked: dict[str, list[str]] = {}
    page.goto("/")
    expect(page.locator(".card")).to_have_count(8)
    checked["home"] = violations(page)
    page.goto("/#/search?q=monsoon&item_type=movie&language=ml")
    expect(page.get_by_role("heading", level=2)).to_be_visible()
    checked["search"] = violations(page)
    page.goto("/#/search?q=qwxz+vvbn&year_from=1800&year_to=1801")
    expect(page.get_by_role("heading", name="No results")).to_be_visible()
    checked["no results"] = violations(page)

    account = register(app_url, name="Meera")
    page.goto("/#/signin")
    checked["sign in"] = violations(page)
    page.get_by_label("Email").fill(account["user"]["email"])
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("main .card").first).to_be_visible()
    checked["for you"] = violations(page)

    movie = first_movie_with_native_title(app_url, "kn")
    page.goto(f"/#/movie/{movie['id']}")
    page.locator("label[title='4 of 5']").click()
    page.get_by_role("button", name="Save rating").click()
    expect(page.get_by_role("heading", name="For you now")).to_be_visible()
    checked["item, rated"] = violations(page)
    page.goto("/#/ratings")
    expect(page.locator(".rating-row")).to_have_count(1)
    checked["my ratings"] = violations(page)

    failing = {name: found for name, found in checked.items() if found}
    assert not failing, failing
