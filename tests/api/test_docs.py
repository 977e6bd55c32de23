"""docs/api.md documents every route the functions serve, and no route they do not."""

from __future__ import annotations

import re

from tests.api.lambda_events import REPO_ROOT

DOC = REPO_ROOT / "docs" / "api.md"


def test_every_route_is_documented_and_every_documented_route_exists(settings):
    from cinelibre.api.local import create_local_app

    paths = create_local_app(settings).openapi()["paths"]
    served = {(method.upper(), path) for path, operations in paths.items() for method in operations}
    documented = set(
        re.findall(r"^#+ .*`(GET|POST|DELETE|PUT|PATCH) (/[^`]*)`", DOC.read_text(), re.MULTILINE)
    )
    assert documented == served


def test_the_documented_limits_are_the_enforced_ones():
    from cinelibre.api.schemas import MAX_OFFSET, MAX_PAGE_SIZE
    from cinelibre.search import MAX_QUERY_LENGTH, MAX_RESULTS

    text = DOC.read_text()
    assert f"search `limit` 1-{MAX_RESULTS}" in text
    assert f"list `limit` 1-{MAX_PAGE_SIZE}" in text and f"`offset` 0-{MAX_OFFSET:,}" in text
    assert f"search `q` 1-{MAX_QUERY_LENGTH} characters" in text
