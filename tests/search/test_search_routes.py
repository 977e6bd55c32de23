"""GET /search/semantic and GET / through the search function's Lambda handler (real model, real DB)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.api.lambda_events import TEST_EVENTS_DIR, LambdaClient, invoke, load_event


def test_semantic_search_returns_ranked_results_without_vectors(search_client, search_catalog):
    response = search_client.get("/search/semantic", query={"q": "Bahubali", "limit": 5})
    assert response.status == 200
    body = response.json()
    assert (
        body["query"] == "Bahubali" and body["item_type"] == "all" and body["count"] == len(body["results"])
    )
    first = body["results"][0]
    assert first["title"] == "Baahubali: The Beginning"
    assert first["item_type"] == "movie" and first["item_id"] == search_catalog[("movie", first["title"])]
    assert first["language"] == "te" and first["director"] == "S. S. Rajamouli"
    assert first["image_url"].startswith("https://image.tmdb.org/")
    assert "title" in first["matched_by"]
    assert "embedding" not in response.text


def test_semantic_search_by_meaning_with_filters(search_client, search_catalog):
    response = search_client.get(
        "/search/semantic",
        query={
            "q": "a film lover outwits a police inspector to shield his family",
            "item_type": "movie",
            "language": "ml",
            "year_from": 2010,
            "year_to": 2020,
            "limit": 3,
        },
    )
    assert response.status == 200
    results = response.json()["results"]
    assert [r["title"] for r in results] == ["Drishyam"]
    assert results[0]["similarity"] >= 0.3


def test_books_only(search_client, search_catalog):
    body = search_client.get(
        "/search/semantic", query={"q": "desert planet empire", "item_type": "book", "limit": 3}
    ).json()
    assert body["results"][0]["title"] == "Dune"
    assert body["results"][0]["authors"] == ["Frank Herbert"]
    assert {r["item_type"] for r in body["results"]} == {"book"}


@pytest.mark.parametrize(
    "query, field",
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "ok", "limit": 51}, "limit"),
        ({"q": "ok", "limit": "ten"}, "limit"),
        ({"q": "ok", "threshold": 2}, "threshold"),
        ({"q": "ok", "item_type": "song"}, "item_type"),
        ({"q": "ok", "item_type": "book", "genre": "Drama"}, "genre"),
        ({"q": "ok", "item_type": "movie", "category": "Fiction"}, "category"),
        ({"q": "ok", "year_from": 2020, "year_to": 2000}, "year_from"),
        ({"q": "ok", "year_from": 99999}, "year_from"),
    ],
)
def test_bad_search_input_is_a_422_naming_the_field(search_client, query, field):
    response = search_client.get("/search/semantic", query=query)
    assert response.status == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in [detail["field"] for detail in error["details"]]


def test_search_through_an_api_gateway_http_api_event(search_client, search_catalog, lambda_context):
    response = invoke(
        search_client.handler, lambda_context, load_event(TEST_EVENTS_DIR / "http-api-search-semantic.json")
    )
    assert response.status == 200
    assert response.json()["results"][0]["title"] == "Baahubali: The Beginning"


def test_a_cookie_header_does_not_confuse_the_adapter(search_client, search_catalog):
    response = search_client.get(
        "/search/semantic", query={"q": "Dangal", "limit": 1}, headers={"cookie": "theme=dark"}
    )
    assert response.status == 200 and response.json()["results"][0]["title"] == "Dangal"


def test_search_emits_search_and_embedding_metrics(search_client, search_catalog, capsys):
    search_client.get("/search/semantic", query={"q": "space"})
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    flushed = {key for line in emf for key in line if not key.startswith("_")}
    assert {"Searches", "EmbeddingTime", "RequestLatency"} <= flushed


def test_readiness_reports_database_and_model(search_client, search_catalog):
    response = search_client.get("/")
    assert response.status == 200
    body = response.json()
    assert body["name"] == "cinelibre-search" and body["ready"] is True
    assert body["checks"]["database"]["movies"] == 14 and body["checks"]["database"]["books"] == 8
    assert body["checks"]["model"]["ok"] is True


class ThreadRecordingEmbedder:
    """The real embedder, noting whether each query was embedded on a thread that runs an event loop."""

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.on_event_loop: list[bool] = []

    def embed_query(self, text: str) -> list[float]:
        try:
            asyncio.get_running_loop()
            self.on_event_loop.append(True)
        except RuntimeError:
            self.on_event_loop.append(False)
        return self.embedder.embed_query(text)


SAME_ANSWER_QUERIES = [
    {"q": "Bahubali", "limit": 5},
    {"q": "a film lover outwits a police inspector", "language": "ml", "year_from": 2010},
    {"q": "desert planet empire", "item_type": "book", "limit": 3, "threshold": 0.2},
    {"q": "दृश्यम"},
    {"q": "   "},
]


def test_under_lambda_the_search_runs_on_the_invocation_thread_and_answers_as_the_local_server(
    settings, embedder, lambda_context, search_catalog
):
    """Issue 12, session 6: under Mangum (one invocation at a time) the route searches on the event loop's thread,
    with no worker thread started per request; elsewhere it keeps the loop free. Both answer the same."""
    from cinelibre.api.lambda_handler import make_handler
    from cinelibre.api.search import create_app, get_query_embedder

    app = create_app(settings)
    recording = ThreadRecordingEmbedder(embedder)

    async def recording_embedder() -> ThreadRecordingEmbedder:
        return recording

    app.dependency_overrides[get_query_embedder] = recording_embedder
    client = LambdaClient(make_handler(app), lambda_context)
    through_lambda = [client.get("/search/semantic", query=query) for query in SAME_ANSWER_QUERIES]
    assert recording.on_event_loop == [True] * 4  # the blank query is refused before it is embedded

    async def through_asgi() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://search.test") as asgi:
            return [await asgi.get("/search/semantic", params=query) for query in SAME_ANSWER_QUERIES]

    recording.on_event_loop.clear()
    through_server = asyncio.run(through_asgi())
    assert recording.on_event_loop == [False] * 4
    assert [(r.status, r.json()) for r in through_lambda] == [(r.status_code, r.json()) for r in through_server]
    assert [r.status for r in through_lambda] == [200, 200, 200, 200, 422]
